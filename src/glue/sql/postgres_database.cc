#include "glue/sql/postgres_database.h"

#include <libpq-fe.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <map>
#include <random>
#include <thread>
#include <utility>

#include "absl/synchronization/mutex.h"
#include "glue/sql/postgres_connection.h"

namespace tandem::sql {
namespace {

using pg::CellValue;
using pg::Connection;
using pg::PgError;
using pg::ResultOk;
using pg::ResultPtr;
using pg::Scan;
using pg::ScanResult;
using pg::Snippet;
using pg::Wrap;

constexpr int kMaxAttempts = 40;
// Idle connections kept for reuse: above the concurrent callers (REST workers,
// bus consumers) so none is closed and reopened (re-preparing its statements).
constexpr size_t kMaxIdleConnections = 64;
// Serializes schema migrations of every component across processes.
constexpr int64_t kMigrationLockKey = 0x74616e64656d6d67;  // "tandemmg"
// Write transactions take it shared, retries after a conflict exclusive (Run).
constexpr int64_t kRetryLockKey = 0x74616e64656d7274;  // "tandemrt"

class PostgresTransaction final : public Transaction {
 public:
  // `begin`: the statements that open the transaction, not sent yet; they
  // go with the first statement (or the COMMIT), saving a round trip.
  // `read_only`: a read transaction, whose COMMIT is sent without waiting.
  // `keyed`: `begin` is BEGIN and the key's lock.
  PostgresTransaction(Connection& conn, std::vector<Connection::Pending> begin = {},
                      bool read_only = false, int attempt = 0, bool keyed = false)
      : conn_(conn),
        pending_(std::move(begin)),
        begin_pending_(!pending_.empty()),
        keyed_(keyed),
        read_only_(read_only),
        attempt_(attempt) {}

  // A `then` still held back (the transaction ended before sending it).
  ~PostgresTransaction() override {
    for (Connection::Pending& p : pending_) {
      if (p.then) std::exchange(p.then, nullptr)();
    }
  }

  StatusOr<std::vector<Row>> Query(std::string_view sql,
                                   const std::vector<Value>& params) override {
    ResultPtr res = Wrap(nullptr);
    if (auto it = prefetched_.find(KeyOf(sql, params)); it != prefetched_.end()) {
      res = std::move(it->second);
      prefetched_.erase(it);
    } else {
      ASSIGN_OR_RETURN(res, Run(sql, params));
    }
    const int nrows = PQntuples(res.get());
    const int ncols = PQnfields(res.get());
    std::vector<Row> rows;
    rows.reserve(static_cast<size_t>(nrows));
    for (int r = 0; r < nrows; ++r) {
      std::vector<Value> cells;
      cells.reserve(static_cast<size_t>(ncols));
      for (int c = 0; c < ncols; ++c) cells.push_back(CellValue(res.get(), r, c));
      rows.emplace_back(std::move(cells));
    }
    return rows;
  }

  StatusOr<int64_t> Exec(std::string_view sql, const std::vector<Value>& params) override {
    ASSIGN_OR_RETURN(ResultPtr res, Run(sql, params));
    const char* n = PQcmdTuples(res.get());
    return static_cast<int64_t>(n != nullptr && *n != '\0' ? std::strtoll(n, nullptr, 10) : 0);
  }

  Status ExecDeferred(std::string_view sql, const std::vector<Value>& params) override {
    RETURN_IF_ERROR(AfterFailure(sql));
    RETURN_IF_ERROR(conn_.Check(sql, params.size()));
    pending_.push_back({std::string(sql), params});
    return OkStatus();
  }

  Status Prefetch(std::string_view sql, const std::vector<Value>& params) override {
    RETURN_IF_ERROR(AfterFailure(sql));
    RETURN_IF_ERROR(conn_.Check(sql, params.size()));
    pending_.push_back({std::string(sql), params, /*keep=*/true});
    prefetch_keys_.push_back(KeyOf(sql, params));
    return OkStatus();
  }

