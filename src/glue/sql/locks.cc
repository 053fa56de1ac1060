#include "glue/sql/locks.h"

#include "glue/sql/postgres_database.h"
#include "glue/sql/sqlite_database.h"

namespace tandem::sql {

StatusOr<std::unique_ptr<HeldLock>> HoldLock(Database& db, std::string_view key, bool wait) {
  if (auto* pg = dynamic_cast<PostgresDatabase*>(&db)) return pg->HoldLock(key, wait);
  if (auto* lite = dynamic_cast<SqliteDatabase*>(&db)) return lite->HoldLock(key, wait);
  return std::unique_ptr<HeldLock>();
}

StatusOr<std::optional<bool>> LockHeld(Database& db, std::string_view key) {
  if (auto* pg = dynamic_cast<PostgresDatabase*>(&db)) return pg->LockHeld(key);
  if (auto* lite = dynamic_cast<SqliteDatabase*>(&db)) return lite->LockHeld(key);
  return std::optional<bool>();
}

}  // namespace tandem::sql
