// The SQL layer on PostgreSQL: the same behaviours as sqlite_database_test.cc
// (CRUD, typed cells, error mapping, rollback, retries, migrations, threads
// and processes incrementing one counter) against the server ctest starts,
// each test in its own fresh database; plus the placeholder rewrite and a
// deterministic serialization conflict that must be retried.
#include "glue/sql/postgres_database.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <condition_variable>
#include <mutex>
#include <thread>

#include "common/test_server.h"
#include "glue/sql/database.h"
#include "glue/sql/postgres_test_db.h"

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

class PostgresDatabaseTest : public ::testing::Test {
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
  Status Exec(const std::string& sql, const std::vector<Value>& params = {}) {
    return db_->WithTransaction([&](Transaction& tx) { return tx.Exec(sql, params).status(); });
  }
  StatusOr<std::vector<Row>> Query(const std::string& sql, const std::vector<Value>& params = {}) {
    std::vector<Row> out;
    Status st = db_->Read([&](Transaction& tx) -> Status {
      ASSIGN_OR_RETURN(out, tx.Query(sql, params));
      return OkStatus();
    });
    if (!st.ok()) return st;
    return out;
  }
  Status MakeCounter() {
    RETURN_IF_ERROR(Exec("CREATE TABLE counter (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)"));
    return Exec("INSERT INTO counter (id, n) VALUES (1, 0)");
  }
  static Status Increment(Database& db) {
    return db.WithTransaction([](Transaction& tx) -> Status {
      ASSIGN_OR_RETURN(Row r, tx.QueryOne("SELECT n FROM counter WHERE id = 1"));
      return tx.Exec("UPDATE counter SET n = ? WHERE id = 1", {r.Int(0) + 1}).status();
    });
  }
  int64_t Counter() {
    auto rows = Query("SELECT n FROM counter WHERE id = 1");
    EXPECT_TRUE(rows.ok()) << rows.status();
    return rows.ok() && !rows->empty() ? (*rows)[0].Int(0) : -1;
  }

  std::unique_ptr<testing::TestDatabase> fresh_;
  std::string uri_;
  std::unique_ptr<Database> db_;
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

TEST_F(PostgresDatabaseTest, MigrationsAreOrderedAndIdempotent) {
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
  ms.push_back({3, "broken", "INSERT INTO m (a) VALUES (3); SELEC oops"});
  Status st = db_->Migrate("comp", ms);
  EXPECT_EQ(st.code(), StatusCode::kInternal);
  EXPECT_NE(std::string(st.message()).find("comp/3"), std::string::npos) << st;
  rows = Query("SELECT COUNT(*) FROM m");
  EXPECT_EQ((*rows)[0].Int(0), 2);
  EXPECT_TRUE(db_->Migrate("other", {{1, "x", "CREATE TABLE o (a INTEGER)"}}).ok());
  EXPECT_EQ(db_->Migrate("dup", {{1, "a", "SELECT 1"}, {1, "b", "SELECT 1"}}).code(),
            StatusCode::kInvalidArgument);
}

TEST_F(PostgresDatabaseTest, ConcurrentMigrationsApplyOnce) {
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

TEST_F(PostgresDatabaseTest, ThreadsIncrementExactly) {
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

TEST_F(PostgresDatabaseTest, TwoProcessesIncrementExactly) {
  ASSERT_TRUE(MakeCounter().ok());
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
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

}  // namespace
}  // namespace tandem::sql
