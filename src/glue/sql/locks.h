// Cross-process locks named by a string, held by a Database's backend:
//
//   PostgreSQL  a session-level advisory lock on a connection of the
//               handle's own; a kill -9 of the holder closes its socket and
//               the server releases the lock at once (no lease to wait for)
//   SQLite      an flock on <db>.locks/<hash of the key>, beside the database
//               file (one host; the kernel releases it when the holder dies)
//
// Used for liveness (a control plane holds its owner's lock while it runs;
// a free lock means it is dead) and for admission across control planes
// (api/quotas.h). Locks are not re-entrant: two handles of one key conflict,
// within one process too. Thread-safe.
#pragma once

#include <memory>
#include <optional>
#include <string_view>

#include "common/status.h"
#include "glue/sql/database.h"

namespace tandem::sql {

// A lock taken by HoldLock, held until destroyed (or until its process dies).
// Must be destroyed before its Database.
class HeldLock {
 public:
  virtual ~HeldLock() = default;
  // OK while the lock is held; Unavailable once it was lost (its connection
  // broke), after which the holder should take it again.
  virtual Status Check() = 0;
};

// Takes the lock named `key`. `wait`: blocks until it is free; otherwise
// Unavailable naming the key when another holder has it. nullptr where the
// backend has no such locks (an in-memory SQLite database).
StatusOr<std::unique_ptr<HeldLock>> HoldLock(Database& db, std::string_view key, bool wait);

// Whether some holder (in any process) has `key`'s lock now; nullopt where
// the backend has no such locks. Takes nothing.
StatusOr<std::optional<bool>> LockHeld(Database& db, std::string_view key);

}  // namespace tandem::sql
