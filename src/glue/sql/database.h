// A small SQL layer shared by every SQL-backed glue component (registry, job
// metadata, event bus outbox and queues). The SQL text is written once in a
// dialect both SQLite and PostgreSQL accept; placeholders are `?` and the
// PostgreSQL backend rewrites them to `$1, $2, ...`.
//
// Thread-safety: a Database is safe to share between threads; a Transaction
// is used by the one thread that runs the WithTransaction callback.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "common/status.h"

namespace tandem::sql {

// A bound parameter or a result cell. NULL is std::monostate.
using Value = std::variant<std::monostate, int64_t, double, std::string>;

class Row {
 public:
  explicit Row(std::vector<Value> cells) : cells_(std::move(cells)) {}
  size_t size() const { return cells_.size(); }
  bool IsNull(size_t i) const { return std::holds_alternative<std::monostate>(cells_.at(i)); }
  // Typed accessors; NULL reads as 0 / 0.0 / "". Integers read as doubles and
  // vice versa where needed.
  int64_t Int(size_t i) const;
  double Double(size_t i) const;
  std::string Text(size_t i) const;
  const Value& at(size_t i) const { return cells_.at(i); }

 private:
  std::vector<Value> cells_;
};

enum class Dialect { kSqlite, kPostgres };

class Transaction {
 public:
  virtual ~Transaction() = default;
  // Runs a statement that returns rows.
  virtual StatusOr<std::vector<Row>> Query(std::string_view sql,
                                           const std::vector<Value>& params = {}) = 0;
  // Runs a statement; returns the number of rows changed.
  virtual StatusOr<int64_t> Exec(std::string_view sql, const std::vector<Value>& params = {}) = 0;
  // Runs a statement whose result the caller does not read (an insert whose
  // count is known). A backend may hold it back and send it together with
  // the next Query/Exec or the COMMIT, in one round trip (PostgreSQL:
  // pipeline mode), in order; its error then fails that statement or the
  // commit, and so the transaction. Errors that can be known without the
  // database (a bad parameter count) come back now. Default: Exec now.
  virtual Status ExecDeferred(std::string_view sql, const std::vector<Value>& params = {}) {
    return Exec(sql, params).status();
  }
  // Announces a Query this transaction will run later with the same text
  // and parameters (a read whose result does not depend on the statements
  // before it). A backend may send it with the next round trip and keep its
  // rows for that Query (PostgreSQL: one round trip less); the rows are then
  // as of that earlier point, which READ COMMITTED allows anyway. An error
  // fails the statement it went with, and so the transaction.
  // Default: nothing (the later Query runs it).
  virtual Status Prefetch(std::string_view sql, const std::vector<Value>& params = {}) {
    (void)sql;
    (void)params;
    return OkStatus();
  }
  // In a WithKeyedTransaction: calls `fn` once the transaction holds its
  // key's lock, or once it is known it never will (the transaction failed
  // first); at most once. A backend that sends the lock with later
  // statements (PostgreSQL) calls it from the thread that sends them, when
  // the server has granted the lock and while the rest runs, so that work
  // queued behind this transaction may be sent then and still come after
  // it. `fn` must be quick and must not use the transaction. Default (and
  // outside a keyed transaction): calls `fn` now.
  virtual void OnKeyLocked(std::function<void()> fn) { fn(); }
  virtual Dialect dialect() const = 0;
  // 0 on a transaction's first run; 1, 2, ... when the backend runs the
  // callback again after a retryable conflict (Aborted). A callback that
  // took a shortcut on cached knowledge (and guarded it with a statement
  // that fails with a serialization failure when the cache is stale) takes
  // the long way on a retry.
  virtual int attempt() const { return 0; }

  // Convenience: the single row a query returns, NotFound if none.
  StatusOr<Row> QueryOne(std::string_view sql, const std::vector<Value>& params = {});
};

// A subscription made by Database::Listen; destroying it stops the
// callbacks (and waits for one in progress to return).
class Subscription {
 public:
  virtual ~Subscription() = default;
};

struct Migration {
  int version;
  std::string name;
  std::string sql;  // one or more statements separated by ';'
};

class Database {
 public:
  virtual ~Database() = default;