  // The key's lock is the second of the statements that open a keyed
  // transaction; while they are held back, `fn` rides on it.
  void OnKeyLocked(std::function<void()> fn) override {
    if (begin_pending_ && keyed_ && pending_.size() > 1 && !pending_[1].then) {
      pending_[1].then = std::move(fn);
      return;
    }
    fn();
  }

  Dialect dialect() const override { return Dialect::kPostgres; }
  int attempt() const override { return attempt_; }

  // The first statement error, if any: PostgreSQL aborts the whole
  // transaction on it, so COMMIT cannot succeed afterwards.
  const Status& first_error() const { return first_error_; }

  // True if the connection broke on the round trip that carried BEGIN (and
  // no COMMIT): nothing can have been committed, so the caller may retry.
  bool broke_at_begin() const { return broke_at_begin_; }

  // COMMIT, with the statements still held back (one round trip).
  Status Commit() {
    if (read_only_) {
      // Nothing sent (no statement): nothing to end. Otherwise the read's
      // COMMIT cannot fail or lose anything once its statements succeeded:
      // send it and go, the connection's next user collects the result
      // (one round trip less per read).
      if (begin_pending_) {
        pending_.clear();
        return OkStatus();
      }
      if (pending_.empty()) return conn_.SendCommitNoWait();
    }
    ResultPtr res = Wrap(nullptr);
    if (pending_.empty()) {
      res = Wrap(PQexec(conn_.conn(), "COMMIT"));
      if (res == nullptr || !ResultOk(res.get())) return PgError(conn_.conn(), res.get(), "COMMIT");
    } else {
      if (begin_pending_) {
        // BEGIN, every statement and the COMMIT in one round trip: if the
        // connection broke there, the COMMIT may have run, so it is never
        // retried. A pooled connection the server closed while idle is
        // found out first (its socket is readable: the server's goodbye or
        // EOF), before anything is sent, so that one may be replaced.
        if (!conn_.AliveBeforeSend()) {
          broke_at_begin_ = true;
          return UnavailableError("postgres: the pooled connection was closed by the server");
        }
        begin_pending_ = false;
      }
      pending_.push_back({"COMMIT", {}});
      bool sent = false;
      auto out = conn_.RunBatch(pending_, &sent);
      pending_.clear();
      if (!out.ok()) return out.status();
      res = std::move(*out);
    }
    if (std::strcmp(PQcmdStatus(res.get()), "COMMIT") != 0) {
      return InternalError("postgres: transaction was rolled back at COMMIT");
    }
    return OkStatus();
  }

 private:
  Status AfterFailure(std::string_view sql) const {
    if (first_error_.ok()) return OkStatus();
    return FailedPreconditionError(
        "statement after a failed one in the same PostgreSQL transaction (first error: " +
        std::string(first_error_.message()) + ") [in: " + Snippet(sql) + "]");
  }

  StatusOr<ResultPtr> Run(std::string_view sql, const std::vector<Value>& params) {
    RETURN_IF_ERROR(AfterFailure(sql));
    StatusOr<ResultPtr> res = InternalError("unreached");
    if (pending_.empty()) {
      res = conn_.Run(sql, params);
    } else {
      pending_.push_back({std::string(sql), params});
      bool sent = false;
      std::vector<ResultPtr> kept;
      res = conn_.RunBatch(pending_, &sent, &kept);
      pending_.clear();
      if (res.ok()) {
        for (size_t i = 0; i < kept.size() && i < prefetch_keys_.size(); ++i) {
          prefetched_.insert_or_assign(prefetch_keys_[i], std::move(kept[i]));
        }
      }
      prefetch_keys_.clear();
      if (begin_pending_ && sent && conn_.broken()) broke_at_begin_ = true;
      begin_pending_ = false;
    }
    if (!res.ok() && (conn_.broken() || PQtransactionStatus(conn_.conn()) == PQTRANS_INERROR)) {
      first_error_ = res.status();
    }
    return res;
  }

