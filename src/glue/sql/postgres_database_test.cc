// The SQL layer on PostgreSQL: the same behaviours as sqlite_database_test.cc
// (CRUD, typed cells, error mapping, rollback, retries, migrations, threads
// and processes incrementing one counter) against the server ctest starts,
// each test in its own fresh database; plus the placeholder rewrite, a
// deterministic serialization conflict that must be retried, and keyed
// transactions (queue per key, no retries).
#include "glue/sql/postgres_database.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/testing/test_server.h"
#include "glue/sql/database.h"
#include "glue/sql/testing/database_test_base.h"
#include "glue/sql/testing/postgres_test_db.h"

namespace tandem::sql {
namespace {

TEST(RewritePlaceholdersTest, SkipsStringsIdentifiersCommentsAndDollarQuotes) {
  int n = 0;
  EXPECT_EQ(RewritePlaceholders("SELECT ? , ?", &n), "SELECT $1 , $2");
  EXPECT_EQ(n, 2);
  EXPECT_EQ(RewritePlaceholders("SELECT '?', 'it''s ?', \"a?\" FROM t WHERE x = ?", &n),
            "SELECT '?', 'it''s ?', \"a?\" FROM t WHERE x = $1");
  EXPECT_EQ(n, 1);
  EXPECT_EQ(RewritePlaceholders("SELECT ? -- why?\n, /* ? */ ?", &n),
            "SELECT $1 -- why?\n, /* ? */ $2");
  EXPECT_EQ(n, 2);
  EXPECT_EQ(RewritePlaceholders("SELECT $$a?b$$, $q$?$q$, ?", &n), "SELECT $$a?b$$, $q$?$q$, $1");
  EXPECT_EQ(n, 1);
  EXPECT_EQ(RewritePlaceholders("SELECT 'unterminated ?", &n), "SELECT 'unterminated ?");
  EXPECT_EQ(n, 0);
}

TEST(WithDatabaseNameTest, ReplacesOnlyThePath) {
  EXPECT_EQ(*WithDatabaseName("postgres://u@h:5/db", "x"), "postgres://u@h:5/x");
  EXPECT_EQ(*WithDatabaseName("postgresql://u:p@h/db?sslmode=disable", "x"),
            "postgresql://u:p@h/x?sslmode=disable");
  EXPECT_EQ(*WithDatabaseName("postgres://h:5", "x"), "postgres://h:5/x");
  EXPECT_EQ(WithDatabaseName("sqlite:///a.db", "x").status().code(), StatusCode::kInvalidArgument);
}

TEST(PostgresOpenTest, BadUrisAndUnreachableServers) {
  EXPECT_EQ(Database::Open("postgres://h:notaport/db?bogus_option=1").status().code(),
            StatusCode::kInvalidArgument);
  auto down = Database::Open("postgres://nobody:secret@127.0.0.1:1/db");
  EXPECT_EQ(down.status().code(), StatusCode::kUnavailable) << down.status();
  EXPECT_EQ(std::string(down.status().message()).find("secret"), std::string::npos)
      << "password leaked: " << down.status();
}

class PostgresDatabaseTest : public DatabaseTestBase {
 protected:
  void SetUp() override {
    TANDEM_REQUIRE_TEST_SERVER("postgres", server);
    auto fresh = testing::TestDatabase::Create(server);
    ASSERT_TRUE(fresh.ok()) << fresh.status();
    fresh_ = std::move(*fresh);
    uri_ = fresh_->uri();
    auto db = Database::Open(uri_);
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = std::move(*db);
  }
  void TearDown() override {
    db_.reset();
    fresh_.reset();
  }

