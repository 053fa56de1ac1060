// SQLite backend of the SQL layer (`sqlite:///abs/path.db`): WAL mode,
// busy_timeout, foreign keys on, synchronous=NORMAL. Write transactions use
// BEGIN IMMEDIATE so writers serialize instead of deadlocking on a lock
// upgrade; busy/locked errors map to Aborted (IsRetryable) and the whole
// callback is retried a bounded number of times with a small backoff.
//
// Thread-safety: safe to share between threads (a mutex-guarded pool of
// connections, one per concurrent caller, each with its own prepared
// statement cache) and between processes on the same file (SQLite file
// locks). Do not nest WithTransaction/Read calls on one thread: the inner call
// would take a second connection and wait on the outer one's lock.
// Not fork-safe: a child process opens its own Database.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "glue/sql/database.h"
#include "glue/sql/locks.h"

namespace tandem::sql {

class SqliteDatabase final : public Database {
 public:
  // Opens (creating if needed) the database file at absolute `path`.
  static StatusOr<std::unique_ptr<SqliteDatabase>> OpenFile(std::string_view path);
  // A fresh database in memory (SQLite's memdb VFS), private to this
  // Database and gone when it is destroyed: for unit tests that need no
  // files. Same SQL, transactions and locking as a file; no WAL.
  static StatusOr<std::unique_ptr<SqliteDatabase>> OpenMemory();
  // Opens `sqlite:///abs/path.db`; other forms -> InvalidArgument.
  static StatusOr<std::unique_ptr<SqliteDatabase>> OpenUri(std::string_view uri);

  ~SqliteDatabase() override;

  Status WithTransaction(const std::function<Status(Transaction&)>& fn) override;
  // Runs `fn` in a deferred (snapshot) transaction; statements that would
  // write fail with FailedPrecondition.
  Status Read(const std::function<Status(Transaction&)>& fn) override;
  Status Migrate(std::string_view component, const std::vector<Migration>& migrations) override;
  // flock on <path>.locks/<hash of key> (see sql/locks.h): works
  // between processes of one host; nullptr for an in-memory database.
  StatusOr<std::unique_ptr<HeldLock>> HoldLock(std::string_view key, bool wait);
  StatusOr<std::optional<bool>> LockHeld(std::string_view key);
  Dialect dialect() const override { return Dialect::kSqlite; }
  std::string uri() const override;

  // Total number of whole-transaction retries so far (for tests/metrics).
  int64_t retries() const;

  struct Impl;  // public so the .cc's helpers can name it; defined there

 private:
  explicit SqliteDatabase(std::unique_ptr<Impl> impl);
  StatusOr<std::string> LockFile(std::string_view key) const;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tandem::sql
