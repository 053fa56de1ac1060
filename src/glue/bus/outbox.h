// The transactional outbox: a component that mutates SQL state (registry,
// job service) appends its events through an Outbox inside the same
// transaction, so an event exists if and only if its change committed.
// The SQL event bus implements it directly (the event and its routed queue
// messages are rows in the same database); scale-out buses relay from it.
#pragma once

#include <vector>

#include "common/status.h"
#include "glue/bus/event.h"
#include "glue/sql/database.h"

namespace tandem::bus {

// Events committed to an outbox but not yet delivered to the bus.
struct OutboxBacklog {
  int64_t pending = 0;              // events waiting to be relayed
  int64_t oldest_published_ms = 0;  // the oldest one's publish time (0 if none)
};

class Outbox {
 public:
  virtual ~Outbox() = default;
  // Appends `event` within `tx`. Fails (and so aborts the caller's
  // transaction) if the event cannot be recorded. Thread-safe. `tx` may be a
  // keyed transaction (sql::Database::WithKeyedTransaction, e.g. the
  // registry's, keyed by model) running beside others, so Append must only
  // insert new rows whose keys do not come from reading the table (a
  // sequence or a random id, not MAX(seq) + 1).
  virtual Status Append(sql::Transaction& tx, const Event& event) = 0;
  // Appends `events`, in order, within `tx` (a batch of changes committed
  // together). Default: Append each; a backend may save work per batch.
  virtual Status AppendAll(sql::Transaction& tx, const std::vector<Event>& events) {
    for (const Event& e : events) RETURN_IF_ERROR(Append(tx, e));
    return OkStatus();
  }
  // Called before a transaction's first statement when it will Append or
  // AppendAll: reads Append needs may go with that statement
  // (sql::Transaction::Prefetch; the SQL bus's rule lookup), one round trip
  // less. Default: nothing.
  virtual Status Prefetch(sql::Transaction& tx) {
    (void)tx;
    return OkStatus();
  }
  // What waits to be relayed (the relay lag). An outbox that delivers in
  // the same transaction (the SQL bus) has nothing pending. Thread-safe.
  virtual StatusOr<OutboxBacklog> Backlog() { return OutboxBacklog{}; }
};

}  // namespace tandem::bus
