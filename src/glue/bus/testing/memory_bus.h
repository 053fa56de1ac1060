// An EventBus kept entirely in memory, for unit tests: the SQL bus over an
// in-memory SQLite database (SqliteDatabase::OpenMemory), the way LevelDB's
// memenv puts the real database over an in-memory filesystem. No files, no
// scratch directory; it passes the same conformance suite as every backend.
// Test-only (target tandem_bus_testing).
#pragma once

#include <memory>

#include "common/clock.h"
#include "common/status.h"
#include "glue/bus/sql_event_bus.h"

namespace tandem::bus {

// A fresh, empty bus on `clock` (not owned; must outlive the bus).
StatusOr<std::unique_ptr<SqlEventBus>> NewMemoryEventBus(Clock& clock);

}  // namespace tandem::bus