  // What identifies a prefetched query: its text and parameters.
  static std::string KeyOf(std::string_view sql, const std::vector<Value>& params) {
    std::string key(sql);
    for (const Value& v : params) {
      key.push_back('\0');
      key.push_back(static_cast<char>('0' + v.index()));
      if (const auto* i = std::get_if<int64_t>(&v)) key += std::to_string(*i);
      if (const auto* d = std::get_if<double>(&v)) key += std::to_string(*d);
      if (const auto* t = std::get_if<std::string>(&v)) key += *t;
    }
    return key;
  }

  Connection& conn_;
  std::vector<Connection::Pending> pending_;
  std::vector<std::string> prefetch_keys_;         // of the kept items in pending_, in order
  std::map<std::string, ResultPtr> prefetched_;  // their results, until queried
  bool begin_pending_;
  const bool keyed_;
  const bool read_only_;
  const int attempt_;
  bool broke_at_begin_ = false;
  Status first_error_;
};

enum class Mode { kWrite, kKeyed, kRead, kMigrate };

// The advisory lock key of a WithKeyedTransaction key: FNV-1a (64 bits) of
// the key, in a space of its own (the fixed keys above are not hashes).
int64_t KeyedLockKey(std::string_view key) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : key) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return static_cast<int64_t>(h);
}

const char* BeginFor(Mode m) {
  switch (m) {
    case Mode::kWrite:
      return "BEGIN ISOLATION LEVEL SERIALIZABLE";
    case Mode::kRead:
      return "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY";
    case Mode::kKeyed:
    case Mode::kMigrate:
      return "BEGIN ISOLATION LEVEL READ COMMITTED";
  }
  return "BEGIN";
}

void IgnoreNotice(void*, const char*) {}

}  // namespace

struct PostgresDatabase::Impl {
  std::string uri;
  absl::Mutex mu;
  std::vector<std::unique_ptr<Connection>> idle ABSL_GUARDED_BY(mu);
  std::atomic<int64_t> retries{0};

  StatusOr<std::unique_ptr<Connection>> OpenConnection() {
    const char* keys[] = {"connect_timeout", "application_name", "dbname", nullptr};
    const char* values[] = {"10", "tandem", uri.c_str(), nullptr};
    PGconn* raw = PQconnectdbParams(keys, values, /*expand_dbname=*/1);
    if (raw == nullptr) return ResourceExhaustedError("libpq could not allocate a connection");
    auto conn = std::make_unique<Connection>(raw);
    if (PQstatus(raw) != CONNECTION_OK) {
      std::string msg = PQerrorMessage(raw);
      while (!msg.empty() && std::isspace(static_cast<unsigned char>(msg.back()))) msg.pop_back();
      return UnavailableError("cannot connect to postgres database '" + Redacted() + "': " + msg);
    }
    PQsetNoticeProcessor(raw, &IgnoreNotice, nullptr);
    RETURN_IF_ERROR(conn->ExecScript("SET client_min_messages = warning"));
    return conn;
  }

  // The URI without its password, for messages.
  std::string Redacted() const {
    std::string out = uri;
    size_t scheme = out.find("://");
    size_t at = out.find('@');
    if (scheme == std::string::npos || at == std::string::npos) return out;
    size_t colon = out.find(':', scheme + 3);
    if (colon != std::string::npos && colon < at) out.replace(colon + 1, at - colon - 1, "***");
    return out;
  }

  StatusOr<std::unique_ptr<Connection>> Acquire() {
    for (;;) {
      std::unique_ptr<Connection> conn;
      {
        absl::MutexLock lock(&mu);
        if (idle.empty()) break;
        conn = std::move(idle.back());
        idle.pop_back();
      }
      // A read's COMMIT may still be in flight (its result has arrived by
      // now, mostly); collected outside the pool's lock.
      if (conn->FinishCommit() && !conn->broken()) return conn;
    }
    return OpenConnection();
  }

