// One libpq connection of the PostgreSQL backend (postgres_database.cc, its
// only includer: libpq stays out of every other header): prepared
// statements cached per connection, single statements, and batches sent in
// one round trip with libpq's pipeline mode. Plus the helpers both share
// (placeholder rewriting, error mapping, result cells).
#pragma once

#include <libpq-fe.h>
#include <poll.h>

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "glue/sql/database.h"

namespace tandem::sql::pg {

inline constexpr size_t kMaxPreparedStatements = 256;

// Result type OIDs (pg_type.h).
inline constexpr Oid kBoolOid = 16, kByteaOid = 17, kInt8Oid = 20, kInt2Oid = 21, kInt4Oid = 23,
              kOidOid = 26, kFloat4Oid = 700, kFloat8Oid = 701, kNumericOid = 1700;

inline std::string Snippet(std::string_view sql) {
  std::string s(sql.substr(0, 80));
  std::replace(s.begin(), s.end(), '\n', ' ');
  return s;
}

struct ScanResult {
  std::string text;
  int count = 0;
  bool multiple = false;  // a second statement follows a ';'
};

// One pass over the SQL text: rewrites placeholders and notes whether more
// than one statement is present. Strings, quoted identifiers, comments and
// dollar-quoted bodies are copied verbatim.
inline ScanResult Scan(std::string_view sql) {
  ScanResult r;
  r.text.reserve(sql.size() + 16);
  bool after_semicolon = false;
  size_t i = 0;
  auto copy_until = [&](size_t end) {
    r.text.append(sql.substr(i, end - i));
    i = end;
  };
  while (i < sql.size()) {
    char c = sql[i];
    if (after_semicolon && !std::isspace(static_cast<unsigned char>(c)) && c != ';') {
      r.multiple = true;
    }
    if (c == '\'' || c == '"') {
      size_t j = i + 1;
      while (j < sql.size()) {
        if (sql[j] == c) {
          if (j + 1 < sql.size() && sql[j + 1] == c) {
            j += 2;  // doubled quote: escaped
            continue;
          }
          break;
        }
        ++j;
      }
      copy_until(std::min(j + 1, sql.size()));
    } else if (c == '-' && i + 1 < sql.size() && sql[i + 1] == '-') {
      size_t j = sql.find('\n', i);
      copy_until(j == std::string_view::npos ? sql.size() : j);
    } else if (c == '/' && i + 1 < sql.size() && sql[i + 1] == '*') {
      size_t j = sql.find("*/", i + 2);
      copy_until(j == std::string_view::npos ? sql.size() : j + 2);
    } else if (c == '$' && (i == 0 || !std::isalnum(static_cast<unsigned char>(sql[i - 1])))) {
      // $tag$ ... $tag$ (tag may be empty); `$1` style text is left alone.
      size_t j = i + 1;
      while (j < sql.size() && (std::isalnum(static_cast<unsigned char>(sql[j])) || sql[j] == '_'))
        ++j;
      if (j < sql.size() && sql[j] == '$' &&
          !std::isdigit(static_cast<unsigned char>(sql[i + 1]))) {
        std::string_view tag = sql.substr(i, j - i + 1);
        size_t end = sql.find(tag, j + 1);
        copy_until(end == std::string_view::npos ? sql.size() : end + tag.size());
      } else {
        copy_until(i + 1);
      }
    } else if (c == '?') {
      r.text += '$';
      r.text += std::to_string(++r.count);
      ++i;
    } else {
      if (c == ';') after_semicolon = true;
      r.text += c;
      ++i;
    }
  }
  return r;
}

// Maps a failed result (or a connection-level failure when `res` is null) to
// a canonical Status naming the statement.
inline Status PgError(PGconn* conn, const PGresult* res, std::string_view sql) {
  const char* state = res != nullptr ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : nullptr;
  std::string msg = res != nullptr ? PQresultErrorMessage(res) : "";
  if (msg.empty()) msg = PQerrorMessage(conn);
  while (!msg.empty() && std::isspace(static_cast<unsigned char>(msg.back()))) msg.pop_back();
  std::string code = state != nullptr ? state : "";
  msg = "postgres: " + msg + (code.empty() ? "" : " (SQLSTATE " + code + ")") +
        " [in: " + Snippet(sql) + "]";
  if (PQstatus(conn) == CONNECTION_BAD || code.starts_with("08") || code == "57P01" ||
      code == "57P02" || code == "57P03") {
    return UnavailableError(msg);
  }
  if (code == "40001" || code == "40P01" || code == "55P03") return AbortedError(msg);
  if (code == "23505") return AlreadyExistsError(msg);
  if (code.starts_with("23") || code.starts_with("22")) return InvalidArgumentError(msg);
  if (code == "25006") return FailedPreconditionError(msg);
  return InternalError(msg);
}

using ResultPtr = std::unique_ptr<PGresult, decltype(&PQclear)>;

inline ResultPtr Wrap(PGresult* r) { return ResultPtr(r, &PQclear); }

inline bool ResultOk(const PGresult* r) {
  ExecStatusType s = PQresultStatus(r);
  return s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK || s == PGRES_EMPTY_QUERY;
}

inline std::string FormatDouble(double d) {
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), d);
  std::string s(buf, end);
  if (s == "inf") return "Infinity";
  if (s == "-inf") return "-Infinity";
  if (s == "nan" || s == "-nan") return "NaN";
  return s;
}

