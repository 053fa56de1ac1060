#include "serving/fleet/fleet_rows.h"

#include "common/json.h"
#include "common/log.h"
#include "glue/registry/model_registry.h"
#include "serving/fleet/fleet.h"

namespace tandem::serving::fleet {

const std::vector<sql::Migration>& FleetMigrations() {
  // BIGINT: timestamps are microseconds (INTEGER is 32-bit on PostgreSQL;
  // on SQLite both are the same 64-bit integer, so existing databases agree).
  static const auto* m = new std::vector<sql::Migration>{
      {1, "deployments",
       "CREATE TABLE serving_deployments (name TEXT PRIMARY KEY, spec TEXT NOT NULL, "
       "desired BIGINT NOT NULL, generation BIGINT NOT NULL, created_at BIGINT NOT NULL, "
       "updated_at BIGINT NOT NULL);"
       "CREATE TABLE serving_replicas (deployment TEXT NOT NULL, idx BIGINT NOT NULL, "
       "pid BIGINT NOT NULL, start_time BIGINT NOT NULL, generation BIGINT NOT NULL, "
       "admin_port BIGINT NOT NULL, started_at BIGINT NOT NULL, "
       "PRIMARY KEY (deployment, idx))"}};
  return *m;
}

Status WriteDeploymentRows(sql::Transaction& tx, const Deployment& d, int64_t now) {
  RETURN_IF_ERROR(
      tx.Exec("INSERT INTO serving_deployments (name, spec, desired, generation, created_at, "
              "updated_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET "
              "spec = excluded.spec, desired = excluded.desired, generation = "
              "excluded.generation, "
              "updated_at = excluded.updated_at",
              {d.spec.name, d.spec.ToJson().dump(), int64_t{d.desired}, d.generation,
               d.created_at, now})
          .status());
  RETURN_IF_ERROR(
      tx.Exec("DELETE FROM serving_replicas WHERE deployment = ?", {d.spec.name}).status());
  for (const Slot& s : d.slots) {
    if (s.stopping) continue;
    RETURN_IF_ERROR(tx.Exec("INSERT INTO serving_replicas (deployment, idx, pid, start_time, "
                            "generation, admin_port, started_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                            {d.spec.name, int64_t{s.index}, int64_t{s.pid}, s.start_time,
                             s.generation, int64_t{s.admin_port}, s.started_at_us})
                        .status());
  }
  return OkStatus();
}

Status ReadDeployments(sql::Database& db, bool adopt, std::map<std::string, Deployment>& into) {
  std::vector<sql::Row> deps, reps;
  RETURN_IF_ERROR(db.Read([&](sql::Transaction& tx) -> Status {
    ASSIGN_OR_RETURN(deps, tx.Query("SELECT name, spec, desired, generation, created_at FROM "
                                    "serving_deployments ORDER BY name"));
    ASSIGN_OR_RETURN(reps, tx.Query("SELECT deployment, idx, pid, start_time, generation, "
                                    "admin_port, started_at FROM serving_replicas ORDER BY idx"));
    return OkStatus();
  }));
  for (const auto& row : deps) {
    auto j = ParseJson(row.Text(1));
    if (!j.ok()) return j.status();
    auto spec = DeploymentSpecFromJson(*j);
    if (!spec.ok()) return Annotate(spec.status(), "stored deployment " + row.Text(0));
    Deployment d;
    d.spec = *spec;
    d.model_name = registry::ParseModelRef(d.spec.model)->name;
    d.desired = static_cast<int>(row.Int(2));
    d.generation = row.Int(3);
    d.created_at = row.Int(4);
    into[d.spec.name] = std::move(d);
  }
  for (const auto& row : reps) {
    auto it = into.find(row.Text(0));
    if (it == into.end()) continue;
    Slot s;
    s.index = static_cast<int>(row.Int(1));
    s.pid = static_cast<pid_t>(row.Int(2));
    s.start_time = row.Int(3);
    s.generation = row.Int(4);
    s.admin_port = static_cast<int>(row.Int(5));
    s.started_at_us = row.Int(6);
    if (!adopt) {
      // As recorded (a standby's view).
    } else if (s.pid > 0 && ProcessMatches(s.pid, s.start_time)) {
      s.adopted = true;
      LogInfo("replica re-adopted",
              {{"deployment", row.Text(0)}, {"pid", std::to_string(s.pid)}});
    } else {
      s.pid = 0;  // gone: start again now
      s.next_start_us = 0;
    }
    it->second.slots.push_back(s);
  }
  return OkStatus();
}

Json ReplicaStatus::ToJson() const {
  return {{"index", index},           {"pid", pid},           {"state", state},
          {"ready", ready},           {"version", version},   {"generation", generation},
          {"admin_port", admin_port}, {"restarts", restarts}, {"adopted", adopted},
          {"reason", reason}};
}

Json DeploymentStatus::ToJson() const {
  Json reps = Json::array();
  for (const auto& r : replicas) reps.push_back(r.ToJson());
  return {{"name", spec.name},  {"spec", spec.ToJson()}, {"endpoint", endpoint},
          {"desired", desired}, {"ready", ready},        {"generation", generation},
          {"replicas", reps}};
}

}  // namespace tandem::serving::fleet