  void Release(std::unique_ptr<Connection> conn) {
    if (conn->broken()) return;
    if (conn->commit_in_flight()) {
      absl::MutexLock lock(&mu);
      if (idle.size() < kMaxIdleConnections) idle.push_back(std::move(conn));
      return;
    }
    if (!conn->idle()) (void)conn->ExecScript("ROLLBACK");
    if (conn->broken() || !conn->idle()) return;
    absl::MutexLock lock(&mu);
    if (idle.size() < kMaxIdleConnections) idle.push_back(std::move(conn));
  }

  // One attempt: BEGIN, fn, COMMIT or ROLLBACK.
  // `began` (optional) tells whether BEGIN may have run (if not, nothing
  // did). `key` is the advisory lock key of a kKeyed transaction.
  Status Attempt(Connection& conn, Mode mode, const std::function<Status(Transaction&)>& fn,
                 bool* began = nullptr, bool serialize = false, int64_t key = 0, int attempt = 0) {
    if (began != nullptr) *began = false;
    if (mode == Mode::kKeyed || mode == Mode::kRead) {
      // BEGIN (and the key's lock) go with the first statement. READ
      // COMMITTED takes a snapshot per statement, so every statement after
      // the lock sees what the previous holder committed; the lock is
      // released by COMMIT/ROLLBACK.
      std::vector<Connection::Pending> begin = {{BeginFor(mode), {}}};
      if (mode == Mode::kKeyed) begin.push_back({"SELECT pg_advisory_xact_lock(?)", {key}});
      PostgresTransaction tx(conn, std::move(begin), mode == Mode::kRead, attempt,
                             mode == Mode::kKeyed);
      Status st = RunBody(tx, fn);
      if (began != nullptr) *began = !tx.broke_at_begin();
      if (!st.ok() && !conn.broken() && !conn.idle()) (void)conn.ExecScript("ROLLBACK");
      return st;
    }
    std::string begin;
    if (mode == Mode::kWrite) {
      // First attempts share the writer lock; a retry holds it alone. It is
      // a session lock taken before BEGIN so that the transaction's snapshot
      // comes after the wait (one round trip with BEGIN either way; the
      // COMMIT ends the implicit transaction of the multi-statement query).
      begin =
          std::string(serialize ? "SELECT pg_advisory_lock(" : "SELECT pg_advisory_lock_shared(") +
          std::to_string(kRetryLockKey) + "); COMMIT; ";
    }
    begin += BeginFor(mode);
    Status st = conn.ExecScript(begin);
    if (st.ok()) {
      if (began != nullptr) *began = true;
      PostgresTransaction tx(conn, {}, false, attempt);
      st = RunBody(tx, fn);
    }
    if (!st.ok() && !conn.broken() && !conn.idle()) (void)conn.ExecScript("ROLLBACK");
    if (mode == Mode::kWrite && !conn.broken()) {
      (void)conn.ExecScript("SELECT pg_advisory_unlock_all()");
    }
    return st;
  }

  // fn, then COMMIT.
  Status RunBody(PostgresTransaction& tx, const std::function<Status(Transaction&)>& fn) {
    Status st = fn(tx);
    if (st.ok() && !tx.first_error().ok()) {
      // The callback went on after a failed statement; PostgreSQL rolled the
      // whole transaction back, so report that error rather than commit.
      st = tx.first_error();
    }
    if (st.ok()) st = tx.Commit();
    return st;
  }

