#include "glue/sql/sqlite_database.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <chrono>
#include <cstring>
#include <map>
#include <optional>
#include <random>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "common/uri.h"

namespace tandem::sql {
namespace {

constexpr int kBusyTimeoutMs = 5000;
constexpr int kMaxAttempts = 12;
constexpr size_t kMaxCachedStatements = 256;
constexpr size_t kMaxIdleConnections = 16;

std::string Snippet(std::string_view sql) {
  std::string s(sql.substr(0, 80));
  std::replace(s.begin(), s.end(), '\n', ' ');
  return s;
}

// Maps a SQLite result code to a canonical Status.
Status SqliteError(sqlite3* db, int rc, std::string_view sql) {
  int ext = db != nullptr ? sqlite3_extended_errcode(db) : rc;
  std::string msg = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  msg = "sqlite: " + msg + " [in: " + Snippet(sql) + "]";
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return AbortedError(msg);
    case SQLITE_CONSTRAINT:
      if (ext == SQLITE_CONSTRAINT_UNIQUE || ext == SQLITE_CONSTRAINT_PRIMARYKEY) {
        return AlreadyExistsError(msg);
      }
      return InvalidArgumentError(msg);
    case SQLITE_RANGE:
    case SQLITE_MISMATCH:
    case SQLITE_TOOBIG:
      return InvalidArgumentError(msg);
    default:
      return InternalError(msg);
  }
}

// One sqlite3 handle with its prepared statement cache. Used by one thread at
// a time (handed out by the pool).
class Connection {
 public:
  explicit Connection(sqlite3* db) : db_(db) {}
  ~Connection() {
    for (auto& [sql, stmt] : cache_) sqlite3_finalize(stmt);
    sqlite3_close_v2(db_);
  }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  sqlite3* db() const { return db_; }

  // Runs SQL text without parameters, possibly several statements.
  Status ExecScript(std::string_view sql) {
    const char* tail = sql.data();
    const char* end = sql.data() + sql.size();
    while (tail < end) {
      sqlite3_stmt* stmt = nullptr;
      const char* next = nullptr;
      int rc = sqlite3_prepare_v2(db_, tail, static_cast<int>(end - tail), &stmt, &next);
      if (rc != SQLITE_OK) return SqliteError(db_, rc, std::string_view(tail, end - tail));
      if (stmt == nullptr) break;  // only whitespace/comments left
      do {
        rc = sqlite3_step(stmt);
      } while (rc == SQLITE_ROW);
      Status st = rc == SQLITE_DONE ? OkStatus() : SqliteError(db_, rc, sqlite3_sql(stmt));
      sqlite3_finalize(stmt);
      RETURN_IF_ERROR(st);
      tail = next;
    }
    return OkStatus();
  }

  // One statement without parameters, prepared once per connection: BEGIN
  // and COMMIT of every transaction (parsing them each time through
  // ExecScript was ~5% of a job control plane's CPU).
  Status ExecCached(std::string_view sql) {
    ASSIGN_OR_RETURN(sqlite3_stmt * stmt, Prepare(sql, {}));
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
    }
    Status st = rc == SQLITE_DONE ? OkStatus() : SqliteError(db_, rc, sql);
    sqlite3_reset(stmt);
    return st;
  }

  // Prepares (or reuses) a single statement and binds `params`.
  StatusOr<sqlite3_stmt*> Prepare(std::string_view sql, const std::vector<Value>& params) {
    std::string key(sql);
    sqlite3_stmt* stmt = nullptr;
    auto it = cache_.find(key);
    if (it != cache_.end()) {
      stmt = it->second;
    } else {
      const char* tail = nullptr;
      int rc = sqlite3_prepare_v3(db_, key.c_str(), static_cast<int>(key.size()),
                                  SQLITE_PREPARE_PERSISTENT, &stmt, &tail);
      if (rc != SQLITE_OK) return SqliteError(db_, rc, sql);
      if (stmt == nullptr) return InvalidArgumentError("empty SQL statement");
      if (tail != nullptr &&
          std::string_view(tail).find_first_not_of(" \t\r\n;") != std::string_view::npos) {
        sqlite3_finalize(stmt);
        return InvalidArgumentError("more than one SQL statement in: " + Snippet(sql));
      }
      if (cache_.size() >= kMaxCachedStatements) ClearCache();
      cache_.emplace(std::move(key), stmt);
    }
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
    int expected = sqlite3_bind_parameter_count(stmt);
    if (expected != static_cast<int>(params.size())) {
      return InvalidArgumentError("statement expects " + std::to_string(expected) +
                                  " parameters, got " + std::to_string(params.size()) + ": " +
                                  Snippet(sql));
    }
    for (int i = 0; i < expected; ++i) {
      const Value& v = params[i];
      int rc = SQLITE_OK;
      if (const auto* p = std::get_if<int64_t>(&v)) {
        rc = sqlite3_bind_int64(stmt, i + 1, *p);
      } else if (const auto* p = std::get_if<double>(&v)) {
        rc = sqlite3_bind_double(stmt, i + 1, *p);
      } else if (const auto* p = std::get_if<std::string>(&v)) {
        rc = sqlite3_bind_text64(stmt, i + 1, p->data(), p->size(), SQLITE_TRANSIENT, SQLITE_UTF8);
      } else {
        rc = sqlite3_bind_null(stmt, i + 1);
      }
      if (rc != SQLITE_OK) return SqliteError(db_, rc, sql);
    }
    return stmt;
  }

