// PostgreSQL backend of the SQL layer (`postgres://user@host:port/db?...` or
// `postgresql://...`, any libpq connection URI). The SQL text shared with
// SQLite is sent as is except for placeholders: `?` outside string literals,
// quoted identifiers and comments becomes `$1, $2, ...`. Parameters go as
// untyped text so the server infers each one's type from its context (as
// SQLite's dynamic typing would accept it); statements are prepared once per
// connection and reused.
//
// Transactions: WithTransaction runs at SERIALIZABLE, so the read-modify-write
// callbacks written for SQLite's single writer (BEGIN IMMEDIATE) keep their
// meaning; serialization failures and deadlocks (SQLSTATE 40001, 40P01) map
// to Aborted and the whole callback is retried with jittered backoff. Writers
// share an advisory lock and a retry takes it exclusively, so writers that
// keep colliding on hot rows queue instead of aborting each other.
// WithKeyedTransaction skips that lock: READ COMMITTED under a
// transaction-level advisory lock on the key's hash, so writers of one key
// queue on it and never conflict. Read runs at REPEATABLE READ READ ONLY
// (one snapshot; writes fail with FailedPrecondition); its COMMIT is sent
// without waiting (the connection's next user collects the result).
// Round trips: keyed and read transactions send BEGIN (and the lock) with
// their first statement, and Transaction::ExecDeferred statements wait for
// the next statement or the COMMIT, all in one libpq pipeline
// (postgres_connection.h). Migrate serializes processes with a transaction-level
// advisory lock. Connection loss maps to Unavailable (never retried: a lost
// COMMIT has an unknown outcome) and the broken connection is dropped.
//
// Thread-safety: safe to share between threads (a mutex-guarded pool of
// connections, one per concurrent caller) and between processes. Do not nest
// WithTransaction/Read calls on one thread. Not fork-safe.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "glue/sql/database.h"
#include "glue/sql/locks.h"

namespace tandem::sql {

class PostgresDatabase final : public Database {
 public:
  // Connects (one connection, checked now; more on demand). Unavailable
  // naming the host when the server cannot be reached; InvalidArgument for a
  // URI libpq cannot parse.
  static StatusOr<std::unique_ptr<PostgresDatabase>> OpenUri(std::string_view uri);

  ~PostgresDatabase() override;

  Status WithTransaction(const std::function<Status(Transaction&)>& fn) override;
  Status WithKeyedTransaction(std::string_view key,
                              const std::function<Status(Transaction&)>& fn) override;
  Status Read(const std::function<Status(Transaction&)>& fn) override;
  Status Migrate(std::string_view component, const std::vector<Migration>& migrations) override;
  // LISTEN on a connection and thread of its own (see Database::Listen);
  // the subscription must be destroyed before the database.
  StatusOr<std::unique_ptr<Subscription>> Listen(std::string_view channel,
                                                 std::function<void()> on_notify) override;
  // Session-level advisory locks (see sql/locks.h); a handle must be
  // destroyed before the database.
  StatusOr<std::unique_ptr<HeldLock>> HoldLock(std::string_view key, bool wait);
  StatusOr<std::optional<bool>> LockHeld(std::string_view key);
  Dialect dialect() const override { return Dialect::kPostgres; }
  std::string uri() const override;

  // Total number of whole-transaction retries so far (for tests/metrics).
  int64_t retries() const;

  // Runs one statement outside any transaction (CREATE/DROP DATABASE need
  // that); no parameters. For tests and tooling.
  Status ExecAutocommit(std::string_view sql);

  struct Impl;  // public so the .cc's helpers can name it; defined there

 private:
  explicit PostgresDatabase(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Rewrites `?` placeholders to `$1..$n`, skipping '...' strings (with ''
// escapes), "..." identifiers, -- and /* */ comments and $tag$...$tag$
// bodies. Returns the rewritten text and sets `count`.
std::string RewritePlaceholders(std::string_view sql, int* count);

// The URI with its database name (the path) replaced by `dbname`; keeps the
// user, host, port and query parameters. InvalidArgument if `uri` is not a
// postgres:// or postgresql:// URI.
StatusOr<std::string> WithDatabaseName(std::string_view uri, std::string_view dbname);

}  // namespace tandem::sql