inline Value CellValue(const PGresult* res, int row, int col) {
  if (PQgetisnull(res, row, col)) return std::monostate{};
  const char* text = PQgetvalue(res, row, col);
  int len = PQgetlength(res, row, col);
  switch (PQftype(res, col)) {
    case kInt2Oid:
    case kInt4Oid:
    case kInt8Oid:
    case kOidOid:
      return static_cast<int64_t>(std::strtoll(text, nullptr, 10));
    case kBoolOid:
      return static_cast<int64_t>(text[0] == 't' ? 1 : 0);
    case kFloat4Oid:
    case kFloat8Oid:
      return std::strtod(text, nullptr);
    case kNumericOid: {
      // SUM/AVG over integers yield numeric: integral values read as int64.
      int64_t v = 0;
      auto [end, ec] = std::from_chars(text, text + len, v);
      if (ec == std::errc() && end == text + len) return v;
      return std::strtod(text, nullptr);
    }
    case kByteaOid: {
      size_t n = 0;
      unsigned char* raw = PQunescapeBytea(reinterpret_cast<const unsigned char*>(text), &n);
      std::string out(reinterpret_cast<const char*>(raw), n);
      PQfreemem(raw);
      return out;
    }
    default:
      return std::string(text, static_cast<size_t>(len));
  }
}

// One libpq connection with its prepared statements. Used by one thread at a
// time (handed out by the pool).
class Connection {
 public:
  explicit Connection(PGconn* conn) : conn_(conn) {}
  ~Connection() { PQfinish(conn_); }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  PGconn* conn() const { return conn_; }
  // Lost, or left in an unknown protocol state by a failed pipeline.
  bool broken() const { return poisoned_ || PQstatus(conn_) == CONNECTION_BAD; }
  bool idle() const { return PQtransactionStatus(conn_) == PQTRANS_IDLE; }

  // False (and the connection is not to be used again) if the server has
  // closed this idle connection or is closing it: its socket is readable
  // with nothing asked (a FATAL goodbye, EOF). Nothing is sent.
  bool AliveBeforeSend() {
    if (broken()) return false;
    pollfd fd = {PQsocket(conn_), POLLIN, 0};
    if (fd.fd >= 0 && poll(&fd, 1, 0) == 0) return true;  // as alive as can be known
    (void)PQconsumeInput(conn_);
    poisoned_ = true;
    return false;
  }