  // Opens a database by URI: `sqlite:///abs/path.db` (WAL mode, busy timeout,
  // safe for several processes at once) or `postgres://user@host:port/db`
  // (also `postgresql://`; see postgres_database.h).
  static StatusOr<std::unique_ptr<Database>> Open(std::string_view uri);

  // Runs `fn` inside one transaction (BEGIN IMMEDIATE on SQLite, SERIALIZABLE
  // on PostgreSQL). Commits when
  // `fn` returns OK, rolls back otherwise. Retries the whole callback on
  // busy/serialization conflicts (so `fn` must be re-runnable). Thread-safe.
  virtual Status WithTransaction(const std::function<Status(Transaction&)>& fn) = 0;

  // Like WithTransaction, for a write transaction that changes the rows of
  // one entity only (everything of one registered model, say), named by
  // `key`. Writers of the same key run one at a time, in order, without
  // conflicts or retries; writers of different keys do not wait for each
  // other. The callback must not write rows that writers under other keys
  // (or plain WithTransaction writers) also write, except inserts of new
  // rows; reads of other keys' rows see their latest commit. The default
  // (SQLite: one writer at a time anyway) is WithTransaction; PostgreSQL
  // runs at READ COMMITTED under a transaction-level advisory lock on a hash
  // of `key` (a hash collision only serializes two keys). Thread-safe.
  virtual Status WithKeyedTransaction(std::string_view key,
                                      const std::function<Status(Transaction&)>& fn) {
    (void)key;
    return WithTransaction(fn);
  }

  // Read-only access outside an explicit write transaction. Thread-safe.
  virtual Status Read(const std::function<Status(Transaction&)>& fn) = 0;

  // Applies the migrations of `component` whose versions are not yet recorded
  // in the shared `schema_migrations(component, version)` table, in order,
  // each in its own transaction. Safe when several processes migrate at once.
  virtual Status Migrate(std::string_view component, const std::vector<Migration>& migrations) = 0;

  // Calls `on_notify` soon after any transaction that notified `channel`
  // (lowercase letters, digits and '_') commits, in this process or
  // another, on a thread of the subscription's own; also once after each
  // (re)connection, since notifications may have been missed meanwhile.
  // Several notifications may be coalesced into one call. nullptr where the
  // backend has no notifications (SQLite): callers poll. Thread-safe.
  virtual StatusOr<std::unique_ptr<Subscription>> Listen(std::string_view channel,
                                                         std::function<void()> on_notify) {
    (void)channel;
    (void)on_notify;
    return std::unique_ptr<Subscription>();
  }

  virtual Dialect dialect() const = 0;
  virtual std::string uri() const = 0;
};

// True for errors worth retrying as a whole transaction (busy, locked,
// serialization failure). Backends report exactly these as Aborted, so a
// callback should not return Aborted for anything else.
bool IsRetryable(const Status& s);

// Sleeps before retry number `attempt` (0-based) of a conflicting transaction:
// jittered, capped exponential backoff (0.1 ms .. 64 ms), shared by backends.
void BackoffBeforeRetry(int attempt);

// The migrations of `component` sorted by version, for a backend's Migrate.
// InvalidArgument (naming the component and the migration) if a version is
// not positive or appears twice.
StatusOr<std::vector<const Migration*>> OrderMigrations(std::string_view component,
                                                        const std::vector<Migration>& migrations);

// The table recording applied migrations, shared by every component.
inline constexpr char kSchemaMigrationsDdl[] =
    "CREATE TABLE IF NOT EXISTS schema_migrations (component TEXT NOT NULL, "
    "version INTEGER NOT NULL, name TEXT NOT NULL, applied_at BIGINT NOT NULL, "
    "PRIMARY KEY (component, version))";

// The migration runner's step, which each backend runs inside its own write
// transaction (and lock): applies `m` with `exec_script` (multi-statement
// SQL) and records it, unless it is recorded for `component` already (maybe
// by another process).
Status ApplyMigrationOnce(Transaction& tx, std::string_view component, const Migration& m,
                          const std::function<Status(std::string_view sql)>& exec_script);

}  // namespace tandem::sql
