// The transactional outbox: a component that mutates SQL state (registry,
// job service) appends its events through an Outbox inside the same
// transaction, so an event exists if and only if its change committed.
// The SQL event bus implements it directly (the event and its routed queue
// messages are rows in the same database); scale-out buses relay from it.
#pragma once

#include "common/status.h"
#include "glue/bus/event.h"
#include "glue/sql/database.h"

namespace tandem::bus {

class Outbox {
 public:
  virtual ~Outbox() = default;
  // Appends `event` within `tx`. Fails (and so aborts the caller's
  // transaction) if the event cannot be recorded. Thread-safe.
  virtual Status Append(sql::Transaction& tx, const Event& event) = 0;
};

}  // namespace tandem::bus
