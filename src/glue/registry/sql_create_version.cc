// SqlModelRegistry: creating versions (split from sql_model_registry.cc).
#include <optional>

#include "glue/bus/event_types.h"
#include "glue/registry/sql_model_registry.h"

namespace tandem::registry {
namespace {

using sql::Row;
using sql::Transaction;
namespace ev = bus::events;

Status ModelNotFound(std::string_view name) {
  return NotFoundError("registered model '" + std::string(name) + "' not found");
}

Json TagsJson(const std::map<std::string, std::string>& tags) { return Json(tags); }

// The next number from a model's counter row, which never goes back
// (numbers of deleted versions are not reused).
constexpr char kNextVersion[] =
    "INSERT INTO registry_version_counters (name, last_version) VALUES (?, 1) "
    "ON CONFLICT (name) DO UPDATE SET last_version = registry_version_counters.last_version + 1 "
    "RETURNING last_version";
// PostgreSQL: the model's touch and kNextVersion in one statement; no row if
// the model does not exist (then nothing changed).
constexpr char kTouchAndCount[] =
    "WITH touched AS (UPDATE registry_models SET updated_micros = ? WHERE name = ? "
    "RETURNING name) "
    "INSERT INTO registry_version_counters (name, last_version) SELECT name, 1 FROM touched "
    "ON CONFLICT (name) DO UPDATE SET last_version = registry_version_counters.last_version + 1 "
    "RETURNING last_version";

}  // namespace

StatusOr<ModelVersion> SqlModelRegistry::DoCreateVersion(const CreateVersionRequest& req) {
  std::string lineage = req.lineage.ToJson().dump();
  std::string signature = req.signature.dump();
  std::string status(VersionStatusName(req.status));
  // The version as stored, built from the same serialized fields the
  // insert writes (so no read-back round trips): a new version has the
  // request's tags and no aliases yet.
  ModelVersion out;
  out.name = req.name;
  out.source = req.source;
  out.status = req.status;
  out.status_message = req.status_message;
  ASSIGN_OR_RETURN(Json lineage_json, ParseJson(lineage));
  ASSIGN_OR_RETURN(out.lineage, Lineage::FromJson(lineage_json));
  ASSIGN_OR_RETURN(out.signature, ParseJson(signature));
  out.description = req.description;
  out.tags = req.tags;
  out.run_id = req.run_id;
  out.creator = req.creator;
  RETURN_IF_ERROR(WriteModel(req.name, [&](Transaction& tx) -> Status {
    int64_t now = clock_.NowMicros();
    // Touching the model is also the existence check; on PostgreSQL the
    // counter's increment rides on it (one statement, no row when the model
    // is missing).
    std::optional<int64_t> version;
    int64_t touched = 0;
    if (tx.dialect() == sql::Dialect::kPostgres) {
      ASSIGN_OR_RETURN(std::vector<Row> rows, tx.Query(kTouchAndCount, {now, req.name}));
      touched = static_cast<int64_t>(rows.size());
      if (!rows.empty()) version = rows[0].Int(0);
    } else {
      ASSIGN_OR_RETURN(touched, tx.Exec("UPDATE registry_models SET updated_micros = ? "
                                        "WHERE name = ?",
                                        {now, req.name}));
    }
    if (touched == 0) {
      if (!req.create_model_if_missing) return ModelNotFound(req.name);
      RETURN_IF_ERROR(tx.Exec("INSERT INTO registry_models (name, description, owner_team, "
                              "created_micros, updated_micros) VALUES (?, '', ?, ?, ?)",
                              {req.name, req.owner_team, now, now})
                          .status());
      RETURN_IF_ERROR(Emit(tx, ev::kModelCreated,
                           {{"name", req.name},
                            {"description", ""},
                            {"owner_team", req.owner_team},
                            {"tags", Json::object()}},
                           req.name));
    }
    if (!version) {
      ASSIGN_OR_RETURN(Row counter, tx.QueryOne(kNextVersion, {req.name}));
      version = counter.Int(0);
    }
    // The row and its tags go with the next statement (their results are
    // not read): one round trip on PostgreSQL.
    RETURN_IF_ERROR(tx.ExecDeferred("INSERT INTO registry_versions (name, version, source, "
                                    "status, status_message, lineage, signature, description, "
                                    "run_id, creator, created_micros, updated_micros) "
                                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                                    {req.name, *version, req.source, status, req.status_message,
                                     lineage, signature, req.description, req.run_id,
                                     req.creator, now, now}));
    for (const auto& [k, v] : req.tags) {
      RETURN_IF_ERROR(tx.ExecDeferred("INSERT INTO registry_version_tags (name, version, "
                                      "tag_key, tag_value) VALUES (?, ?, ?, ?)",
                                      {req.name, *version, k, v}));
    }
    RETURN_IF_ERROR(Emit(tx, ev::kModelVersionCreated,
                         {{"name", req.name},
                          {"version", *version},
                          {"source", req.source},
                          {"status", status},
                          {"lineage", req.lineage.ToJson()},
                          {"tags", TagsJson(req.tags)}},
                         req.name, *version));
    out.version = *version;
    out.created_micros = now;
    out.updated_micros = now;
    return OkStatus();
  }));
  return out;
}

}  // namespace tandem::registry
