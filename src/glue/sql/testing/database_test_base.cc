#include "glue/sql/testing/database_test_base.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "glue/sql/deferred_rows.h"
#include "glue/sql/locks.h"

namespace tandem::sql {

Status DatabaseTestBase::Exec(const std::string& sql, const std::vector<Value>& params) {
  return db_->WithTransaction([&](Transaction& tx) { return tx.Exec(sql, params).status(); });
}

StatusOr<std::vector<Row>> DatabaseTestBase::Query(const std::string& sql,
                                                   const std::vector<Value>& params) {
  std::vector<Row> out;
  Status st = db_->Read([&](Transaction& tx) -> Status {
    ASSIGN_OR_RETURN(out, tx.Query(sql, params));
    return OkStatus();
  });
  if (!st.ok()) return st;
  return out;
}

Status DatabaseTestBase::MakeCounter() {
  RETURN_IF_ERROR(Exec("CREATE TABLE counter (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)"));
  return Exec("INSERT INTO counter (id, n) VALUES (1, 0)");
}

Status DatabaseTestBase::Increment(Database& db) {
  return db.WithTransaction([](Transaction& tx) -> Status {
    ASSIGN_OR_RETURN(Row r, tx.QueryOne("SELECT n FROM counter WHERE id = 1"));
    return tx.Exec("UPDATE counter SET n = ? WHERE id = 1", {r.Int(0) + 1}).status();
  });
}

int64_t DatabaseTestBase::Counter() {
  auto rows = Query("SELECT n FROM counter WHERE id = 1");
  EXPECT_TRUE(rows.ok()) << rows.status();
  return rows.ok() && !rows->empty() ? (*rows)[0].Int(0) : -1;
}

void DatabaseTestBase::RunMigrationsAreOrderedAndIdempotent() {
  std::vector<Migration> ms = {
      {2, "add_col", "ALTER TABLE m ADD COLUMN b TEXT; INSERT INTO m (a, b) VALUES (2, 'x');"},
      {1, "create",
       "CREATE TABLE m (a INTEGER);\n-- comment; with semicolon\nINSERT INTO m (a) "
       "VALUES (1)"},
  };
  ASSERT_TRUE(db_->Migrate("comp", ms).ok());
  ASSERT_TRUE(db_->Migrate("comp", ms).ok());  // no-op
  auto rows = Query("SELECT a, b FROM m ORDER BY a");
  ASSERT_TRUE(rows.ok()) << rows.status();
  ASSERT_EQ(rows->size(), 2u);
  EXPECT_TRUE((*rows)[0].IsNull(1));
  EXPECT_EQ((*rows)[1].Text(1), "x");
  auto applied = Query(
      "SELECT version, name FROM schema_migrations WHERE component = 'comp' "
      "ORDER BY version");
  ASSERT_TRUE(applied.ok());
  ASSERT_EQ(applied->size(), 2u);
  EXPECT_EQ((*applied)[1].Text(1), "add_col");
  // A later migration is applied on top; a broken one leaves nothing behind.
  ms.push_back({3, "broken", "INSERT INTO m (a) VALUES (3); SELEC oops"});
  Status st = db_->Migrate("comp", ms);
  EXPECT_EQ(st.code(), StatusCode::kInternal);
  EXPECT_NE(std::string(st.message()).find("comp/3"), std::string::npos) << st;
  rows = Query("SELECT COUNT(*) FROM m");
  EXPECT_EQ((*rows)[0].Int(0), 2);
  // Other components are independent; duplicate versions are rejected.
  EXPECT_TRUE(db_->Migrate("other", {{1, "x", "CREATE TABLE o (a INTEGER)"}}).ok());
  EXPECT_EQ(db_->Migrate("dup", {{1, "a", "SELECT 1"}, {1, "b", "SELECT 1"}}).code(),
            StatusCode::kInvalidArgument);
}

void DatabaseTestBase::RunConcurrentMigrationsApplyOnce() {
  std::vector<Migration> ms = {{1, "create", "CREATE TABLE m (a INTEGER)"},
                               {2, "seed", "INSERT INTO m (a) VALUES (1)"}};
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&] {
      auto db = Database::Open(uri_);
      if (!db.ok() || !(*db)->Migrate("race", ms).ok()) failures++;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  auto rows = Query("SELECT COUNT(*) FROM m");
  ASSERT_TRUE(rows.ok());
  EXPECT_EQ((*rows)[0].Int(0), 1);
}

void DatabaseTestBase::RunThreadsIncrementExactly() {
  ASSERT_TRUE(MakeCounter().ok());
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 100; ++i) {
        if (!Increment(*db_).ok()) failures++;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(Counter(), 400);
}

void DatabaseTestBase::RunTwoProcessesIncrementExactly() {
  ASSERT_TRUE(MakeCounter().ok());
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    // Child: its own connection; exit code reports failures.
    auto db = Database::Open(uri_);
    if (!db.ok()) _exit(2);
    int failed = 0;
    for (int i = 0; i < 200; ++i) failed += Increment(**db).ok() ? 0 : 1;
    _exit(failed == 0 ? 0 : 1);
  }
  int failed = 0;
  for (int i = 0; i < 200; ++i) failed += Increment(*db_).ok() ? 0 : 1;
  int wstatus = 0;
  ASSERT_EQ(waitpid(pid, &wstatus, 0), pid);
  ASSERT_TRUE(WIFEXITED(wstatus));
  EXPECT_EQ(WEXITSTATUS(wstatus), 0);
  EXPECT_EQ(failed, 0);
  EXPECT_EQ(Counter(), 400);
}