 private:
  void ClearCache() {
    for (auto& [sql, stmt] : cache_) sqlite3_finalize(stmt);
    cache_.clear();
  }

  sqlite3* db_;
  std::map<std::string, sqlite3_stmt*, std::less<>> cache_;
};

Value ColumnValue(sqlite3_stmt* stmt, int i) {
  switch (sqlite3_column_type(stmt, i)) {
    case SQLITE_INTEGER:
      return static_cast<int64_t>(sqlite3_column_int64(stmt, i));
    case SQLITE_FLOAT:
      return sqlite3_column_double(stmt, i);
    case SQLITE_TEXT:
    case SQLITE_BLOB: {
      const void* data = sqlite3_column_blob(stmt, i);
      int n = sqlite3_column_bytes(stmt, i);
      return std::string(static_cast<const char*>(data), static_cast<size_t>(n));
    }
    default:
      return std::monostate{};
  }
}

class SqliteTransaction final : public Transaction {
 public:
  SqliteTransaction(Connection& conn, bool read_only) : conn_(conn), read_only_(read_only) {}

  StatusOr<std::vector<Row>> Query(std::string_view sql,
                                   const std::vector<Value>& params) override {
    ASSIGN_OR_RETURN(sqlite3_stmt * stmt, Run(sql, params));
    std::vector<Row> rows;
    int ncol = sqlite3_column_count(stmt);
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
      std::vector<Value> cells;
      cells.reserve(ncol);
      for (int i = 0; i < ncol; ++i) cells.push_back(ColumnValue(stmt, i));
      rows.emplace_back(std::move(cells));
    }
    Status st = rc == SQLITE_DONE ? OkStatus() : SqliteError(conn_.db(), rc, sql);
    sqlite3_reset(stmt);
    RETURN_IF_ERROR(st);
    return rows;
  }

  StatusOr<int64_t> Exec(std::string_view sql, const std::vector<Value>& params) override {
    ASSIGN_OR_RETURN(sqlite3_stmt * stmt, Run(sql, params));
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
    }
    Status st = rc == SQLITE_DONE ? OkStatus() : SqliteError(conn_.db(), rc, sql);
    sqlite3_reset(stmt);
    RETURN_IF_ERROR(st);
    return static_cast<int64_t>(sqlite3_changes(conn_.db()));
  }

  Dialect dialect() const override { return Dialect::kSqlite; }

 private:
  StatusOr<sqlite3_stmt*> Run(std::string_view sql, const std::vector<Value>& params) {
    ASSIGN_OR_RETURN(sqlite3_stmt * stmt, conn_.Prepare(sql, params));
    if (read_only_ && !sqlite3_stmt_readonly(stmt)) {
      return FailedPreconditionError("write statement inside Database::Read: " + Snippet(sql));
    }
    return stmt;
  }

  Connection& conn_;
  bool read_only_;
};

}  // namespace

struct SqliteDatabase::Impl {
  std::string path;
  // An in-memory database (OpenMemory): `path` names it in SQLite's memdb
  // VFS, shared by this process's connections and gone with the last one;
  // `anchor` keeps it alive while the Database exists.
  bool memory = false;
  std::unique_ptr<Connection> anchor;
  absl::Mutex mu;
  std::vector<std::unique_ptr<Connection>> idle ABSL_GUARDED_BY(mu);
  // Write transactions of this process take turns here rather than in
  // SQLite's busy handler, which sleeps (1, 2, 5 ... 100 ms) while another of
  // our connections holds the write lock; other processes still meet the
  // busy timeout.
  absl::Mutex write_mu;
  std::atomic<int64_t> retries{0};