  Status Run(Mode mode, const std::function<Status(Transaction&)>& fn, int64_t key = 0) {
    ASSIGN_OR_RETURN(std::unique_ptr<Connection> conn, Acquire());
    Status st;
    bool reconnected = false;
    for (int attempt = 0; attempt < kMaxAttempts; ++attempt) {
      // Optimistic first (writers run concurrently, sharing an advisory
      // lock); a transaction that has lost a conflict retries holding that
      // lock exclusively: it waits for the writers in flight, then runs
      // alone, so writers colliding on hot rows cannot livelock.
      bool began = false;
      st = Attempt(*conn, mode, fn, &began, mode == Mode::kWrite && attempt > 0, key, attempt);
      if (conn->broken()) {
        // A pooled connection the server closed while idle fails at BEGIN:
        // nothing ran, so one fresh connection may retry. A connection lost
        // later may have lost a COMMIT: never retried.
        Release(std::move(conn));
        if (began || reconnected) return st;
        reconnected = true;
        ASSIGN_OR_RETURN(conn, OpenConnection());
        continue;
      }
      if (st.ok() || !IsRetryable(st)) break;
      retries.fetch_add(1, std::memory_order_relaxed);
      BackoffBeforeRetry(attempt);
    }
    Release(std::move(conn));
    return st;
  }
};

namespace {

// LISTEN on a connection of its own, on a thread of its own; reconnects
// (after a pause, interruptible by the destructor) when the connection drops.
class PostgresSubscription final : public Subscription {
 public:
  PostgresSubscription(PostgresDatabase::Impl& impl, std::string channel,
                       std::function<void()> on_notify, int stop_fd)
      : impl_(impl),
        channel_(std::move(channel)),
        on_notify_(std::move(on_notify)),
        stop_fd_(stop_fd),
        thread_([this] { Loop(); }) {}

  ~PostgresSubscription() override {
    const uint64_t one = 1;
    (void)!write(stop_fd_, &one, sizeof(one));
    thread_.join();
    close(stop_fd_);
  }

 private:
  // Waits until `fd` is readable or the subscription stops (false), at most
  // `timeout_ms` (-1: no limit).
  bool WaitReadable(int fd, int timeout_ms) {
    pollfd fds[2] = {{stop_fd_, POLLIN, 0}, {fd, POLLIN, 0}};
    int n = poll(fds, fd >= 0 ? 2 : 1, timeout_ms);
    return !(n > 0 && (fds[0].revents & POLLIN) != 0);
  }

  void Loop() {
    std::unique_ptr<Connection> conn;
    while (true) {
      if (conn == nullptr) {
        auto fresh = impl_.OpenConnection();
        if (fresh.ok() && (*fresh)->ExecScript("LISTEN " + channel_).ok()) {
          conn = std::move(*fresh);
          on_notify_();  // whatever was committed while not listening
        } else if (!WaitReadable(-1, 1000)) {
          return;
        }
        continue;
      }
      if (!WaitReadable(PQsocket(conn->conn()), -1)) return;
      if (PQconsumeInput(conn->conn()) == 0) {
        conn.reset();
        continue;
      }
      bool any = false;
      while (PGnotify* n = PQnotifies(conn->conn())) {
        any = true;
        PQfreemem(n);
      }
      if (any) on_notify_();
    }
  }

  PostgresDatabase::Impl& impl_;
  const std::string channel_;
  const std::function<void()> on_notify_;
  const int stop_fd_;
  std::thread thread_;  // last: starts after the members it uses
};

}  // namespace