  // Sends COMMIT without waiting for its result: for a read-only
  // transaction whose statements all succeeded, where nothing can be lost.
  // FinishCommit collects the result before the connection's next use.
  Status SendCommitNoWait() {
    if (PQsendQuery(conn_, "COMMIT") != 1) return PgError(conn_, nullptr, "COMMIT");
    commit_in_flight_ = true;
    return OkStatus();
  }
  bool commit_in_flight() const { return commit_in_flight_; }
  // False (and the connection is not to be used again) if that COMMIT failed.
  bool FinishCommit() {
    if (!commit_in_flight_) return true;
    commit_in_flight_ = false;
    bool ok = true;
    while (PGresult* r = PQgetResult(conn_)) {
      if (PQresultStatus(r) != PGRES_COMMAND_OK) ok = false;
      PQclear(r);
    }
    if (!ok || !idle()) poisoned_ = true;
    return !broken();
  }

  // Simple-protocol execution: no parameters, several statements allowed.
  Status ExecScript(std::string_view sql) {
    ResultPtr res = Wrap(PQexec(conn_, std::string(sql).c_str()));
    if (res == nullptr || !ResultOk(res.get())) return PgError(conn_, res.get(), sql);
    return OkStatus();
  }

  // A statement with `?` parameters, held back to go with the next batch.
  struct Pending {
    std::string sql;
    std::vector<Value> params;
    bool keep = false;  // RunBatch hands back its result (a prefetched query)
    // Called by RunBatch once this statement's result has arrived (the
    // server is asked to send it without waiting for the batch's end), or
    // as RunBatch returns if it never does; at most once.
    std::function<void()> then = nullptr;
  };

  // The parameter count of `sql` (cached with its prepared statement), or
  // InvalidArgument for several statements or a count other than `given`.
  Status Check(std::string_view sql, size_t given) {
    Statement fresh;
    ASSIGN_OR_RETURN(const Statement* stmt, Lookup(sql, fresh));
    return CheckCount(*stmt, given, sql);
  }

  // Runs one statement with `?` parameters; the caller checks the result.
  StatusOr<ResultPtr> Run(std::string_view sql, const std::vector<Value>& params) {
    std::string key(sql);
    Statement fresh;
    ASSIGN_OR_RETURN(const Statement* stmt, Lookup(sql, fresh));
    RETURN_IF_ERROR(CheckCount(*stmt, params.size(), sql));
    std::vector<std::string> texts;
    std::vector<const char*> values;
    RETURN_IF_ERROR(Encode(params, sql, texts, values));
    const int n = static_cast<int>(params.size());
    if (stmt == &fresh && prepared_.size() < kMaxPreparedStatements) {
      fresh.name = "tandem_" + std::to_string(next_id_++);
      ResultPtr prep = Wrap(PQprepare(conn_, fresh.name.c_str(), fresh.text.c_str(), n, nullptr));
      if (prep == nullptr || !ResultOk(prep.get())) return PgError(conn_, prep.get(), sql);
      stmt = &prepared_.emplace(std::move(key), std::move(fresh)).first->second;
    }
    PGresult* res = stmt->name.empty() ? PQexecParams(conn_, stmt->text.c_str(), n, nullptr,
                                                      values.data(), nullptr, nullptr, 0)
                                       : PQexecPrepared(conn_, stmt->name.c_str(), n, values.data(),
                                                        nullptr, nullptr, 0);
    ResultPtr out = Wrap(res);
    if (out == nullptr || !ResultOk(out.get())) return PgError(conn_, out.get(), sql);
    return out;
  }