  StatusOr<std::unique_ptr<Connection>> OpenConnection() {
    sqlite3* db = nullptr;
    const std::string name = memory ? "file:" + path + "?vfs=memdb" : path;
    int rc = sqlite3_open_v2(
        name.c_str(), &db,
        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_URI,
        nullptr);
    if (rc != SQLITE_OK) {
      std::string msg = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
      sqlite3_close_v2(db);
      return UnavailableError("cannot open sqlite database '" + path + "': " + msg);
    }
    auto conn = std::make_unique<Connection>(db);
    sqlite3_extended_result_codes(db, 1);
    sqlite3_busy_timeout(db, kBusyTimeoutMs);
    // journal_mode=WAL itself may meet a busy lock while another process
    // creates the file; retry it a few times.
    Status st;
    for (int attempt = 0; !memory && attempt < kMaxAttempts; ++attempt) {
      st = conn->ExecScript("PRAGMA journal_mode=WAL");
      if (st.ok() || !IsRetryable(st)) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(5 << std::min(attempt, 5)));
    }
    RETURN_IF_ERROR(Annotate(st, "opening " + path));
    RETURN_IF_ERROR(
        conn->ExecScript("PRAGMA foreign_keys=ON; PRAGMA synchronous=NORMAL; "
                         "PRAGMA temp_store=MEMORY"));
    return conn;
  }

  StatusOr<std::unique_ptr<Connection>> Acquire() {
    {
      absl::MutexLock lock(&mu);
      if (!idle.empty()) {
        auto conn = std::move(idle.back());
        idle.pop_back();
        return conn;
      }
    }
    return OpenConnection();
  }

  void Release(std::unique_ptr<Connection> conn) {
    // Leave no transaction open on a pooled connection.
    if (!sqlite3_get_autocommit(conn->db())) (void)conn->ExecScript("ROLLBACK");
    absl::MutexLock lock(&mu);
    if (idle.size() < kMaxIdleConnections) idle.push_back(std::move(conn));
  }

  // One attempt: BEGIN, fn, COMMIT or ROLLBACK.
  Status Attempt(Connection& conn, bool write, const std::function<Status(Transaction&)>& fn) {
    RETURN_IF_ERROR(conn.ExecCached(write ? "BEGIN IMMEDIATE" : "BEGIN DEFERRED"));
    SqliteTransaction tx(conn, !write);
    Status st = fn(tx);
    if (st.ok()) st = conn.ExecCached("COMMIT");
    if (!st.ok() && !sqlite3_get_autocommit(conn.db())) (void)conn.ExecScript("ROLLBACK");
    return st;
  }

  Status Run(bool write, const std::function<Status(Transaction&)>& fn) {
    ASSIGN_OR_RETURN(std::unique_ptr<Connection> conn, Acquire());
    Status st;
    for (int attempt = 0; attempt < kMaxAttempts; ++attempt) {
      {
        std::optional<absl::MutexLock> turn;
        if (write) turn.emplace(&write_mu);
        st = Attempt(*conn, write, fn);
      }
      if (st.ok() || !IsRetryable(st)) break;
      retries.fetch_add(1, std::memory_order_relaxed);
      BackoffBeforeRetry(attempt);
    }
    Release(std::move(conn));
    return st;
  }
};

SqliteDatabase::SqliteDatabase(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
SqliteDatabase::~SqliteDatabase() = default;

StatusOr<std::unique_ptr<SqliteDatabase>> SqliteDatabase::OpenFile(std::string_view path) {
  if (path.empty() || path.front() != '/') {
    return InvalidArgumentError("sqlite database path must be absolute, got '" + std::string(path) +
                                "'");
  }
  auto impl = std::make_unique<Impl>();
  impl->path = std::string(path);
  ASSIGN_OR_RETURN(std::unique_ptr<Connection> conn, impl->OpenConnection());
  impl->Release(std::move(conn));
  return std::unique_ptr<SqliteDatabase>(new SqliteDatabase(std::move(impl)));
}

StatusOr<std::unique_ptr<SqliteDatabase>> SqliteDatabase::OpenMemory() {
  static std::atomic<int64_t> next{1};
  auto impl = std::make_unique<Impl>();
  impl->memory = true;
  impl->path = "/tandem-memory-" + std::to_string(::getpid()) + "-" + std::to_string(next++);
  ASSIGN_OR_RETURN(impl->anchor, impl->OpenConnection());
  return std::unique_ptr<SqliteDatabase>(new SqliteDatabase(std::move(impl)));
}

StatusOr<std::unique_ptr<SqliteDatabase>> SqliteDatabase::OpenUri(std::string_view uri) {
  StatusOr<Uri> parsed = ParseUri(uri);
  if (!parsed.ok() || parsed->scheme != "sqlite" || !parsed->authority.empty() ||
      parsed->path.size() < 2 || parsed->path.front() != '/') {
    return InvalidArgumentError("bad sqlite URI '" + std::string(uri) +
                                "' (expected sqlite:///abs/path.db)");
  }
  return OpenFile(parsed->path);
}

Status SqliteDatabase::WithTransaction(const std::function<Status(Transaction&)>& fn) {
  return impl_->Run(/*write=*/true, fn);
}

Status SqliteDatabase::Read(const std::function<Status(Transaction&)>& fn) {
  return impl_->Run(/*write=*/false, fn);
}

namespace {

// An flock on a file of its own, held until destroyed (the kernel releases it
// when the process dies).
class SqliteHeldLock final : public HeldLock {
 public:
  explicit SqliteHeldLock(int fd) : fd_(fd) {}
  ~SqliteHeldLock() override { ::close(fd_); }  // closing releases the flock
  Status Check() override { return OkStatus(); }  // a local lock cannot be lost

 private:
  const int fd_;
};

}  // namespace

// <db>.locks/<FNV-1a of the key, hex>: one file per key, beside the database.
StatusOr<std::string> SqliteDatabase::LockFile(std::string_view key) const {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : key) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  const std::string dir = impl_->path + ".locks";
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return UnavailableError("cannot create lock directory '" + dir + "': " + std::strerror(errno));
  }
  char name[17];
  std::snprintf(name, sizeof(name), "%016llx", static_cast<unsigned long long>(h));
  return dir + "/" + name;
}