PostgresDatabase::PostgresDatabase(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
PostgresDatabase::~PostgresDatabase() = default;

StatusOr<std::unique_ptr<PostgresDatabase>> PostgresDatabase::OpenUri(std::string_view uri) {
  if (!uri.starts_with("postgres://") && !uri.starts_with("postgresql://")) {
    return InvalidArgumentError("bad postgres URI '" + std::string(uri) +
                                "' (expected postgres://user@host:port/db)");
  }
  char* err = nullptr;
  PQconninfoOption* opts = PQconninfoParse(std::string(uri).c_str(), &err);
  if (opts == nullptr) {
    std::string msg = err != nullptr ? err : "unparsable";
    PQfreemem(err);
    while (!msg.empty() && std::isspace(static_cast<unsigned char>(msg.back()))) msg.pop_back();
    return InvalidArgumentError("bad postgres URI '" + std::string(uri) + "': " + msg);
  }
  PQconninfoFree(opts);
  auto impl = std::make_unique<Impl>();
  impl->uri = std::string(uri);
  ASSIGN_OR_RETURN(std::unique_ptr<Connection> conn, impl->OpenConnection());
  impl->Release(std::move(conn));
  return std::unique_ptr<PostgresDatabase>(new PostgresDatabase(std::move(impl)));
}

Status PostgresDatabase::WithTransaction(const std::function<Status(Transaction&)>& fn) {
  return impl_->Run(Mode::kWrite, fn);
}

Status PostgresDatabase::WithKeyedTransaction(std::string_view key,
                                              const std::function<Status(Transaction&)>& fn) {
  return impl_->Run(Mode::kKeyed, fn, KeyedLockKey(key));
}

Status PostgresDatabase::Read(const std::function<Status(Transaction&)>& fn) {
  return impl_->Run(Mode::kRead, fn);
}

std::string PostgresDatabase::uri() const { return impl_->uri; }

StatusOr<std::unique_ptr<Subscription>> PostgresDatabase::Listen(std::string_view channel,
                                                                 std::function<void()> on_notify) {
  if (channel.empty() || channel.size() > 63 ||
      !std::all_of(channel.begin(), channel.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
      })) {
    return InvalidArgumentError("bad notification channel '" + std::string(channel) +
                                "' (1..63 of a-z, 0-9, _)");
  }
  int stop_fd = eventfd(0, EFD_CLOEXEC);
  if (stop_fd < 0) return InternalError("eventfd: " + std::string(std::strerror(errno)));
  return std::unique_ptr<Subscription>(std::make_unique<PostgresSubscription>(
      *impl_, std::string(channel), std::move(on_notify), stop_fd));
}

namespace {

// The advisory lock key of a HoldLock key (a space apart from the keyed
// transactions' keys: the prefix differs).
int64_t SessionLockKey(std::string_view key) { return KeyedLockKey("lock:" + std::string(key)); }

// A session-level advisory lock on a pooled connection kept out of the pool
// until the lock is released.
class PostgresHeldLock final : public HeldLock {
 public:
  PostgresHeldLock(PostgresDatabase::Impl& impl, std::unique_ptr<Connection> conn, int64_t key)
      : impl_(impl), conn_(std::move(conn)), key_(key) {}
  ~PostgresHeldLock() override {
    absl::MutexLock lock(&mu_);
    if (conn_->broken()) return;  // the server released it with the session
    auto unlocked = conn_->Run("SELECT pg_advisory_unlock(?)", {key_});
    if (unlocked.ok() && conn_->idle()) impl_.Release(std::move(conn_));
  }
  Status Check() override {
    absl::MutexLock lock(&mu_);
    if (!conn_->broken()) {
      auto alive = conn_->Run("SELECT 1", {});
      if (alive.ok()) return OkStatus();
    }
    return UnavailableError("the advisory lock's connection to postgres was lost");
  }

 private:
  PostgresDatabase::Impl& impl_;
  absl::Mutex mu_;
  std::unique_ptr<Connection> conn_ ABSL_GUARDED_BY(mu_);
  const int64_t key_;
};

}  // namespace

StatusOr<std::unique_ptr<HeldLock>> PostgresDatabase::HoldLock(std::string_view key, bool wait) {
  const int64_t k = SessionLockKey(key);
  ASSIGN_OR_RETURN(std::unique_ptr<Connection> conn, impl_->Acquire());
  if (wait) {
    auto locked = conn->Run("SELECT pg_advisory_lock(?)", {k});
    if (!locked.ok()) return locked.status();
  } else {
    auto locked = conn->Run("SELECT pg_try_advisory_lock(?)", {k});
    if (!locked.ok()) return locked.status();
    if (CellValue(locked->get(), 0, 0) != Value(int64_t{1})) {
      impl_->Release(std::move(conn));
      return UnavailableError("lock '" + std::string(key) + "' is held by another session");
    }
  }
  return std::unique_ptr<HeldLock>(std::make_unique<PostgresHeldLock>(*impl_, std::move(conn), k));
}

