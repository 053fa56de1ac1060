#include "glue/bus/testing/memory_bus.h"

#include "glue/sql/sqlite_database.h"

namespace tandem::bus {

StatusOr<std::unique_ptr<SqlEventBus>> NewMemoryEventBus(Clock& clock) {
  ASSIGN_OR_RETURN(std::unique_ptr<sql::SqliteDatabase> db, sql::SqliteDatabase::OpenMemory());
  return SqlEventBus::Open(std::move(db), clock);
}

}  // namespace tandem::bus