StatusOr<std::unique_ptr<HeldLock>> SqliteDatabase::HoldLock(std::string_view key, bool wait) {
  if (impl_->memory) return std::unique_ptr<HeldLock>();
  ASSIGN_OR_RETURN(std::string file, LockFile(key));
  int fd = ::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return UnavailableError("cannot open lock file '" + file + "': " + std::strerror(errno));
  int rc;
  do {
    rc = ::flock(fd, LOCK_EX | (wait ? 0 : LOCK_NB));
  } while (rc != 0 && errno == EINTR);
  if (rc != 0) {
    const int err = errno;
    ::close(fd);
    if (err == EWOULDBLOCK) {
      return UnavailableError("lock '" + std::string(key) + "' is held by another holder");
    }
    return UnavailableError("cannot lock '" + file + "': " + std::strerror(err));
  }
  return std::unique_ptr<HeldLock>(std::make_unique<SqliteHeldLock>(fd));
}

StatusOr<std::optional<bool>> SqliteDatabase::LockHeld(std::string_view key) {
  if (impl_->memory) return std::optional<bool>();
  ASSIGN_OR_RETURN(std::string file, LockFile(key));
  int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return std::optional<bool>(false);  // never taken
    return UnavailableError("cannot open lock file '" + file + "': " + std::strerror(errno));
  }
  // Probe with a shared lock: it conflicts only with a holder's exclusive one.
  int rc;
  do {
    rc = ::flock(fd, LOCK_SH | LOCK_NB);
  } while (rc != 0 && errno == EINTR);
  const int err = errno;
  ::close(fd);  // releases the probe's lock, if taken
  if (rc == 0) return std::optional<bool>(false);
  if (err == EWOULDBLOCK) return std::optional<bool>(true);
  return UnavailableError("cannot probe lock '" + file + "': " + std::strerror(err));
}

std::string SqliteDatabase::uri() const {
  return impl_->memory ? "sqlite::memory:" + impl_->path : "sqlite://" + impl_->path;
}

int64_t SqliteDatabase::retries() const { return impl_->retries.load(); }

Status SqliteDatabase::Migrate(std::string_view component,
                               const std::vector<Migration>& migrations) {
  ASSIGN_OR_RETURN(std::vector<const Migration*> ordered, OrderMigrations(component, migrations));
  RETURN_IF_ERROR(
      WithTransaction([](Transaction& tx) { return tx.Exec(kSchemaMigrationsDdl).status(); }));
  std::string comp(component);
  for (const Migration* m : ordered) {
    ASSIGN_OR_RETURN(std::unique_ptr<Connection> conn, impl_->Acquire());
    Status st;
    for (int attempt = 0; attempt < kMaxAttempts; ++attempt) {
      st = impl_->Attempt(*conn, /*write=*/true, [&](Transaction& tx) {
        return ApplyMigrationOnce(tx, comp, *m,
                                  [&](std::string_view sql) { return conn->ExecScript(sql); });
      });
      if (st.ok() || !IsRetryable(st)) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(1 << std::min(attempt, 6)));
    }
    impl_->Release(std::move(conn));
    RETURN_IF_ERROR(Annotate(
        st, "migration " + comp + "/" + std::to_string(m->version) + " (" + m->name + ")"));
  }
  return OkStatus();
}

}  // namespace tandem::sql