StatusOr<std::optional<bool>> PostgresDatabase::LockHeld(std::string_view key) {
  // A bigint advisory key shows in pg_locks as classid (high 32 bits),
  // objid (low 32 bits), objsubid 1.
  const uint64_t k = static_cast<uint64_t>(SessionLockKey(key));
  const int64_t high = static_cast<int64_t>(k >> 32), low = static_cast<int64_t>(k & 0xffffffffU);
  int64_t held = 0;
  RETURN_IF_ERROR(Read([&](Transaction& tx) -> Status {
    ASSIGN_OR_RETURN(Row row,
                     tx.QueryOne("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND "
                                 "objsubid = 1 AND granted AND classid::bigint = ? AND "
                                 "objid::bigint = ? AND database = (SELECT oid FROM pg_database "
                                 "WHERE datname = current_database())",
                                 {high, low}));
    held = row.Int(0);
    return OkStatus();
  }));
  return std::optional<bool>(held > 0);
}

int64_t PostgresDatabase::retries() const { return impl_->retries.load(); }

Status PostgresDatabase::ExecAutocommit(std::string_view sql) {
  ASSIGN_OR_RETURN(std::unique_ptr<Connection> conn, impl_->Acquire());
  Status st = conn->ExecScript(sql);
  impl_->Release(std::move(conn));
  return st;
}

Status PostgresDatabase::Migrate(std::string_view component,
                                 const std::vector<Migration>& migrations) {
  ASSIGN_OR_RETURN(std::vector<const Migration*> ordered, OrderMigrations(component, migrations));
  const std::string comp(component);
  // Each migration in its own READ COMMITTED transaction that first takes the
  // cluster-wide advisory lock: concurrent processes apply it one at a time,
  // and the later ones see it recorded (each statement takes a new snapshot).
  for (const Migration* m : ordered) {
    ASSIGN_OR_RETURN(std::unique_ptr<Connection> conn, impl_->Acquire());
    Status st = impl_->Attempt(*conn, Mode::kMigrate, [&](Transaction& tx) -> Status {
      RETURN_IF_ERROR(tx.Query("SELECT pg_advisory_xact_lock(?)", {kMigrationLockKey}).status());
      RETURN_IF_ERROR(conn->ExecScript(kSchemaMigrationsDdl));
      return ApplyMigrationOnce(tx, comp, *m,
                                [&](std::string_view sql) { return conn->ExecScript(sql); });
    });
    impl_->Release(std::move(conn));
    RETURN_IF_ERROR(Annotate(
        st, "migration " + comp + "/" + std::to_string(m->version) + " (" + m->name + ")"));
  }
  return OkStatus();
}

std::string RewritePlaceholders(std::string_view sql, int* count) {
  ScanResult r = Scan(sql);
  if (count != nullptr) *count = r.count;
  return std::move(r.text);
}

StatusOr<std::string> WithDatabaseName(std::string_view uri, std::string_view dbname) {
  size_t scheme = uri.find("://");
  if (scheme == std::string_view::npos ||
      (uri.substr(0, scheme) != "postgres" && uri.substr(0, scheme) != "postgresql")) {
    return InvalidArgumentError("not a postgres URI: '" + std::string(uri) + "'");
  }
  size_t query = uri.find('?', scheme + 3);
  std::string_view head = uri.substr(0, query);
  std::string_view tail = query == std::string_view::npos ? "" : uri.substr(query);
  size_t slash = head.find('/', scheme + 3);
  std::string_view authority = head.substr(0, slash);
  return std::string(authority) + "/" + std::string(dbname) + std::string(tail);
}

}  // namespace tandem::sql
