#include "glue/sql/sqlite_database.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <thread>

#include "glue/sql/database.h"
#include "glue/sql/testing/database_test_base.h"

namespace tandem::sql {
namespace {

class SqliteDatabaseTest : public DatabaseTestBase {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/tandem_sql_test_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    uri_ = "sqlite://" + dir_ + "/test.db";
    auto db = Database::Open(uri_);
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = std::move(*db);
  }
  void TearDown() override {
    db_.reset();
    std::filesystem::remove_all(dir_);
  }

  std::string dir_;
};

TEST(SqliteMemoryDatabaseTest, SharedByConnectionsPrivateToTheDatabase) {
  auto a = SqliteDatabase::OpenMemory();
  auto b = SqliteDatabase::OpenMemory();
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_NE((*a)->uri(), (*b)->uri());
  ASSERT_TRUE((*a)->WithTransaction([](Transaction& tx) {
                    RETURN_IF_ERROR(tx.Exec("CREATE TABLE t (v INTEGER)").status());
                    return tx.Exec("INSERT INTO t VALUES (7)").status();
                  })
                  .ok());
  // Many threads at once: each may take its own connection to the same data.
  std::vector<std::thread> threads;
  std::atomic<int> seen{0};
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&] {
      Status st = (*a)->Read([&](Transaction& tx) -> Status {
        ASSIGN_OR_RETURN(auto rows, tx.Query("SELECT v FROM t"));
        if (rows.size() == 1) seen.fetch_add(1);
        return OkStatus();
      });
      EXPECT_TRUE(st.ok()) << st;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(seen.load(), 4);
  Status other = (*b)->Read([](Transaction& tx) { return tx.Query("SELECT v FROM t").status(); });
  EXPECT_FALSE(other.ok());  // no such table: b is another database
}

TEST_F(SqliteDatabaseTest, OpenRejectsBadUris) {
  EXPECT_EQ(Database::Open("sqlite://relative.db").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(Database::Open("mysql://x").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(Database::Open("postgres://127.0.0.1:1/db").status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(Database::Open("sqlite:///nonexistent_dir_xyz/a.db").status().code(),
            StatusCode::kUnavailable);
  EXPECT_EQ(db_->dialect(), Dialect::kSqlite);
  EXPECT_EQ(db_->uri(), uri_);
}

TEST_F(SqliteDatabaseTest, Crud) {
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

TEST_F(SqliteDatabaseTest, ParamsOfEveryTypeIncludingNull) {
  ASSERT_TRUE(Exec("CREATE TABLE t (i INTEGER, d REAL, s TEXT, n TEXT)").ok());
  std::string with_nul("a\0b", 3);
  ASSERT_TRUE(Exec("INSERT INTO t VALUES (?, ?, ?, ?)",
                   {int64_t{-9007199254740993}, 2.5, with_nul, std::monostate{}})
                  .ok());
  auto rows = Query("SELECT i, d, s, n FROM t WHERE n IS ?", {std::monostate{}});
  ASSERT_TRUE(rows.ok()) << rows.status();
  ASSERT_EQ(rows->size(), 1u);
  const Row& r = (*rows)[0];
  EXPECT_EQ(std::get<int64_t>(r.at(0)), -9007199254740993);
  EXPECT_DOUBLE_EQ(std::get<double>(r.at(1)), 2.5);
  EXPECT_EQ(std::get<std::string>(r.at(2)), with_nul);
  EXPECT_TRUE(r.IsNull(3));
  EXPECT_EQ(r.Int(3), 0);
  EXPECT_EQ(r.Text(3), "");
  EXPECT_EQ(r.Double(0), -9007199254740992.0);
  EXPECT_EQ(r.Int(1), 2);
  EXPECT_EQ(r.Text(1), "2.5");
}

TEST_F(SqliteDatabaseTest, ErrorsAreMappedAndNamed) {
  ASSERT_TRUE(Exec("CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER NOT NULL)").ok());
  ASSERT_TRUE(Exec("INSERT INTO t VALUES ('a', 1)").ok());
  Status dup = Exec("INSERT INTO t VALUES ('a', 2)");
  EXPECT_EQ(dup.code(), StatusCode::kAlreadyExists) << dup;
  EXPECT_NE(std::string(dup.message()).find("INSERT INTO t"), std::string::npos) << dup;
  EXPECT_EQ(Exec("INSERT INTO t VALUES ('b', NULL)").code(), StatusCode::kInvalidArgument);
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
}

TEST_F(SqliteDatabaseTest, RollsBackOnErrorCommitsOnOk) {
  ASSERT_TRUE(MakeCounter().ok());
  Status st = db_->WithTransaction([](Transaction& tx) -> Status {
    RETURN_IF_ERROR(tx.Exec("UPDATE counter SET n = 41").status());
    return InvalidArgumentError("caller changed its mind");
  });
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(Counter(), 0);
  // A failing statement after a successful one also rolls the first back.
  st = db_->WithTransaction([](Transaction& tx) -> Status {
    RETURN_IF_ERROR(tx.Exec("UPDATE counter SET n = 41").status());
    return tx.Exec("INSERT INTO counter (id, n) VALUES (1, 0)").status();
  });
  EXPECT_EQ(st.code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(Counter(), 0);
  ASSERT_TRUE(Exec("UPDATE counter SET n = 7").ok());
  EXPECT_EQ(Counter(), 7);
}

TEST_F(SqliteDatabaseTest, RetriesRetryableErrorsThenGivesUp) {
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
  EXPECT_FALSE(IsRetryable(InternalError("x")));
}

TEST_F(SqliteDatabaseTest, MigrationsAreOrderedAndIdempotent) {
  RunMigrationsAreOrderedAndIdempotent();
}

TEST_F(SqliteDatabaseTest, ConcurrentMigrationsApplyOnce) { RunConcurrentMigrationsApplyOnce(); }

TEST_F(SqliteDatabaseTest, ThreadsIncrementExactly) { RunThreadsIncrementExactly(); }

TEST_F(SqliteDatabaseTest, DeferredStatements) { RunDeferredStatements(); }
TEST_F(SqliteDatabaseTest, DeferredRows) { RunDeferredRows(); }
TEST_F(SqliteDatabaseTest, PrefetchedQueries) { RunPrefetchedQueries(); }
TEST_F(SqliteDatabaseTest, HeldLocks) { RunHeldLocks(); }

TEST_F(SqliteDatabaseTest, TwoProcessesIncrementExactly) { RunTwoProcessesIncrementExactly(); }

}  // namespace
}  // namespace tandem::sql
