#include "serving/fleet/fleet_lease.h"

#include "glue/sql/database.h"

namespace tandem::serving::fleet {

StatusOr<std::unique_ptr<FleetLease>> FleetLease::Open(sql::Database& db) {
  static const auto* m = new std::vector<sql::Migration>{
      {1, "fleet_lease",
       "CREATE TABLE serving_fleet_lease (id BIGINT PRIMARY KEY, owner TEXT NOT NULL, "
       "until_micros BIGINT NOT NULL)"}};
  RETURN_IF_ERROR(db.Migrate("serving_fleet_lease", *m));
  return std::unique_ptr<FleetLease>(new FleetLease(db));
}

StatusOr<bool> FleetLease::TryHold(const std::string& owner, int64_t now_micros,
                                   int64_t until_micros) {
  if (owner.empty()) return InvalidArgumentError("fleet lease owner must not be empty");
  if (until_micros <= now_micros) {
    return InvalidArgumentError("fleet lease must end after now");
  }
  int64_t n = 0;
  RETURN_IF_ERROR(db_.WithTransaction([&](sql::Transaction& tx) -> Status {
    // The conflict update's WHERE sees the latest row (PostgreSQL locks it),
    // so of two standbys racing for an expired lease one wins.
    ASSIGN_OR_RETURN(
        n, tx.Exec("INSERT INTO serving_fleet_lease (id, owner, until_micros) VALUES (1, ?, ?) "
                   "ON CONFLICT (id) DO UPDATE SET owner = excluded.owner, "
                   "until_micros = excluded.until_micros WHERE serving_fleet_lease.owner = "
                   "excluded.owner OR serving_fleet_lease.until_micros <= ?",
                   {owner, until_micros, now_micros}));
    return OkStatus();
  }));
  return n == 1;
}

StatusOr<FleetLease::Holder> FleetLease::Current() {
  Holder h;
  RETURN_IF_ERROR(db_.Read([&](sql::Transaction& tx) -> Status {
    ASSIGN_OR_RETURN(auto rows,
                     tx.Query("SELECT owner, until_micros FROM serving_fleet_lease WHERE id = 1"));
    if (!rows.empty()) {
      h.owner = rows[0].Text(0);
      h.until_micros = rows[0].Int(1);
    }
    return OkStatus();
  }));
  return h;
}

Status FleetLease::Release(const std::string& owner) {
  return db_.WithTransaction([&](sql::Transaction& tx) -> Status {
    return tx.Exec("UPDATE serving_fleet_lease SET until_micros = 0 WHERE id = 1 AND owner = ?",
                   {owner})
        .status();
  });
}

}  // namespace tandem::serving::fleet
