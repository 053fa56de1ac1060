// Which control plane supervises the fleet when several share one database
// (docs/architecture.md "High availability"): one row holding the owner and
// until when its lease runs. The holder renews it every supervisor tick; a
// standby takes it once it has expired (its holder died) and then re-adopts
// the deployments' replicas, which outlive their control plane.
//
// Thread-safety: thread-safe, and safe across processes (one statement,
// atomic on SQLite and PostgreSQL).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "common/status.h"

namespace tandem::sql {
class Database;
}

namespace tandem::serving::fleet {

class FleetLease {
 public:
  // Migrates its table (component "serving_fleet_lease"). `db` must outlive it.
  static StatusOr<std::unique_ptr<FleetLease>> Open(sql::Database& db);

  // Takes or renews the lease for `owner` until `until_micros` if it is free,
  // expired at `now_micros`, or already `owner`'s. True when `owner` holds it
  // now. InvalidArgument for an empty owner or until <= now.
  StatusOr<bool> TryHold(const std::string& owner, int64_t now_micros, int64_t until_micros);

  // The current holder ("" if none ever) and its expiry.
  struct Holder {
    std::string owner;
    int64_t until_micros = 0;
  };
  StatusOr<Holder> Current();

  // Gives the lease up if `owner` holds it (a clean shutdown: a standby need
  // not wait for it to expire).
  Status Release(const std::string& owner);

 private:
  explicit FleetLease(sql::Database& db) : db_(db) {}
  sql::Database& db_;
};

}  // namespace tandem::serving::fleet
