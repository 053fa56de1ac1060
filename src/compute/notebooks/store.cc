#include "compute/notebooks/store.h"

#include "glue/bus/event_types.h"

namespace tandem::compute::notebooks {
namespace {

using sql::Row;
using sql::Transaction;

// Migration 1. The record is one JSON document; the columns beside it exist
// for filters.
constexpr char kCreateNotebooksTable[] = R"sql(
CREATE TABLE compute_notebooks (
  name TEXT PRIMARY KEY,
  team TEXT NOT NULL,
  state TEXT NOT NULL,
  updated_micros BIGINT NOT NULL,
  record TEXT NOT NULL);
CREATE INDEX compute_notebooks_state ON compute_notebooks (state);
)sql";

constexpr std::string_view kStateNames[] = {"Pending", "InService", "Stopping", "Stopped",
                                            "Failed"};

Json RecordJson(const NotebookRecord& r) {
  Json j = r.ToJson(/*with_secret=*/true);
  j["instance_dir"] = r.instance_dir;
  j["handle"] = {{"substrate", r.handle_substrate}, {"id", r.handle_id}};
  return j;
}

StatusOr<NotebookRecord> RecordFromRow(const Row& row) {
  ASSIGN_OR_RETURN(Json j, ParseJson(row.Text(0)));
  NotebookRecord r;
  try {
    r.name = j.at("name").get<std::string>();
    r.team = j.at("team").get<std::string>();
    ASSIGN_OR_RETURN(r.state, ParseNotebookState(j.at("state").get<std::string>()));
    r.idle_timeout_seconds = j.at("idle_timeout_seconds").get<int64_t>();
    r.execution = j.at("execution").get<int64_t>();
    r.instance_dir = j.value("instance_dir", "");
    r.port = j.value("port", 0);
    r.token = j.value("token", "");
    r.handle_substrate = j.at("handle").value("substrate", "");
    r.handle_id = j.at("handle").value("id", "");
    r.stop_reason = j.value("stop_reason", "");
    r.failure_reason = j.value("failure_reason", "");
    r.snapshot_key = j.value("snapshot_key", "");
    r.snapshot_digest = j.value("snapshot_digest", "");
    if (auto image = j.find("image"); image != j.end() && image->is_object()) {
      r.image_reference = image->value("reference", "");
      r.image_repository = image->value("repository", "");
      r.image_digest = image->value("digest", "");
    }
    r.created_micros = j.value("created_micros", int64_t{0});
    r.started_micros = j.value("started_micros", int64_t{0});
    r.stopped_micros = j.value("stopped_micros", int64_t{0});
    r.last_activity_micros = j.value("last_activity_micros", int64_t{0});
    r.updated_micros = j.value("updated_micros", int64_t{0});
    r.wall_seconds = j.at("metering").value("wall_seconds", 0.0);
    r.cpu_seconds = j.at("metering").value("cpu_seconds", 0.0);
    r.cost = j.at("metering").value("cost", 0.0);
  } catch (const Json::exception& e) {
    return DataLossError("notebook row " + row.Text(0).substr(0, 80) +
                         " is malformed: " + e.what());
  }
  return r;
}

StatusOr<std::vector<NotebookRecord>> Rows(Transaction& tx, std::string_view sql,
                                           const std::vector<sql::Value>& params) {
  ASSIGN_OR_RETURN(std::vector<Row> rows, tx.Query(sql, params));
  std::vector<NotebookRecord> out;
  for (const Row& row : rows) {
    ASSIGN_OR_RETURN(NotebookRecord r, RecordFromRow(row));
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace

std::string_view NotebookStateName(NotebookState s) { return kStateNames[static_cast<int>(s)]; }

StatusOr<NotebookState> ParseNotebookState(std::string_view name) {
  for (int i = 0; i < 5; ++i) {
    if (kStateNames[i] == name) return static_cast<NotebookState>(i);
  }
  return InvalidArgumentError("unknown notebook state \"" + std::string(name) +
                              "\" (expected Pending, InService, Stopping, Stopped or Failed)");
}

bool IsActive(NotebookState s) {
  return s == NotebookState::kPending || s == NotebookState::kInService ||
         s == NotebookState::kStopping;
}

std::string NotebookRecord::Url() const {
  if (state != NotebookState::kInService || port == 0) return "";
  return "http://127.0.0.1:" + std::to_string(port) + "/?token=" + token;
}

Json NotebookRecord::ToJson(bool with_secret) const {
  Json j = {
      {"name", name},
      {"team", team},
      {"state", std::string(NotebookStateName(state))},
      {"idle_timeout_seconds", idle_timeout_seconds},
      {"execution", execution},
      {"port", port},
      {"stop_reason", stop_reason},
      {"failure_reason", failure_reason},
      {"snapshot_key", snapshot_key},
      {"snapshot_digest", snapshot_digest},
      {"created_micros", created_micros},
      {"started_micros", started_micros},
      {"stopped_micros", stopped_micros},
      {"last_activity_micros", last_activity_micros},
      {"updated_micros", updated_micros},
      {"created", created_micros ? FormatRfc3339(created_micros) : ""},
      {"started", started_micros ? FormatRfc3339(started_micros) : ""},
      {"stopped", stopped_micros ? FormatRfc3339(stopped_micros) : ""},
      {"last_activity", last_activity_micros ? FormatRfc3339(last_activity_micros) : ""},
      {"metering", {{"wall_seconds", wall_seconds}, {"cpu_seconds", cpu_seconds}, {"cost", cost}}}};
  if (!image_digest.empty()) {
    j["image"] = {
        {"reference", image_reference}, {"repository", image_repository}, {"digest", image_digest}};
  }
  if (with_secret) {
    j["token"] = token;
    j["url"] = Url();
  }
  return j;
}

StatusOr<std::unique_ptr<NotebookStore>> NotebookStore::Open(sql::Database& db, bus::Outbox& outbox,
                                                             Clock& clock) {
  RETURN_IF_ERROR(db.Migrate("notebooks", {{1, "create_notebooks_table", kCreateNotebooksTable}}));
  return std::unique_ptr<NotebookStore>(new NotebookStore(db, outbox, clock));
}

StatusOr<NotebookRecord> NotebookStore::Get(const std::string& name) {
  std::vector<NotebookRecord> found;
  RETURN_IF_ERROR(db_.Read([&](Transaction& tx) -> Status {
    ASSIGN_OR_RETURN(found,
                     Rows(tx, "SELECT record FROM compute_notebooks WHERE name = ?", {name}));
    return OkStatus();
  }));
  if (found.empty()) return NotFoundError("notebook \"" + name + "\" not found");
  return found.front();
}

StatusOr<std::vector<NotebookRecord>> NotebookStore::List(const std::string& team) {
  std::vector<NotebookRecord> out;
  RETURN_IF_ERROR(db_.Read([&](Transaction& tx) -> Status {
    if (team.empty()) {
      ASSIGN_OR_RETURN(out, Rows(tx, "SELECT record FROM compute_notebooks ORDER BY name", {}));
    } else {
      ASSIGN_OR_RETURN(out, Rows(tx,
                                 "SELECT record FROM compute_notebooks WHERE team = ? "
                                 "ORDER BY name",
                                 {team}));
    }
    return OkStatus();
  }));
  return out;
}

StatusOr<std::map<std::pair<std::string, std::string>, int64_t>>
NotebookStore::CountByStateAndTeam() {
  std::map<std::pair<std::string, std::string>, int64_t> out;
  RETURN_IF_ERROR(db_.Read([&](Transaction& tx) -> Status {
    out.clear();
    ASSIGN_OR_RETURN(auto rows, tx.Query("SELECT state, team, COUNT(*) FROM compute_notebooks "
                                         "GROUP BY state, team"));
    for (const auto& r : rows) out[{r.Text(0), r.Text(1)}] = r.Int(2);
    return OkStatus();
  }));
  return out;
}

StatusOr<std::vector<NotebookRecord>> NotebookStore::ListActive() {
  std::vector<NotebookRecord> out;
  RETURN_IF_ERROR(db_.Read([&](Transaction& tx) -> Status {
    ASSIGN_OR_RETURN(out, Rows(tx,
                               "SELECT record FROM compute_notebooks WHERE state IN "
                               "('Pending', 'InService', 'Stopping') ORDER BY name",
                               {}));
    return OkStatus();
  }));
  return out;
}

StatusOr<NotebookRecord> NotebookStore::Update(
    const std::string& name, bool create, const std::function<Status(NotebookRecord&)>& mutate) {
  NotebookRecord out;
  RETURN_IF_ERROR(db_.WithTransaction([&](Transaction& tx) -> Status {
    ASSIGN_OR_RETURN(std::vector<NotebookRecord> found,
                     Rows(tx, "SELECT record FROM compute_notebooks WHERE name = ?", {name}));
    const bool exists = !found.empty();
    if (!exists && !create) return NotFoundError("notebook \"" + name + "\" not found");
    NotebookRecord r;
    if (exists) {
      r = found.front();
    } else {
      r.name = name;
      r.state = NotebookState::kStopped;
      r.created_micros = clock_.NowMicros();
    }
    const NotebookState previous = r.state;
    RETURN_IF_ERROR(mutate(r));
    r.updated_micros = clock_.NowMicros();
    std::vector<sql::Value> params = {r.team, std::string(NotebookStateName(r.state)),
                                      r.updated_micros, RecordJson(r).dump(), r.name};
    if (exists) {
      RETURN_IF_ERROR(tx.Exec("UPDATE compute_notebooks SET team = ?, state = ?, "
                              "updated_micros = ?, record = ? WHERE name = ?",
                              params)
                          .status());
    } else {
      RETURN_IF_ERROR(tx.Exec("INSERT INTO compute_notebooks (team, state, updated_micros, "
                              "record, name) VALUES (?, ?, ?, ?, ?)",
                              params)
                          .status());
    }
    if (!exists || previous != r.state) {
      Json detail = r.ToJson(/*with_secret=*/false);
      detail["previous_state"] = exists ? Json(std::string(NotebookStateName(previous))) : Json();
      RETURN_IF_ERROR(
          outbox_.Append(tx, bus::MakeEvent(clock_, std::string(bus::events::kComputeSource),
                                            std::string(bus::events::kNotebookInstanceStateChange),
                                            detail, {"notebook-instance/" + r.name})));
    }
    out = std::move(r);
    return OkStatus();
  }));
  return out;
}

}  // namespace tandem::compute::notebooks
