#include "glue/sql/database.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "common/uri.h"
#include "glue/sql/postgres_database.h"
#include "glue/sql/sqlite_database.h"

namespace tandem::sql {

int64_t Row::Int(size_t i) const {
  const Value& v = cells_.at(i);
  if (const auto* p = std::get_if<int64_t>(&v)) return *p;
  if (const auto* p = std::get_if<double>(&v)) return static_cast<int64_t>(*p);
  if (const auto* p = std::get_if<std::string>(&v)) return std::strtoll(p->c_str(), nullptr, 10);
  return 0;
}

double Row::Double(size_t i) const {
  const Value& v = cells_.at(i);
  if (const auto* p = std::get_if<double>(&v)) return *p;
  if (const auto* p = std::get_if<int64_t>(&v)) return static_cast<double>(*p);
  if (const auto* p = std::get_if<std::string>(&v)) return std::strtod(p->c_str(), nullptr);
  return 0.0;
}

std::string Row::Text(size_t i) const {
  const Value& v = cells_.at(i);
  if (const auto* p = std::get_if<std::string>(&v)) return *p;
  if (const auto* p = std::get_if<int64_t>(&v)) return std::to_string(*p);
  if (const auto* p = std::get_if<double>(&v)) {
    std::ostringstream os;
    os.precision(17);
    os << *p;
    return os.str();
  }
  return "";
}

StatusOr<Row> Transaction::QueryOne(std::string_view sql, const std::vector<Value>& params) {
  ASSIGN_OR_RETURN(std::vector<Row> rows, Query(sql, params));
  if (rows.empty()) {
    return NotFoundError("query returned no rows: " + std::string(sql.substr(0, 80)));
  }
  return std::move(rows.front());
}

StatusOr<std::unique_ptr<Database>> Database::Open(std::string_view uri) {
  StatusOr<Uri> parsed = ParseUri(uri);
  if (!parsed.ok()) {
    return InvalidArgumentError("database " + std::string(parsed.status().message()) +
                                " (expected sqlite:///abs/path.db or postgres://...)");
  }
  if (parsed->scheme == "sqlite") {
    ASSIGN_OR_RETURN(std::unique_ptr<SqliteDatabase> db, SqliteDatabase::OpenUri(uri));
    return std::unique_ptr<Database>(std::move(db));
  }
  if (parsed->scheme == "postgres" || parsed->scheme == "postgresql") {
    ASSIGN_OR_RETURN(std::unique_ptr<PostgresDatabase> db, PostgresDatabase::OpenUri(uri));
    return std::unique_ptr<Database>(std::move(db));
  }
  return InvalidArgumentError("unsupported database URI '" + std::string(uri) +
                              "' (expected sqlite:///abs/path.db or postgres://...)");
}

Status ApplyMigrationOnce(Transaction& tx, std::string_view component, const Migration& m,
                          const std::function<Status(std::string_view sql)>& exec_script) {
  const std::string comp(component);
  ASSIGN_OR_RETURN(auto rows, tx.Query("SELECT 1 FROM schema_migrations WHERE "
                                       "component = ? AND version = ?",
                                       {comp, int64_t{m.version}}));
  if (!rows.empty()) return OkStatus();  // applied already (maybe by another process)
  RETURN_IF_ERROR(exec_script(m.sql));
  int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                    std::chrono::system_clock::now().time_since_epoch())
                    .count();
  return tx
      .Exec(
          "INSERT INTO schema_migrations (component, version, name, applied_at) "
          "VALUES (?, ?, ?, ?)",
          {comp, int64_t{m.version}, m.name, now})
      .status();
}

bool IsRetryable(const Status& s) { return s.code() == StatusCode::kAborted; }

void BackoffBeforeRetry(int attempt) {
  thread_local std::minstd_rand rng(std::random_device{}());
  const int cap_ms = 1 << std::min(std::max(attempt, 0), 6);  // 1..64 ms, jittered
  std::this_thread::sleep_for(std::chrono::microseconds(rng() % (cap_ms * 1000) + 100));
}

StatusOr<std::vector<const Migration*>> OrderMigrations(std::string_view component,
                                                        const std::vector<Migration>& migrations) {
  std::vector<const Migration*> ordered;
  std::set<int> seen;
  for (const Migration& m : migrations) {
    if (m.version <= 0 || !seen.insert(m.version).second) {
      return InvalidArgumentError("migration versions of '" + std::string(component) +
                                  "' must be positive and unique; bad version " +
                                  std::to_string(m.version) + " (" + m.name + ")");
    }
    ordered.push_back(&m);
  }
  std::sort(ordered.begin(), ordered.end(),
            [](const Migration* a, const Migration* b) { return a->version < b->version; });
  return ordered;
}

}  // namespace tandem::sql