  std::unique_ptr<testing::TestDatabase> fresh_;
};

TEST_F(PostgresDatabaseTest, OpensByBothSchemes) {
  EXPECT_EQ(db_->dialect(), Dialect::kPostgres);
  EXPECT_EQ(db_->uri(), uri_);
  std::string alt = "postgresql://" + uri_.substr(std::string("postgres://").size());
  auto db = Database::Open(alt);
  ASSERT_TRUE(db.ok()) << db.status();
  EXPECT_EQ((*db)->dialect(), Dialect::kPostgres);
}

TEST_F(PostgresDatabaseTest, Crud) {
  ASSERT_TRUE(Exec("CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER)").ok());
  ASSERT_TRUE(Exec("INSERT INTO t (k, v) VALUES (?, ?)", {std::string("a"), int64_t{1}}).ok());
  ASSERT_TRUE(Exec("INSERT INTO t (k, v) VALUES (?, ?)", {std::string("b"), int64_t{2}}).ok());
  int64_t changed = 0;
  ASSERT_TRUE(db_->WithTransaction([&](Transaction& tx) -> Status {
                   ASSIGN_OR_RETURN(changed, tx.Exec("UPDATE t SET v = v + 10"));
                   return OkStatus();
                 })
                  .ok());
  EXPECT_EQ(changed, 2);
  ASSERT_TRUE(Exec("DELETE FROM t WHERE k = ?", {std::string("a")}).ok());
  auto rows = Query("SELECT k, v FROM t ORDER BY k");
  ASSERT_TRUE(rows.ok()) << rows.status();
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ((*rows)[0].Text(0), "b");
  EXPECT_EQ((*rows)[0].Int(1), 12);
}

TEST_F(PostgresDatabaseTest, ParamsAndCellsOfEveryType) {
  ASSERT_TRUE(Exec("CREATE TABLE t (i BIGINT, d DOUBLE PRECISION, s TEXT, n TEXT)").ok());
  ASSERT_TRUE(Exec("INSERT INTO t VALUES (?, ?, ?, ?)",
                   {int64_t{-9007199254740993}, 2.5, std::string("it's \"q\" ?"), std::monostate{}})
                  .ok());
  auto rows = Query(
      "SELECT i, d, s, n, COUNT(*) OVER (), SUM(i) OVER (), i > 0, AVG(d) OVER () FROM t "
      "WHERE n IS NULL AND s = ?",
      {std::string("it's \"q\" ?")});
  ASSERT_TRUE(rows.ok()) << rows.status();
  ASSERT_EQ(rows->size(), 1u);
  const Row& r = (*rows)[0];
  EXPECT_EQ(std::get<int64_t>(r.at(0)), -9007199254740993);
  EXPECT_DOUBLE_EQ(std::get<double>(r.at(1)), 2.5);
  EXPECT_EQ(std::get<std::string>(r.at(2)), "it's \"q\" ?");
  EXPECT_TRUE(r.IsNull(3));
  EXPECT_EQ(r.Text(3), "");
  EXPECT_EQ(std::get<int64_t>(r.at(4)), 1);                  // bigint
  EXPECT_EQ(std::get<int64_t>(r.at(5)), -9007199254740993);  // numeric, integral
  EXPECT_EQ(std::get<int64_t>(r.at(6)), 0);                  // bool
  EXPECT_DOUBLE_EQ(r.Double(7), 2.5);
  // Doubles round-trip exactly; PostgreSQL text cannot hold NUL bytes, and
  // says so instead of truncating.
  ASSERT_TRUE(Exec("INSERT INTO t (d) VALUES (?)", {0.1 + 0.2}).ok());
  rows = Query("SELECT d FROM t WHERE i IS NULL");
  ASSERT_TRUE(rows.ok()) << rows.status();
  EXPECT_EQ(std::get<double>((*rows)[0].at(0)), 0.1 + 0.2);
  Status nul = Exec("INSERT INTO t (s) VALUES (?)", {std::string("a\0b", 3)});
  EXPECT_EQ(nul.code(), StatusCode::kInvalidArgument) << nul;
  EXPECT_NE(std::string(nul.message()).find("NUL"), std::string::npos) << nul;
}

TEST_F(PostgresDatabaseTest, ErrorsAreMappedAndNamed) {
  ASSERT_TRUE(Exec("CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER NOT NULL)").ok());
  ASSERT_TRUE(Exec("INSERT INTO t VALUES ('a', 1)").ok());
  Status dup = Exec("INSERT INTO t VALUES ('a', 2)");
  EXPECT_EQ(dup.code(), StatusCode::kAlreadyExists) << dup;
  EXPECT_NE(std::string(dup.message()).find("INSERT INTO t"), std::string::npos) << dup;
  EXPECT_EQ(Exec("INSERT INTO t VALUES ('b', NULL)").code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(Exec("INSERT INTO t VALUES ('b', ?)", {std::string("x")}).code(),
            StatusCode::kInvalidArgument);
  Status syntax = Exec("SELEC nonsense");
  EXPECT_EQ(syntax.code(), StatusCode::kInternal);
  EXPECT_NE(std::string(syntax.message()).find("SELEC nonsense"), std::string::npos);
  EXPECT_EQ(Exec("INSERT INTO t VALUES (?, ?)", {std::string("x")}).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(Exec("INSERT INTO t VALUES ('c', 1); INSERT INTO t VALUES ('d', 1)").code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(
      db_->Read([](Transaction& tx) { return tx.Exec("INSERT INTO t VALUES ('e', 1)").status(); })
          .code(),
      StatusCode::kFailedPrecondition);
  auto one = db_->Read(
      [](Transaction& tx) { return tx.QueryOne("SELECT v FROM t WHERE k = 'zzz'").status(); });
  EXPECT_EQ(one.code(), StatusCode::kNotFound);
  // A callback that ignores a failed statement cannot commit: PostgreSQL has
  // aborted the transaction, and the error is reported, not swallowed.
  Status ignored = db_->WithTransaction([](Transaction& tx) -> Status {
    RETURN_IF_ERROR(tx.Exec("UPDATE t SET v = 5").status());
    (void)tx.Exec("INSERT INTO t VALUES ('a', 3)");
    return OkStatus();
  });
  EXPECT_EQ(ignored.code(), StatusCode::kAlreadyExists) << ignored;
  auto v = Query("SELECT v FROM t WHERE k = 'a'");
  ASSERT_TRUE(v.ok());
  EXPECT_EQ((*v)[0].Int(0), 1);
}

TEST_F(PostgresDatabaseTest, RollsBackOnErrorCommitsOnOk) {
  ASSERT_TRUE(MakeCounter().ok());
  Status st = db_->WithTransaction([](Transaction& tx) -> Status {
    RETURN_IF_ERROR(tx.Exec("UPDATE counter SET n = 41").status());
    return InvalidArgumentError("caller changed its mind");
  });
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(Counter(), 0);
  st = db_->WithTransaction([](Transaction& tx) -> Status {
    RETURN_IF_ERROR(tx.Exec("UPDATE counter SET n = 41").status());
    return tx.Exec("INSERT INTO counter (id, n) VALUES (1, 0)").status();
  });
  EXPECT_EQ(st.code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(Counter(), 0);
  ASSERT_TRUE(Exec("UPDATE counter SET n = 7").ok());
  EXPECT_EQ(Counter(), 7);
}

TEST_F(PostgresDatabaseTest, RetriesRetryableErrorsThenGivesUp) {
  int calls = 0;
  Status st = db_->WithTransaction(
      [&](Transaction&) -> Status { return ++calls < 3 ? AbortedError("transient") : OkStatus(); });
  EXPECT_TRUE(st.ok()) << st;
  EXPECT_EQ(calls, 3);
  calls = 0;
  st = db_->WithTransaction([&](Transaction&) -> Status {
    ++calls;
    return AbortedError("always");
  });
  EXPECT_TRUE(IsRetryable(st));
  EXPECT_GT(calls, 1);
  EXPECT_LT(calls, 100);
}

// Two read-modify-write transactions interleaved by hand: the first reads,
// the second commits an update of the same row, then the first writes. On
// SERIALIZABLE the first fails with SQLSTATE 40001, which must surface as
// Aborted and be retried from the top, so no increment is lost.
TEST_F(PostgresDatabaseTest, SerializationConflictIsRetriedWholesale) {
  ASSERT_TRUE(MakeCounter().ok());
  auto* pg = dynamic_cast<PostgresDatabase*>(db_.get());
  ASSERT_NE(pg, nullptr);
  const int64_t retries_before = pg->retries();
  std::mutex mu;
  std::condition_variable cv;
  bool read_done = false, other_committed = false;
  int calls = 0;
  std::thread other([&] {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return read_done; });
    EXPECT_TRUE(Increment(*db_).ok());
    other_committed = true;
    cv.notify_all();
  });
  Status st = db_->WithTransaction([&](Transaction& tx) -> Status {
    ++calls;
    ASSIGN_OR_RETURN(Row r, tx.QueryOne("SELECT n FROM counter WHERE id = 1"));
    if (calls == 1) {
      std::unique_lock<std::mutex> lock(mu);
      read_done = true;
      cv.notify_all();
      cv.wait(lock, [&] { return other_committed; });
    }
    return tx.Exec("UPDATE counter SET n = ? WHERE id = 1", {r.Int(0) + 1}).status();
  });
  other.join();
  EXPECT_TRUE(st.ok()) << st;
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(Counter(), 2);
  EXPECT_GT(pg->retries(), retries_before);
}

// Adds one to counter row `id` by reading then writing it in a keyed
// transaction; `between` runs between the read and the write.
Status KeyedIncrement(Database& db, std::string_view key, int64_t id,
                      const std::function<void()>& between = {}) {
  return db.WithKeyedTransaction(key, [&](Transaction& tx) -> Status {
    ASSIGN_OR_RETURN(Row r, tx.QueryOne("SELECT n FROM counter WHERE id = ?", {id}));
    if (between) between();
    return tx.Exec("UPDATE counter SET n = ? WHERE id = ?", {r.Int(0) + 1, id}).status();
  });
}

// Keyed transactions: writers of one key queue on its lock (the second sees
// the first's commit, READ COMMITTED, so a read-modify-write loses nothing
// and nothing is retried); a writer of another key does not wait for them.
TEST_F(PostgresDatabaseTest, KeyedTransactionsQueuePerKeyAndSeeTheLastCommit) {
  ASSERT_TRUE(MakeCounter().ok());
  ASSERT_TRUE(Exec("INSERT INTO counter (id, n) VALUES (2, 0)").ok());
  auto* pg = dynamic_cast<PostgresDatabase*>(db_.get());
  ASSERT_NE(pg, nullptr);
  const int64_t retries_before = pg->retries();
  std::mutex mu;
  std::condition_variable cv;
  bool first_inside = false, release = false;
  std::thread first([&] {
    EXPECT_TRUE(KeyedIncrement(*db_, "model/a", 1, [&] {
                  std::unique_lock<std::mutex> lock(mu);
                  first_inside = true;
                  cv.notify_all();
                  cv.wait(lock, [&] { return release; });
                }).ok());
  });
  {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return first_inside; });
  }
  std::thread second([&] { EXPECT_TRUE(KeyedIncrement(*db_, "model/a", 1).ok()); });
  // Wait until the second writer queues on the key's lock.
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  int64_t waiting = 0;
  while (waiting == 0 && std::chrono::steady_clock::now() < give_up) {
    auto rows = Query(
        "SELECT COUNT(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND "
        "database = (SELECT oid FROM pg_database WHERE datname = current_database())");
    ASSERT_TRUE(rows.ok()) << rows.status();
    waiting = (*rows)[0].Int(0);
  }
  ASSERT_EQ(waiting, 1);
  // Another key goes through while both of those are in flight.
  EXPECT_TRUE(KeyedIncrement(*db_, "model/b", 2).ok());
  {
    std::lock_guard<std::mutex> lock(mu);
    release = true;
    cv.notify_all();
  }
  first.join();
  second.join();
  auto rows = Query("SELECT n FROM counter ORDER BY id");
  ASSERT_TRUE(rows.ok()) << rows.status();
  ASSERT_EQ(rows->size(), 2u);
  EXPECT_EQ((*rows)[0].Int(0), 2);  // the second read the first's commit
  EXPECT_EQ((*rows)[1].Int(0), 1);
  EXPECT_EQ(pg->retries(), retries_before);
}

TEST_F(PostgresDatabaseTest, KeyedThreadsIncrementExactlyWithoutRetries) {
  ASSERT_TRUE(MakeCounter().ok());
  ASSERT_TRUE(Exec("INSERT INTO counter (id, n) VALUES (2, 0)").ok());
  auto* pg = dynamic_cast<PostgresDatabase*>(db_.get());
  ASSERT_NE(pg, nullptr);
  const int64_t retries_before = pg->retries();
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      const int64_t id = t % 2 + 1;  // two keys, four writers each
      const std::string key = "counter/" + std::to_string(id);
      for (int i = 0; i < 50; ++i) {
        if (!KeyedIncrement(*db_, key, id).ok()) failures++;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  auto rows = Query("SELECT n FROM counter ORDER BY id");
  ASSERT_TRUE(rows.ok()) << rows.status();
  ASSERT_EQ(rows->size(), 2u);
  EXPECT_EQ((*rows)[0].Int(0), 200);
  EXPECT_EQ((*rows)[1].Int(0), 200);
  EXPECT_EQ(pg->retries(), retries_before);
}

// Counts Listen callbacks; Await waits for the count to reach `n`.
class NotifyCounter {
 public:
  void Bump() {
    std::lock_guard<std::mutex> lock(mu_);
    ++count_;
    cv_.notify_all();
  }
  bool Await(int n) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(30), [&] { return count_ >= n; });
  }
  int count() {
    std::lock_guard<std::mutex> lock(mu_);
    return count_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int count_ = 0;
};

// LISTEN: a committed NOTIFY from another connection calls back; so does a
// reconnection after the server drops the listening session, after which
// notifications keep coming. Bad channel names are refused.
TEST_F(PostgresDatabaseTest, ListenCallsBackOnCommittedNotifyAndAfterReconnecting) {
  EXPECT_EQ(db_->Listen("Bad-Name", [] {}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(db_->Listen("", [] {}).status().code(), StatusCode::kInvalidArgument);
  NotifyCounter calls;
  auto sub = db_->Listen("test_chan", [&] { calls.Bump(); });
  ASSERT_TRUE(sub.ok()) << sub.status();
  ASSERT_NE(*sub, nullptr);
  ASSERT_TRUE(calls.Await(1));  // the call after connecting
  auto notify = [&] {
    return db_->WithTransaction(
        [](Transaction& tx) { return tx.Query("SELECT pg_notify('test_chan', 'x')").status(); });
  };
  ASSERT_TRUE(notify().ok());
  ASSERT_TRUE(calls.Await(2));
  // The server ends the listening session: the subscription reconnects.
  const int before = calls.count();
  ASSERT_TRUE(Exec("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE "
                   "datname = current_database() AND query = 'LISTEN test_chan'")
                  .ok());
  ASSERT_TRUE(calls.Await(before + 1));
  ASSERT_TRUE(notify().ok());
  ASSERT_TRUE(calls.Await(before + 2));
  sub->reset();  // stops the thread (the test would hang, not pass, if it did not)
}

TEST_F(PostgresDatabaseTest, MigrationsAreOrderedAndIdempotent) {
  RunMigrationsAreOrderedAndIdempotent();
}

TEST_F(PostgresDatabaseTest, ConcurrentMigrationsApplyOnce) { RunConcurrentMigrationsApplyOnce(); }

TEST_F(PostgresDatabaseTest, ThreadsIncrementExactly) { RunThreadsIncrementExactly(); }

TEST_F(PostgresDatabaseTest, DeferredStatements) { RunDeferredStatements(); }
TEST_F(PostgresDatabaseTest, DeferredRows) { RunDeferredRows(); }
TEST_F(PostgresDatabaseTest, HeldLocks) { RunHeldLocks(); }
TEST_F(PostgresDatabaseTest, PrefetchedQueries) { RunPrefetchedQueries(); }

// On PostgreSQL a prefetched query goes with the next statement: its rows
// are as of then (the insert after it is not counted), and its Query needs
// no round trip of its own. A wrong parameter count is refused at once.
TEST_F(PostgresDatabaseTest, PrefetchedQueryGoesWithTheNextStatement) {
  ASSERT_TRUE(Exec("CREATE TABLE pf (k TEXT PRIMARY KEY)").ok());
  ASSERT_TRUE(Exec("INSERT INTO pf (k) VALUES ('a')").ok());
  int64_t prefetched = -1, now = -1;
  Status st = db_->WithKeyedTransaction("pf", [&](Transaction& tx) -> Status {
    EXPECT_EQ(tx.Prefetch("SELECT k FROM pf WHERE k = ?").code(), StatusCode::kInvalidArgument);
    RETURN_IF_ERROR(tx.Prefetch("SELECT COUNT(*) FROM pf"));
    RETURN_IF_ERROR(tx.Exec("INSERT INTO pf (k) VALUES ('b')").status());
    ASSIGN_OR_RETURN(Row p, tx.QueryOne("SELECT COUNT(*) FROM pf"));
    prefetched = p.Int(0);
    ASSIGN_OR_RETURN(Row n, tx.QueryOne("SELECT COUNT(*) FROM pf"));  // used up: runs anew
    now = n.Int(0);
    return OkStatus();
  });
  ASSERT_TRUE(st.ok()) << st;
  EXPECT_EQ(prefetched, 1);
  EXPECT_EQ(now, 2);
}

// A read's COMMIT is sent without waiting for it: the transaction still
// ends at once (no session left idle in a transaction holding locks, so DDL
// from another process goes through), and the connection's next use works.
TEST_F(PostgresDatabaseTest, ReadsEndTheirTransactionWithoutWaitingForCommit) {
  ASSERT_TRUE(MakeCounter().ok());
  for (int i = 0; i < 3; ++i) EXPECT_EQ(Counter(), 0);
  auto other = Database::Open(uri_);
  ASSERT_TRUE(other.ok()) << other.status();
  int64_t open = -1;
  for (int i = 0; i < 50 && open != 0; ++i) {
    if (i > 0) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    ASSERT_TRUE((*other)
                    ->Read([&](Transaction& tx) -> Status {
                      ASSIGN_OR_RETURN(Row r, tx.QueryOne(
                                                  "SELECT COUNT(*) FROM pg_stat_activity WHERE "
                                                  "datname = current_database() AND state = "
                                                  "'idle in transaction'"));
                      open = r.Int(0);
                      return OkStatus();
                    })
                    .ok());
  }
  EXPECT_EQ(open, 0);
  Status ddl = (*other)->WithTransaction([](Transaction& tx) -> Status {
    RETURN_IF_ERROR(tx.Exec("SET LOCAL lock_timeout = '2s'").status());
    return tx.Exec("ALTER TABLE counter ADD COLUMN note TEXT").status();
  });
  EXPECT_TRUE(ddl.ok()) << ddl;
  ASSERT_TRUE(Exec("UPDATE counter SET n = 3").ok());
  EXPECT_EQ(Counter(), 3);
  // A read whose callback fails still rolls back; the pool stays usable.
  Status st = db_->Read([](Transaction& tx) -> Status {
    RETURN_IF_ERROR(tx.Query("SELECT n FROM counter").status());
    return NotFoundError("the caller's own error");
  });
  EXPECT_EQ(st.code(), StatusCode::kNotFound);
  EXPECT_EQ(Counter(), 3);
}

// The pooled connections die while idle (a server restart, an idle
// timeout): the next keyed transaction and read, whose BEGIN goes with their
// first statement, find out on that round trip, where nothing can have
// committed, and run again on a fresh connection.
TEST_F(PostgresDatabaseTest, PipelinedBeginRetriesOnAConnectionThatDiedIdle) {
  ASSERT_TRUE(MakeCounter().ok());
  auto other = Database::Open(uri_);
  ASSERT_TRUE(other.ok()) << other.status();
  ASSERT_TRUE((*other)
                  ->WithTransaction([](Transaction& tx) {
                    return tx
                        .Query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE "
                               "application_name = 'tandem' AND pid <> pg_backend_pid() AND "
                               "datname = current_database()")
                        .status();
                  })
                  .ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  Status st = db_->WithKeyedTransaction("counter", [](Transaction& tx) -> Status {
    ASSIGN_OR_RETURN(Row r, tx.QueryOne("SELECT n FROM counter WHERE id = 1"));
    return tx.Exec("UPDATE counter SET n = ? WHERE id = 1", {r.Int(0) + 5}).status();
  });
  EXPECT_TRUE(st.ok()) << st;
  EXPECT_EQ(Counter(), 5);
}

// The same when everything is deferred (BEGIN, the statements and the COMMIT
// would be one round trip, where a broken connection may have committed):
// the dead pooled connection is noticed before anything is sent and
// replaced, once; the callback's transaction commits exactly once.
TEST_F(PostgresDatabaseTest, AllDeferredTransactionReplacesAConnectionThatDiedIdle) {
  ASSERT_TRUE(MakeCounter().ok());
  // Two pooled connections at least (the terminating one and another).
  ASSERT_TRUE(db_->WithKeyedTransaction("counter",
                                        [](Transaction& tx) {
                                          return tx.ExecDeferred(
                                              "UPDATE counter SET n = n + 1 WHERE id = 1");
                                        })
                  .ok());
  auto other = Database::Open(uri_);
  ASSERT_TRUE(other.ok()) << other.status();
  ASSERT_TRUE((*other)
                  ->WithTransaction([](Transaction& tx) {
                    return tx
                        .Query(
                            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE "
                            "application_name = 'tandem' AND pid <> pg_backend_pid() AND "
                            "datname = current_database()")
                        .status();
                  })
                  .ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  int calls = 0;
  Status st = db_->WithKeyedTransaction("counter", [&](Transaction& tx) -> Status {
    ++calls;
    return tx.ExecDeferred("UPDATE counter SET n = n + 10 WHERE id = 1");
  });
  EXPECT_TRUE(st.ok()) << st;
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(Counter(), 11);
}

// attempt() tells a callback that it runs again after a serialization
// failure: 0 first, then 1.
TEST_F(PostgresDatabaseTest, AttemptCountsRetries) {
  ASSERT_TRUE(MakeCounter().ok());
  std::vector<int> attempts;
  Status st = db_->WithKeyedTransaction("counter", [&](Transaction& tx) -> Status {
    attempts.push_back(tx.attempt());
    if (tx.attempt() == 0) {
      // A deferred statement that fails as a stale cache's check does.
      return tx.ExecDeferred("DO $$ BEGIN RAISE EXCEPTION 'stale' USING ERRCODE = '40001'; END $$");
    }
    return tx.ExecDeferred("UPDATE counter SET n = n + 1 WHERE id = 1");
  });
  EXPECT_TRUE(st.ok()) << st;
  EXPECT_EQ(attempts, (std::vector<int>{0, 1}));
  EXPECT_EQ(Counter(), 1);
}

// OnKeyLocked: with everything of a keyed transaction held back to the
// COMMIT, the callback runs once the server has granted the key's lock, not
// before (another transaction holds it meanwhile), and exactly once; when
// the transaction fails before anything is sent, it still runs once.
TEST_F(PostgresDatabaseTest, OnKeyLockedRunsOnceTheLockIsGranted) {
  ASSERT_TRUE(MakeCounter().ok());
  std::mutex mu;
  std::condition_variable cv;
  bool holder_inside = false, release = false, released = false;
  std::thread holder([&] {
    EXPECT_TRUE(KeyedIncrement(*db_, "k", 1, [&] {
                  std::unique_lock<std::mutex> lock(mu);
                  holder_inside = true;
                  cv.notify_all();
                  cv.wait(lock, [&] { return release; });
                  released = true;  // the COMMIT follows; the lock goes with it
                }).ok());
  });
  {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return holder_inside; });
  }
  std::atomic<int> calls{0};
  std::atomic<bool> early{false};
  std::thread waiter([&] {
    Status st = db_->WithKeyedTransaction("k", [&](Transaction& tx) -> Status {
      tx.OnKeyLocked([&] {
        std::lock_guard<std::mutex> lock(mu);
        if (!released) early = true;
        calls++;
      });
      return tx.ExecDeferred("UPDATE counter SET n = n + 10 WHERE id = 1");
    });
    EXPECT_TRUE(st.ok()) << st;
  });
  // The waiter's lock request reaches the server and waits there.
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  int64_t waiting = 0;
  while (waiting == 0 && std::chrono::steady_clock::now() < give_up) {
    auto rows = Query(
        "SELECT COUNT(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND "
        "database = (SELECT oid FROM pg_database WHERE datname = current_database())");
    ASSERT_TRUE(rows.ok()) << rows.status();
    waiting = (*rows)[0].Int(0);
  }
  ASSERT_EQ(waiting, 1);
  EXPECT_EQ(calls.load(), 0) << "called while another transaction held the lock";
  {
    std::lock_guard<std::mutex> lock(mu);
    release = true;
    cv.notify_all();
  }
  holder.join();
  waiter.join();
  EXPECT_EQ(calls.load(), 1);
  EXPECT_FALSE(early.load());
  EXPECT_EQ(Counter(), 11);

  int failed_calls = 0;
  Status st = db_->WithKeyedTransaction("k", [&](Transaction& tx) -> Status {
    tx.OnKeyLocked([&] { ++failed_calls; });
    return InvalidArgumentError("refused before sending");
  });
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(failed_calls, 1);
  EXPECT_EQ(Counter(), 11);
}

TEST_F(PostgresDatabaseTest, TwoProcessesIncrementExactly) { RunTwoProcessesIncrementExactly(); }

}  // namespace
}  // namespace tandem::sql