  // Sends `batch` in one round trip (libpq pipeline mode, one Sync at the
  // end) and returns the last statement's result, or the first failing
  // statement's error (the server skips the rest). Statements not prepared
  // yet are prepared in the same pipeline. Sets `sent` once anything may
  // have reached the server. The results of the items marked `keep` (other
  // than the last) are appended to `kept`, in order, when the batch succeeds.
  StatusOr<ResultPtr> RunBatch(const std::vector<Pending>& batch, bool* sent,
                               std::vector<ResultPtr>* kept = nullptr) {
    *sent = false;
    if (batch.empty()) return InternalError("postgres: empty statement batch");
    // Everything that can fail before sending, first.
    struct Item {
      const Pending* p;
      std::string name;  // prepared statement to execute ("" = unnamed)
      std::string text;  // for an unnamed one
      bool prepare = false;
      std::vector<std::string> texts;
      std::vector<const char*> values;
    };
    std::vector<Item> items(batch.size());
    // Every `then` is called once, at the latest as this returns.
    std::vector<bool> called(batch.size(), false);
    auto call_then = [&](size_t i) {
      if (!called[i] && batch[i].then) {
        called[i] = true;
        batch[i].then();
      }
    };
    struct CallRest {
      std::function<void()> fn;
      ~CallRest() { fn(); }
    } call_rest{[&] {
      for (size_t i = 0; i < batch.size(); ++i) call_then(i);
    }};
    std::vector<std::string> new_keys;
    for (size_t i = 0; i < batch.size(); ++i) {
      Item& it = items[i];
      it.p = &batch[i];
      Statement fresh;
      ASSIGN_OR_RETURN(const Statement* stmt, Lookup(it.p->sql, fresh));
      RETURN_IF_ERROR(CheckCount(*stmt, it.p->params.size(), it.p->sql));
      RETURN_IF_ERROR(Encode(it.p->params, it.p->sql, it.texts, it.values));
      if (stmt == &fresh && prepared_.size() < kMaxPreparedStatements) {
        fresh.name = "tandem_" + std::to_string(next_id_++);
        it.prepare = true;
        new_keys.push_back(it.p->sql);
        stmt = &prepared_.emplace(it.p->sql, std::move(fresh)).first->second;
      }
      it.name = stmt->name;
      it.text = stmt->text;
    }
    auto forget_new = [&] {
      for (const std::string& k : new_keys) prepared_.erase(k);
    };
    if (PQenterPipelineMode(conn_) != 1) {
      forget_new();
      return PgError(conn_, nullptr, "pipeline mode");
    }
    *sent = true;
    // Each sent message yields results then a NULL; the Sync yields
    // PGRES_PIPELINE_SYNC. `kinds` maps each message to its item (a
    // prepare is its item's negative index - 1).
    std::vector<int64_t> kinds;
    bool send_ok = true;
    for (size_t i = 0; i < items.size() && send_ok; ++i) {
      Item& it = items[i];
      const int n = static_cast<int>(it.values.size());
      if (it.prepare) {
        send_ok = PQsendPrepare(conn_, it.name.c_str(), it.text.c_str(), n, nullptr) == 1;
        kinds.push_back(-static_cast<int64_t>(i) - 1);
        if (!send_ok) break;
      }
      send_ok = it.name.empty() ? PQsendQueryParams(conn_, it.text.c_str(), n, nullptr,
                                                    it.values.data(), nullptr, nullptr, 0) == 1
                                : PQsendQueryPrepared(conn_, it.name.c_str(), n, it.values.data(),
                                                      nullptr, nullptr, 0) == 1;
      kinds.push_back(static_cast<int64_t>(i));
      if (send_ok && it.p->then) send_ok = PQsendFlushRequest(conn_) == 1;
    }
    if (!send_ok || PQpipelineSync(conn_) != 1) {
      Status st = PgError(conn_, nullptr, batch.front().sql);
      forget_new();
      // Unknown protocol state: the connection is not used again.
      poisoned_ = true;
      return st.ok() ? UnavailableError("postgres: pipeline send failed") : st;
    }
    Status first_error;
    ResultPtr last = Wrap(nullptr);
    std::vector<ResultPtr> kept_here;
    size_t slot = 0;  // index into kinds
    bool synced = false;
    while (!synced) {
      PGresult* raw = PQgetResult(conn_);
      if (raw == nullptr) {
        if (PQstatus(conn_) == CONNECTION_BAD) break;
        ++slot;  // the end of one message's results
        if (slot > kinds.size()) break;
        continue;
      }
      ResultPtr res = Wrap(raw);
      ExecStatusType status = PQresultStatus(raw);
      if (status == PGRES_PIPELINE_SYNC) {
        synced = true;
        break;
      }
      if (slot >= kinds.size()) continue;
      const int64_t kind = kinds[slot];
      const size_t item = static_cast<size_t>(kind < 0 ? -kind - 1 : kind);
      if (kind >= 0 && items[item].p->then) call_then(item);
      const std::string& sql = items[item].p->sql;
      if (status == PGRES_PIPELINE_ABORTED) {
        if (kind < 0) prepared_.erase(sql);
        continue;
      }
      if (!ResultOk(raw)) {
        if (kind < 0) prepared_.erase(sql);
        if (first_error.ok()) first_error = PgError(conn_, raw, sql);
        continue;
      }
      if (kind == static_cast<int64_t>(items.size()) - 1) {
        last = std::move(res);
      } else if (kind >= 0 && items[item].p->keep) {
        kept_here.push_back(std::move(res));
      }
    }
    if (!synced) {
      Status st = PgError(conn_, nullptr, batch.back().sql);
      poisoned_ = true;
      return !first_error.ok() ? first_error
                               : (st.ok() ? UnavailableError("postgres: pipeline lost") : st);
    }
    if (PQexitPipelineMode(conn_) != 1) {
      poisoned_ = true;
      return UnavailableError("postgres: could not leave pipeline mode");
    }
    if (!first_error.ok()) return first_error;
    if (last == nullptr) return InternalError("postgres: no result for " + Snippet(batch.back().sql));
    if (kept != nullptr) {
      for (ResultPtr& r : kept_here) kept->push_back(std::move(r));
    }
    return last;
  }