void DatabaseTestBase::RunHeldLocks() {
  auto held = [&](const std::string& key) {
    auto h = LockHeld(*db_, key);
    EXPECT_TRUE(h.ok()) << h.status();
    EXPECT_TRUE(h.ok() && h->has_value());
    return h.ok() && h->has_value() && **h;
  };
  EXPECT_FALSE(held("owner:a"));
  auto a = HoldLock(*db_, "owner:a", /*wait=*/false);
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_NE(*a, nullptr);
  EXPECT_TRUE((*a)->Check().ok());
  EXPECT_TRUE(held("owner:a"));
  EXPECT_FALSE(held("owner:b"));
  // Exclusive, within one process too; a refused attempt takes nothing.
  auto again = HoldLock(*db_, "owner:a", /*wait=*/false);
  EXPECT_EQ(again.status().code(), StatusCode::kUnavailable) << again.status();
  EXPECT_NE(std::string(again.status().message()).find("owner:a"), std::string::npos);
  // A waiter gets it once the holder lets go.
  std::atomic<bool> got{false};
  std::thread waiter([&] {
    auto w = HoldLock(*db_, "owner:a", /*wait=*/true);
    EXPECT_TRUE(w.ok()) << w.status();
    got = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_FALSE(got.load());
  a->reset();
  waiter.join();
  EXPECT_TRUE(got.load());
  EXPECT_FALSE(held("owner:a"));

  // Another process holds it until it is killed.
  int ready[2];
  ASSERT_EQ(pipe(ready), 0);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    close(ready[0]);
    auto db = Database::Open(uri_);
    if (!db.ok()) _exit(2);
    auto lock = HoldLock(**db, "owner:a", /*wait=*/false);
    if (!lock.ok() || *lock == nullptr) _exit(3);
    if (write(ready[1], "x", 1) != 1) _exit(4);
    for (;;) pause();
  }
  close(ready[1]);
  char c = 0;
  ASSERT_EQ(read(ready[0], &c, 1), 1);
  close(ready[0]);
  EXPECT_TRUE(held("owner:a"));
  EXPECT_EQ(HoldLock(*db_, "owner:a", false).status().code(), StatusCode::kUnavailable);
  kill(pid, SIGKILL);
  int wstatus = 0;
  ASSERT_EQ(waitpid(pid, &wstatus, 0), pid);
  // The server notices the closed socket at once (allow it a few seconds).
  bool released = false;
  for (int i = 0; i < 500 && !released; ++i) {
    released = !held("owner:a");
    if (!released) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_TRUE(released);
  auto mine = HoldLock(*db_, "owner:a", false);
  EXPECT_TRUE(mine.ok()) << mine.status();
}

void DatabaseTestBase::RunDeferredStatements() {
  ASSERT_TRUE(Exec("CREATE TABLE d (k TEXT PRIMARY KEY, v INTEGER NOT NULL)").ok());
  auto keys = [&]() -> std::string {
    auto rows = Query("SELECT k FROM d ORDER BY k");
    EXPECT_TRUE(rows.ok()) << rows.status();
    std::string out;
    for (const Row& r : rows.ok() ? *rows : std::vector<Row>{}) out += r.Text(0);
    return out;
  };
  const std::string ins = "INSERT INTO d (k, v) VALUES (?, ?)";
  // Deferred statements run before the next one, in order, and commit.
  int64_t seen = -1;
  Status st = db_->WithKeyedTransaction("d", [&](Transaction& tx) -> Status {
    RETURN_IF_ERROR(tx.ExecDeferred(ins, {std::string("a"), int64_t{1}}));
    RETURN_IF_ERROR(tx.ExecDeferred("UPDATE d SET v = v + 1 WHERE k = ?", {std::string("a")}));
    RETURN_IF_ERROR(tx.ExecDeferred(ins, {std::string("b"), int64_t{1}}));
    ASSIGN_OR_RETURN(Row r, tx.QueryOne("SELECT SUM(v) FROM d"));
    seen = r.Int(0);
    return tx.ExecDeferred(ins, {std::string("c"), int64_t{1}});  // goes with the COMMIT
  });
  ASSERT_TRUE(st.ok()) << st;
  EXPECT_EQ(seen, 3);
  EXPECT_EQ(keys(), "abc");

  // A deferred failure fails that statement (run at once) or the next one;
  // nothing of the transaction stays.
  bool failed_inside = false;
  st = db_->WithKeyedTransaction("d", [&](Transaction& tx) -> Status {
    RETURN_IF_ERROR(tx.ExecDeferred(ins, {std::string("d"), int64_t{1}}));
    Status dup = tx.ExecDeferred(ins, {std::string("a"), int64_t{1}});  // duplicate
    if (!dup.ok()) {
      failed_inside = true;
      return dup;
    }
    auto n = tx.Exec("UPDATE d SET v = 0");
    failed_inside = !n.ok();
    return n.status();
  });
  EXPECT_EQ(st.code(), StatusCode::kAlreadyExists) << st;
  EXPECT_TRUE(failed_inside);
  EXPECT_EQ(keys(), "abc");

  // A deferred failure at the end fails the commit.
  st = db_->WithKeyedTransaction("d", [&](Transaction& tx) -> Status {
    RETURN_IF_ERROR(tx.ExecDeferred(ins, {std::string("e"), int64_t{1}}));
    return tx.ExecDeferred(ins, {std::string("b"), int64_t{1}});  // duplicate
  });
  EXPECT_EQ(st.code(), StatusCode::kAlreadyExists) << st;
  EXPECT_EQ(keys(), "abc");

  // A wrong parameter count is refused at once; the transaction goes on.
  st = db_->WithTransaction([&](Transaction& tx) -> Status {
    Status bad = tx.ExecDeferred(ins, {std::string("f")});
    EXPECT_EQ(bad.code(), StatusCode::kInvalidArgument) << bad;
    return tx.ExecDeferred(ins, {std::string("g"), int64_t{1}});
  });
  EXPECT_TRUE(st.ok()) << st;
  EXPECT_EQ(keys(), "abcg");
}

void DatabaseTestBase::RunDeferredRows() {
  ASSERT_TRUE(
      Exec("CREATE TABLE r (i INTEGER PRIMARY KEY, t TEXT NOT NULL, s INTEGER NOT NULL)").ok());
  const std::string ins = "INSERT INTO r (i, t, s)";
  // 100 rows (statements of 64, 32 and 4 rows), each with the row count
  // seen before it was inserted, to show the order.
  auto rows_from = [](int64_t first, int64_t n) {
    std::vector<Value> v;
    for (int64_t i = first; i < first + n; ++i) {
      v.insert(v.end(), {i, "row " + std::to_string(i), i - first});
    }
    return v;
  };
  int64_t seen = -1;
  Status st = db_->WithKeyedTransaction("r", [&](Transaction& tx) -> Status {
    RETURN_IF_ERROR(ExecDeferredRows(tx, ins, 3, rows_from(0, 100)));
    RETURN_IF_ERROR(ExecDeferredRows(tx, ins, 3, {}));  // no rows: nothing
    ASSIGN_OR_RETURN(Row r, tx.QueryOne("SELECT COUNT(*) FROM r"));
    seen = r.Int(0);
    return ExecDeferredRows(tx, ins, 3, rows_from(100, 3));  // goes with the COMMIT
  });
  ASSERT_TRUE(st.ok()) << st;
  EXPECT_EQ(seen, 100);
  auto all = Query("SELECT i, t, s FROM r ORDER BY i");
  ASSERT_TRUE(all.ok()) << all.status();
  ASSERT_EQ(all->size(), 103u);
  for (int64_t i = 0; i < 103; ++i) {
    const Row& r = (*all)[static_cast<size_t>(i)];
    EXPECT_EQ(r.Int(0), i);
    EXPECT_EQ(r.Text(1), "row " + std::to_string(i));
    EXPECT_EQ(r.Int(2), i < 100 ? i : i - 100);
  }
  // One duplicate among new rows: nothing of the transaction stays.
  std::vector<Value> dup = rows_from(200, 5);
  dup[3 * 4] = int64_t{7};  // the last row's key is taken
  st = db_->WithKeyedTransaction(
      "r", [&](Transaction& tx) -> Status { return ExecDeferredRows(tx, ins, 3, dup); });
  EXPECT_EQ(st.code(), StatusCode::kAlreadyExists) << st;
  auto count = Query("SELECT COUNT(*) FROM r");
  ASSERT_TRUE(count.ok()) << count.status();
  EXPECT_EQ((*count)[0].Int(0), 103);
  // Not whole rows: refused at once, the transaction goes on.
  st = db_->WithTransaction([&](Transaction& tx) -> Status {
    Status bad = ExecDeferredRows(tx, ins, 3, {int64_t{300}, std::string("x")});
    EXPECT_EQ(bad.code(), StatusCode::kInvalidArgument) << bad;
    return ExecDeferredRows(tx, ins, 3, rows_from(300, 1));
  });
  EXPECT_TRUE(st.ok()) << st;
  count = Query("SELECT COUNT(*) FROM r");
  ASSERT_TRUE(count.ok()) << count.status();
  EXPECT_EQ((*count)[0].Int(0), 104);
}

void DatabaseTestBase::RunPrefetchedQueries() {
  ASSERT_TRUE(Exec("CREATE TABLE p (k TEXT PRIMARY KEY, v INTEGER NOT NULL)").ok());
  ASSERT_TRUE(Exec("INSERT INTO p (k, v) VALUES ('a', 1), ('b', 2)").ok());
  const std::string sel = "SELECT v FROM p WHERE k = ?";
  int64_t a = 0, b = 0;
  Status st = db_->WithKeyedTransaction("p", [&](Transaction& tx) -> Status {
    RETURN_IF_ERROR(tx.Prefetch(sel, {std::string("a")}));
    RETURN_IF_ERROR(tx.Exec("INSERT INTO p (k, v) VALUES ('c', 3)").status());
    ASSIGN_OR_RETURN(Row rb, tx.QueryOne(sel, {std::string("b")}));  // not prefetched
    ASSIGN_OR_RETURN(Row ra, tx.QueryOne(sel, {std::string("a")}));
    a = ra.Int(0);
    b = rb.Int(0);
    return OkStatus();
  });
  ASSERT_TRUE(st.ok()) << st;
  EXPECT_EQ(a, 1);
  EXPECT_EQ(b, 2);

  // A prefetched query that fails fails the transaction: nothing stays.
  st = db_->WithKeyedTransaction("p", [&](Transaction& tx) -> Status {
    RETURN_IF_ERROR(tx.Prefetch("SELECT no_such_column FROM p"));
    RETURN_IF_ERROR(tx.Exec("INSERT INTO p (k, v) VALUES ('z', 9)").status());
    return tx.Query("SELECT no_such_column FROM p").status();
  });
  EXPECT_FALSE(st.ok());
  auto z = Query("SELECT k FROM p WHERE k = 'z'");
  ASSERT_TRUE(z.ok()) << z.status();
  EXPECT_TRUE(z->empty());
}

}  // namespace tandem::sql
