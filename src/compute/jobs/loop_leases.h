// Which control plane advances a piece of long-lived work that several
// control planes on one database could all advance: a tuning job's loop, a
// notebook's watch (docs/architecture.md "High availability"). One owner at
// a time, by lease, as for jobs (store.h): the owner renews its lease while
// it advances the work; another control plane takes it over once that lease
// has expired, or at once when the owner is dead (its liveness lock,
// OwnerLockKey, is free: see JobStore::RegisterLivenessLock).
//
//   compute_loop_leases   (kind, name) -> owner, lease_expires_micros
//
// Thread-safety: thread-safe (and safe across processes).
#pragma once

#include <map>
#include <memory>
#include <string>
#include <utility>

#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "common/status.h"
#include "glue/sql/database.h"

namespace tandem::compute::jobs {

class LoopLeases {
 public:
  // Migrates the table. `db` and `clock` must outlive the leases. `owner` as
  // JobServiceOptions::owner; `lease_ms` > 0; the liveness of other owners
  // is looked up at most every `liveness_check_ms` (0: leases only).
  static StatusOr<std::unique_ptr<LoopLeases>> Open(sql::Database& db, Clock& clock,
                                                    std::string owner, int64_t lease_ms,
                                                    int64_t liveness_check_ms);

  // Whether this control plane advances `kind`/`name` now: true when it holds
  // the lease (renewed once a third of it has passed) or takes it (nobody
  // holds it, the holder's lease expired, or the holder is dead); false while
  // another live control plane holds it.
  StatusOr<bool> Hold(const std::string& kind, const std::string& name);
  // Takes the lease whoever holds it (the control plane that creates or
  // starts the work advances it).
  Status Assign(const std::string& kind, const std::string& name);
  // The current holder ("" = none) and until when.
  StatusOr<std::pair<std::string, int64_t>> Holder(const std::string& kind,
                                                   const std::string& name);

  const std::string& owner() const { return owner_; }

 private:
  LoopLeases(sql::Database& db, Clock& clock, std::string owner, int64_t lease_ms,
             int64_t liveness_check_ms)
      : db_(db),
        clock_(clock),
        owner_(std::move(owner)),
        lease_ms_(lease_ms),
        liveness_check_ms_(liveness_check_ms) {}
  // Whether `owner` registered a liveness lock and it is free now (cached for
  // liveness_check_ms).
  bool Dead(const std::string& owner);

  sql::Database& db_;
  Clock& clock_;
  const std::string owner_;
  const int64_t lease_ms_;
  const int64_t liveness_check_ms_;
  absl::Mutex mu_;
  // (kind, name) -> our lease's end as last written.
  std::map<std::pair<std::string, std::string>, int64_t> held_ ABSL_GUARDED_BY(mu_);
  // owner -> (dead, monotonic micros of the look).
  std::map<std::string, std::pair<bool, int64_t>> liveness_ ABSL_GUARDED_BY(mu_);
};

}  // namespace tandem::compute::jobs