 private:
  struct Statement {
    std::string name;  // "" = not prepared (cache full)
    std::string text;  // with $n placeholders
    int params = 0;
  };

  // The cached statement for `sql`, or `fresh` filled in (not cached).
  StatusOr<const Statement*> Lookup(std::string_view sql, Statement& fresh) {
    auto it = prepared_.find(sql);
    if (it != prepared_.end()) return &it->second;
    ScanResult scan = Scan(sql);
    if (scan.multiple) {
      return InvalidArgumentError("more than one SQL statement in: " + Snippet(sql));
    }
    fresh.params = scan.count;
    fresh.text = std::move(scan.text);
    return &fresh;
  }

  static Status CheckCount(const Statement& stmt, size_t given, std::string_view sql) {
    if (static_cast<size_t>(stmt.params) != given) {
      return InvalidArgumentError("statement expects " + std::to_string(stmt.params) +
                                  " parameters, got " + std::to_string(given) + ": " +
                                  Snippet(sql));
    }
    return OkStatus();
  }

  // Parameters as text (`values` point into `texts`; NULL stays nullptr).
  static Status Encode(const std::vector<Value>& params, std::string_view sql,
                       std::vector<std::string>& texts, std::vector<const char*>& values) {
    texts.assign(params.size(), std::string());
    values.assign(params.size(), nullptr);
    for (size_t i = 0; i < params.size(); ++i) {
      const Value& v = params[i];
      if (const auto* p = std::get_if<int64_t>(&v)) {
        texts[i] = std::to_string(*p);
      } else if (const auto* p = std::get_if<double>(&v)) {
        texts[i] = FormatDouble(*p);
      } else if (const auto* p = std::get_if<std::string>(&v)) {
        if (p->find('\0') != std::string::npos) {
          return InvalidArgumentError(
              "parameter " + std::to_string(i + 1) +
              " contains a NUL byte, which PostgreSQL text cannot hold: " + Snippet(sql));
        }
        texts[i] = *p;
      } else {
        continue;  // NULL
      }
      values[i] = texts[i].c_str();
    }
    return OkStatus();
  }

  PGconn* conn_;
  bool poisoned_ = false;
  bool commit_in_flight_ = false;
  std::map<std::string, Statement, std::less<>> prepared_;
  int64_t next_id_ = 0;
};

}  // namespace tandem::sql::pg
