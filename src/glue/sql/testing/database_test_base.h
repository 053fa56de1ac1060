// Shared by the SQL backends' tests (sqlite_database_test.cc,
// postgres_database_test.cc): a fixture base holding the database under test
// with small helpers, and the behaviours every backend must show — ordered,
// idempotent and concurrency-safe migrations, and exact counters under
// concurrent threads and processes. A backend's fixture opens `db_` (and sets
// `uri_`) in SetUp and runs each behaviour from a TEST_F of its own.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "glue/sql/database.h"

namespace tandem::sql {

class DatabaseTestBase : public ::testing::Test {
 protected:
  Status Exec(const std::string& sql, const std::vector<Value>& params = {});
  StatusOr<std::vector<Row>> Query(const std::string& sql, const std::vector<Value>& params = {});
  // A one-row table `counter` with n = 0, and a transaction adding 1 to it.
  Status MakeCounter();
  static Status Increment(Database& db);
  int64_t Counter();

  void RunMigrationsAreOrderedAndIdempotent();
  void RunConcurrentMigrationsApplyOnce();
  void RunThreadsIncrementExactly();
  void RunTwoProcessesIncrementExactly();
  // Transaction::ExecDeferred: in order before the next statement, its
  // error fails the next statement or the commit and rolls everything back.
  void RunDeferredStatements();
  // ExecDeferredRows (deferred_rows.h): every row, in order (across its
  // statements of a power of two rows), committed with the transaction; a
  // failing row fails the transaction (nothing stays); values that are not
  // whole rows are refused at once.
  void RunDeferredRows();
  // Transaction::Prefetch: the later Query gets the right rows, a query with
  // other parameters runs on its own, and a failing prefetched query fails
  // the transaction (nothing commits).
  void RunPrefetchedQueries();
  // HoldLock/LockHeld: exclusive (in one process too), released by the
  // handle, and at once when the holding process is killed (kill -9).
  void RunHeldLocks();

  std::string uri_;
  std::unique_ptr<Database> db_;
};

}  // namespace tandem::sql
