#include "glue/registry/sql_model_registry.h"

#include <cstdlib>
#include <functional>
#include <limits>
#include <optional>

#include "common/hex.h"
#include "glue/bus/event_types.h"

namespace tandem::registry {
namespace {

using sql::Row;
using sql::Transaction;
using sql::Value;
namespace ev = bus::events;

std::vector<sql::Migration> Migrations(sql::Dialect dialect) {
  std::vector<sql::Migration> migrations = {
      {1, "create_registry_tables",
       R"sql(
CREATE TABLE registry_models (
  name TEXT PRIMARY KEY,
  description TEXT NOT NULL,
  owner_team TEXT NOT NULL,
  created_micros BIGINT NOT NULL,
  updated_micros BIGINT NOT NULL);
CREATE INDEX registry_models_team ON registry_models (owner_team);
CREATE TABLE registry_version_counters (
  name TEXT PRIMARY KEY,
  last_version BIGINT NOT NULL);
CREATE TABLE registry_versions (
  name TEXT NOT NULL REFERENCES registry_models (name),
  version BIGINT NOT NULL,
  source TEXT NOT NULL,
  status TEXT NOT NULL,
  status_message TEXT NOT NULL,
  lineage TEXT NOT NULL,
  signature TEXT NOT NULL,
  description TEXT NOT NULL,
  run_id TEXT NOT NULL,
  creator TEXT NOT NULL,
  created_micros BIGINT NOT NULL,
  updated_micros BIGINT NOT NULL,
  PRIMARY KEY (name, version));
CREATE TABLE registry_model_tags (
  name TEXT NOT NULL REFERENCES registry_models (name),
  tag_key TEXT NOT NULL,
  tag_value TEXT NOT NULL,
  PRIMARY KEY (name, tag_key));
CREATE TABLE registry_version_tags (
  name TEXT NOT NULL,
  version BIGINT NOT NULL,
  tag_key TEXT NOT NULL,
  tag_value TEXT NOT NULL,
  PRIMARY KEY (name, version, tag_key),
  FOREIGN KEY (name, version) REFERENCES registry_versions (name, version));
CREATE TABLE registry_aliases (
  name TEXT NOT NULL,
  alias TEXT NOT NULL,
  version BIGINT NOT NULL,
  PRIMARY KEY (name, alias),
  FOREIGN KEY (name, version) REFERENCES registry_versions (name, version));
CREATE INDEX registry_aliases_version ON registry_aliases (name, version);
)sql"},
  };
  if (dialect == sql::Dialect::kPostgres) {
    // A creation whose process knows the model's last version (it numbered
    // the previous ones) sends everything in one round trip: this touches
    // the model and bumps its counter only if the counter is still where
    // the process left it, and raises a serialization failure otherwise
    // (another process created versions, the model was deleted): the
    // transaction then runs again the long way (sql_create_version.cc).
    migrations.push_back({2, "registry_bump_expected", R"sql(
CREATE FUNCTION registry_bump_expected(p_name TEXT, p_now BIGINT, p_count BIGINT,
                                       p_expected BIGINT) RETURNS BIGINT
LANGUAGE plpgsql AS $$
DECLARE
  bumped BIGINT;
BEGIN
  UPDATE registry_models SET updated_micros = p_now WHERE name = p_name;
  IF FOUND THEN
    UPDATE registry_version_counters SET last_version = last_version + p_count
      WHERE name = p_name AND last_version = p_expected RETURNING last_version INTO bumped;
  END IF;
  IF bumped IS NULL THEN
    RAISE EXCEPTION 'registry: model % changed since this process numbered its versions',
      p_name USING ERRCODE = '40001';
  END IF;
  RETURN bumped;
END $$
)sql"});
  }
  return migrations;
}

std::string Q(std::string_view s) { return "'" + std::string(s) + "'"; }
std::string VersionRef(std::string_view name, int64_t v) {
  return Q(std::string(name) + "/" + std::to_string(v));
}
Status ModelNotFound(std::string_view name) {
  return NotFoundError("registered model " + Q(name) + " not found");
}
Status VersionNotFound(std::string_view name, int64_t v) {
  return NotFoundError("model version " + VersionRef(name, v) + " not found");
}

// Page tokens: hex of "<kind>:<cursor>", opaque to callers.
std::string EncodeToken(std::string_view kind, std::string_view cursor) {
  return HexEncode(std::string(kind) + ":" + std::string(cursor));
}
StatusOr<std::string> DecodeToken(std::string_view kind, std::string_view token) {
  std::optional<std::string> raw = HexDecode(token);
  std::string prefix = std::string(kind) + ":";
  if (!raw || !raw->starts_with(prefix)) {
    return InvalidArgumentError("invalid page_token " + Q(token.substr(0, 100)));
  }
  return raw->substr(prefix.size());
}
// max_results is already checked (ModelRegistry): 0 or 1..kMaxPageResults.
int PageSize(int max_results) { return max_results == 0 ? kDefaultPageResults : max_results; }

StatusOr<std::map<std::string, std::string>> LoadTags(Transaction& tx, const std::string& sql,
                                                      const std::vector<Value>& params) {
  ASSIGN_OR_RETURN(std::vector<Row> rows, tx.Query(sql, params));
  std::map<std::string, std::string> tags;
  for (const Row& r : rows) tags[r.Text(0)] = r.Text(1);
  return tags;
}

StatusOr<RegisteredModel> LoadModel(Transaction& tx, std::string_view name) {
  std::string n(name);
  ASSIGN_OR_RETURN(std::vector<Row> rows,
                   tx.Query("SELECT name, description, owner_team, created_micros, "
                            "updated_micros FROM registry_models WHERE name = ?",
                            {n}));
  if (rows.empty()) return ModelNotFound(name);
  RegisteredModel m;
  m.name = rows[0].Text(0);
  m.description = rows[0].Text(1);
  m.owner_team = rows[0].Text(2);
  m.created_micros = rows[0].Int(3);
  m.updated_micros = rows[0].Int(4);
  ASSIGN_OR_RETURN(m.tags, LoadTags(tx,
                                    "SELECT tag_key, tag_value FROM registry_model_tags "
                                    "WHERE name = ?",
                                    {n}));
  ASSIGN_OR_RETURN(rows,
                   tx.Query("SELECT alias, version FROM registry_aliases WHERE name = ?", {n}));
  for (const Row& r : rows) m.aliases[r.Text(0)] = r.Int(1);
  ASSIGN_OR_RETURN(Row latest,
                   tx.QueryOne("SELECT MAX(version) FROM registry_versions WHERE name = ?", {n}));
  m.latest_version = latest.Int(0);
  return m;
}

constexpr char kVersionColumns[] =
    "SELECT name, version, source, status, status_message, lineage, signature, description, "
    "run_id, creator, created_micros, updated_micros FROM registry_versions ";

// A version's own columns (kVersionColumns), without its tags and aliases.
StatusOr<ModelVersion> VersionColumnsFromRow(const Row& r) {
  ModelVersion v;
  v.name = r.Text(0);
  v.version = r.Int(1);
  v.source = r.Text(2);
  ASSIGN_OR_RETURN(v.status, ParseVersionStatus(r.Text(3)));
  v.status_message = r.Text(4);
  ASSIGN_OR_RETURN(Json lineage, ParseJson(r.Text(5)));
  ASSIGN_OR_RETURN(v.lineage, Lineage::FromJson(lineage));
  ASSIGN_OR_RETURN(v.signature, ParseJson(r.Text(6)));
  v.description = r.Text(7);
  v.run_id = r.Text(8);
  v.creator = r.Text(9);
  v.created_micros = r.Int(10);
  v.updated_micros = r.Int(11);
  return v;
}

// The tags and aliases of `versions` (all of model `name`), in two queries
// over the range of their numbers (not two per version); rows of versions
// in the range but not in `versions` (filtered out by status) are skipped.
Status LoadVersionExtras(Transaction& tx, const std::string& name,
                         std::vector<ModelVersion>& versions) {
  if (versions.empty()) return OkStatus();
  std::map<int64_t, ModelVersion*> by_number;
  for (ModelVersion& v : versions) by_number[v.version] = &v;
  const std::vector<Value> range = {name, by_number.begin()->first, by_number.rbegin()->first};
  // Each row (its first column the version) to its version, if in the page.
  auto each = [&](const std::string& sql,
                  const std::function<void(ModelVersion&, const Row&)>& add) -> Status {
    ASSIGN_OR_RETURN(std::vector<Row> rows, tx.Query(sql, range));
    for (const Row& r : rows) {
      auto it = by_number.find(r.Int(0));
      if (it != by_number.end()) add(*it->second, r);
    }
    return OkStatus();
  };
  RETURN_IF_ERROR(
      each("SELECT version, tag_key, tag_value FROM registry_version_tags "
           "WHERE name = ? AND version >= ? AND version <= ?",
           [](ModelVersion& v, const Row& r) { v.tags[r.Text(1)] = r.Text(2); }));
  return each(
      "SELECT version, alias FROM registry_aliases "
      "WHERE name = ? AND version >= ? AND version <= ? ORDER BY alias",
      [](ModelVersion& v, const Row& r) { v.aliases.push_back(r.Text(1)); });
}

StatusOr<ModelVersion> VersionFromRow(Transaction& tx, const Row& r) {
  std::vector<ModelVersion> one;
  ASSIGN_OR_RETURN(ModelVersion v, VersionColumnsFromRow(r));
  one.push_back(std::move(v));
  RETURN_IF_ERROR(LoadVersionExtras(tx, one[0].name, one));
  return std::move(one[0]);
}

StatusOr<ModelVersion> LoadVersion(Transaction& tx, std::string_view name, int64_t version) {
  ASSIGN_OR_RETURN(std::vector<Row> rows,
                   tx.Query(std::string(kVersionColumns) + "WHERE name = ? AND version = ?",
                            {std::string(name), version}));
  if (rows.empty()) {
    // Say which half is missing.
    RETURN_IF_ERROR(LoadModel(tx, name).status());
    return VersionNotFound(name, version);
  }
  return VersionFromRow(tx, rows[0]);
}

// The version an alias points at, or NotFound naming the alias.
StatusOr<int64_t> AliasTarget(Transaction& tx, std::string_view name, std::string_view alias) {
  ASSIGN_OR_RETURN(std::vector<Row> rows,
                   tx.Query("SELECT version FROM registry_aliases WHERE name = ? AND alias = ?",
                            {std::string(name), std::string(alias)}));
  if (!rows.empty()) return rows[0].Int(0);
  RETURN_IF_ERROR(LoadModel(tx, name).status());
  return NotFoundError("alias " + Q(alias) + " of model " + Q(name) + " not found");
}

Json TagsJson(const std::map<std::string, std::string>& tags) { return Json(tags); }

}  // namespace

StatusOr<std::unique_ptr<ModelRegistry>> ModelRegistry::Open(sql::Database& db, bus::Outbox& outbox,
                                                             Clock& clock) {
  ASSIGN_OR_RETURN(std::unique_ptr<SqlModelRegistry> r,
                   SqlModelRegistry::Create(db, outbox, clock));
  return std::unique_ptr<ModelRegistry>(std::move(r));
}

StatusOr<std::unique_ptr<SqlModelRegistry>> SqlModelRegistry::Create(sql::Database& db,
                                                                     bus::Outbox& outbox,
                                                                     Clock& clock) {
  RETURN_IF_ERROR(
      Annotate(db.Migrate("registry", Migrations(db.dialect())), "registry migrations"));
  return std::unique_ptr<SqlModelRegistry>(new SqlModelRegistry(db, outbox, clock));
}

Status SqlModelRegistry::Emit(Transaction& tx, std::string_view type, Json detail,
                              std::string_view name, int64_t version) {
  std::vector<std::string> resources = {"model/" + std::string(name)};
  if (version > 0) resources.push_back(resources[0] + "/" + std::to_string(version));
  bus::Event e = bus::MakeEvent(clock_, std::string(ev::kRegistrySource), std::string(type),
                                std::move(detail), std::move(resources));
  return outbox_.Append(tx, e);
}

Status SqlModelRegistry::WriteModel(std::string_view name,
                                    const std::function<Status(Transaction&)>& fn) {
  // Every change of the registry is a change of one model's rows (its
  // version counter, versions, aliases, tags, and the events it appends),
  // so writers of one model queue on its key and writers of different models
  // proceed in parallel.
  return db_.WithKeyedTransaction("registry/model/" + std::string(name), fn);
}

Status SqlModelRegistry::Touch(Transaction& tx, std::string_view name) {
  return tx
      .Exec("UPDATE registry_models SET updated_micros = ? WHERE name = ?",
            {clock_.NowMicros(), std::string(name)})
      .status();
}

// --- registered models -------------------------------------------------------

StatusOr<RegisteredModel> SqlModelRegistry::DoCreateModel(const CreateModelRequest& req) {
  RegisteredModel out;
  RETURN_IF_ERROR(WriteModel(req.name, [&](Transaction& tx) -> Status {
    int64_t now = clock_.NowMicros();
    ASSIGN_OR_RETURN(int64_t n,
                     tx.Exec("INSERT INTO registry_models (name, description, owner_team, "
                             "created_micros, updated_micros) VALUES (?, ?, ?, ?, ?) "
                             "ON CONFLICT (name) DO NOTHING",
                             {req.name, req.description, req.owner_team, now, now}));
    if (n == 0) return AlreadyExistsError("registered model " + Q(req.name) + " already exists");
    for (const auto& [k, v] : req.tags) {
      RETURN_IF_ERROR(tx.Exec("INSERT INTO registry_model_tags (name, tag_key, tag_value) "
                              "VALUES (?, ?, ?)",
                              {req.name, k, v})
                          .status());
    }
    RETURN_IF_ERROR(Emit(tx, ev::kModelCreated,
                         {{"name", req.name},
                          {"description", req.description},
                          {"owner_team", req.owner_team},
                          {"tags", TagsJson(req.tags)}},
                         req.name));
    ASSIGN_OR_RETURN(out, LoadModel(tx, req.name));
    return OkStatus();
  }));
  return out;
}

StatusOr<RegisteredModel> SqlModelRegistry::DoGetModel(std::string_view name) {
  RegisteredModel out;
  RETURN_IF_ERROR(db_.Read([&](Transaction& tx) -> Status {
    ASSIGN_OR_RETURN(out, LoadModel(tx, name));
    return OkStatus();
  }));
  return out;
}

StatusOr<RegisteredModel> SqlModelRegistry::DoUpdateModel(std::string_view name,
                                                          const UpdateModelRequest& req) {
  RegisteredModel out;
  RETURN_IF_ERROR(WriteModel(name, [&](Transaction& tx) -> Status {
    ASSIGN_OR_RETURN(out, LoadModel(tx, name));
    if (!req.description && !req.owner_team) return OkStatus();
    if (req.description) out.description = *req.description;
    if (req.owner_team) out.owner_team = *req.owner_team;
    out.updated_micros = clock_.NowMicros();
    RETURN_IF_ERROR(tx.Exec("UPDATE registry_models SET description = ?, owner_team = ?, "
                            "updated_micros = ? WHERE name = ?",
                            {out.description, out.owner_team, out.updated_micros, out.name})
                        .status());
    Json detail = {{"name", out.name}};
    if (req.description) detail["description"] = *req.description;
    if (req.owner_team) detail["owner_team"] = *req.owner_team;
    return Emit(tx, ev::kModelUpdated, std::move(detail), name);
  }));
  return out;
}

Status SqlModelRegistry::DoDeleteModel(std::string_view name) {
  return WriteModel(name, [&](Transaction& tx) -> Status {
    ASSIGN_OR_RETURN(RegisteredModel m, LoadModel(tx, name));
    ASSIGN_OR_RETURN(std::vector<Row> versions,
                     tx.Query("SELECT version FROM registry_versions WHERE name = ? "
                              "ORDER BY version",
                              {m.name}));
    Json deleted = Json::array();
    for (const Row& r : versions) deleted.push_back(r.Int(0));
    for (const char* table : {"registry_aliases", "registry_version_tags", "registry_versions",
                              "registry_model_tags", "registry_models"}) {
      RETURN_IF_ERROR(
          tx.Exec(std::string("DELETE FROM ") + table + " WHERE name = ?", {m.name}).status());
    }
    return Emit(tx, ev::kModelDeleted,
                {{"name", m.name}, {"versions", deleted}, {"aliases", m.aliases}}, name);
  });
}

StatusOr<int64_t> SqlModelRegistry::DoCountModels() {
  int64_t count = 0;
  RETURN_IF_ERROR(db_.Read([&](Transaction& tx) -> Status {
    ASSIGN_OR_RETURN(Row row, tx.QueryOne("SELECT COUNT(*) FROM registry_models"));
    count = row.Int(0);
    return OkStatus();
  }));
  return count;
}

StatusOr<Page<RegisteredModel>> SqlModelRegistry::DoSearchModels(const ModelSearch& s) {
  const int limit = PageSize(s.max_results);
  std::string after;
  if (!s.page_token.empty()) {
    ASSIGN_OR_RETURN(after, DecodeToken("m", s.page_token));
  }
  std::string sql = "SELECT name FROM registry_models m WHERE name > ?";
  std::vector<Value> params = {after};
  if (!s.name_prefix.empty()) {
    sql += " AND substr(name, 1, ?) = ?";
    params.push_back(static_cast<int64_t>(s.name_prefix.size()));
    params.push_back(s.name_prefix);
  }
  if (!s.name_contains.empty()) {
    std::string pattern = "%";
    for (char c : s.name_contains) {
      if (c == '!' || c == '%' || c == '_') pattern += '!';
      pattern += c;
    }
    sql += " AND lower(name) LIKE lower(?) ESCAPE '!'";
    params.push_back(pattern + "%");
  }
  if (!s.owner_team.empty()) {
    sql += " AND owner_team = ?";
    params.push_back(s.owner_team);
  }
  for (const auto& [k, v] : s.tags) {
    sql +=
        " AND EXISTS (SELECT 1 FROM registry_model_tags t WHERE t.name = m.name AND "
        "t.tag_key = ? AND t.tag_value = ?)";
    params.push_back(k);
    params.push_back(v);
  }
  sql += " ORDER BY name LIMIT ?";
  params.push_back(static_cast<int64_t>(limit) + 1);
  Page<RegisteredModel> page;
  RETURN_IF_ERROR(db_.Read([&](Transaction& tx) -> Status {
    page = {};
    ASSIGN_OR_RETURN(std::vector<Row> rows, tx.Query(sql, params));
    for (size_t i = 0; i < rows.size() && i < static_cast<size_t>(limit); ++i) {
      ASSIGN_OR_RETURN(RegisteredModel m, LoadModel(tx, rows[i].Text(0)));
      page.items.push_back(std::move(m));
    }
    if (rows.size() > static_cast<size_t>(limit)) {
      page.next_page_token = EncodeToken("m", page.items.back().name);
    }
    return OkStatus();
  }));
  return page;
}

// --- versions -----------------------------------------------------------------

StatusOr<ModelVersion> SqlModelRegistry::DoGetVersion(std::string_view name, int64_t version) {
  ModelVersion out;
  RETURN_IF_ERROR(db_.Read([&](Transaction& tx) -> Status {
    ASSIGN_OR_RETURN(out, LoadVersion(tx, name, version));
    return OkStatus();
  }));
  return out;
}

StatusOr<ModelVersion> SqlModelRegistry::DoUpdateVersionStatus(std::string_view name,
                                                               int64_t version,
                                                               VersionStatus status,
                                                               std::string_view status_message) {
  ModelVersion out;
  RETURN_IF_ERROR(WriteModel(name, [&](Transaction& tx) -> Status {
    ASSIGN_OR_RETURN(out, LoadVersion(tx, name, version));
    if (out.status == status) return OkStatus();
    if (out.status != VersionStatus::kPendingRegistration) {
      return FailedPreconditionError("model version " + VersionRef(name, version) + " is " +
                                     std::string(VersionStatusName(out.status)) +
                                     "; only PENDING_REGISTRATION versions "
                                     "can change status (to " +
                                     std::string(VersionStatusName(status)) + ")");
    }
    VersionStatus previous = out.status;
    out.status = status;
    out.status_message = std::string(status_message);
    out.updated_micros = clock_.NowMicros();
    RETURN_IF_ERROR(tx.Exec("UPDATE registry_versions SET status = ?, status_message = ?, "
                            "updated_micros = ? WHERE name = ? AND version = ?",
                            {std::string(VersionStatusName(status)), out.status_message,
                             out.updated_micros, out.name, version})
                        .status());
    return Emit(tx, ev::kModelVersionStatusChanged,
                {{"name", out.name},
                 {"version", version},
                 {"status", VersionStatusName(status)},
                 {"previous_status", VersionStatusName(previous)},
                 {"status_message", out.status_message}},
                name, version);
  }));
  return out;
}

StatusOr<ModelVersion> SqlModelRegistry::DoUpdateVersionDescription(std::string_view name,
                                                                    int64_t version,
                                                                    std::string_view description) {
  ModelVersion out;
  RETURN_IF_ERROR(WriteModel(name, [&](Transaction& tx) -> Status {
    ASSIGN_OR_RETURN(out, LoadVersion(tx, name, version));
    out.description = std::string(description);
    out.updated_micros = clock_.NowMicros();
    RETURN_IF_ERROR(tx.Exec("UPDATE registry_versions SET description = ?, updated_micros = ? "
                            "WHERE name = ? AND version = ?",
                            {out.description, out.updated_micros, out.name, version})
                        .status());
    return Emit(tx, ev::kModelUpdated,
                {{"name", out.name}, {"version", version}, {"description", out.description}}, name,
                version);
  }));
  return out;
}

Status SqlModelRegistry::DoDeleteVersion(std::string_view name, int64_t version) {
  return WriteModel(name, [&](Transaction& tx) -> Status {
    ASSIGN_OR_RETURN(ModelVersion v, LoadVersion(tx, name, version));
    std::vector<Value> key = {v.name, version};
    for (const std::string& alias : v.aliases) {
      RETURN_IF_ERROR(
          tx.Exec("DELETE FROM registry_aliases WHERE name = ? AND alias = ?", {v.name, alias})
              .status());
      RETURN_IF_ERROR(Emit(tx, ev::kModelAliasDeleted,
                           {{"name", v.name}, {"alias", alias}, {"previous_version", version}},
                           name, version));
    }
    RETURN_IF_ERROR(
        tx.Exec("DELETE FROM registry_version_tags WHERE name = ? AND version = ?", key).status());
    RETURN_IF_ERROR(
        tx.Exec("DELETE FROM registry_versions WHERE name = ? AND version = ?", key).status());
    RETURN_IF_ERROR(Touch(tx, name));
    return Emit(tx, ev::kModelVersionDeleted, {{"name", v.name}, {"version", version}}, name,
                version);
  });
}

StatusOr<Page<ModelVersion>> SqlModelRegistry::DoSearchVersions(std::string_view name,
                                                                const VersionSearch& s) {
  const int limit = PageSize(s.max_results);
  int64_t before = std::numeric_limits<int64_t>::max();
  if (!s.page_token.empty()) {
    ASSIGN_OR_RETURN(std::string cursor, DecodeToken("v", s.page_token));
    before = std::strtoll(cursor.c_str(), nullptr, 10);
    if (before <= 0) return InvalidArgumentError("invalid page_token " + Q(s.page_token));
  }
  std::string sql = std::string(kVersionColumns) + "WHERE name = ? AND version < ?";
  std::vector<Value> params = {std::string(name), before};
  if (s.status) {
    sql += " AND status = ?";
    params.push_back(std::string(VersionStatusName(*s.status)));
  }
  sql += " ORDER BY version DESC LIMIT ?";
  params.push_back(static_cast<int64_t>(limit) + 1);
  Page<ModelVersion> page;
  RETURN_IF_ERROR(db_.Read([&](Transaction& tx) -> Status {
    page = {};
    RETURN_IF_ERROR(LoadModel(tx, name).status());
    ASSIGN_OR_RETURN(std::vector<Row> rows, tx.Query(sql, params));
    for (size_t i = 0; i < rows.size() && i < static_cast<size_t>(limit); ++i) {
      ASSIGN_OR_RETURN(ModelVersion v, VersionColumnsFromRow(rows[i]));
      page.items.push_back(std::move(v));
    }
    RETURN_IF_ERROR(LoadVersionExtras(tx, std::string(name), page.items));
    if (rows.size() > static_cast<size_t>(limit)) {
      page.next_page_token = EncodeToken("v", std::to_string(page.items.back().version));
    }
    return OkStatus();
  }));
  return page;
}

// --- aliases --------------------------------------------------------------------

StatusOr<ModelVersion> SqlModelRegistry::DoSetAlias(std::string_view name, std::string_view alias,
                                                    int64_t version) {
  ModelVersion out;
  RETURN_IF_ERROR(WriteModel(name, [&](Transaction& tx) -> Status {
    RETURN_IF_ERROR(LoadVersion(tx, name, version).status());
    std::string n(name), a(alias);
    ASSIGN_OR_RETURN(
        std::vector<Row> prev,
        tx.Query("SELECT version FROM registry_aliases WHERE name = ? AND alias = ?", {n, a}));
    bool unchanged = !prev.empty() && prev[0].Int(0) == version;
    if (!unchanged) {
      RETURN_IF_ERROR(tx.Exec("INSERT INTO registry_aliases (name, alias, version) VALUES "
                              "(?, ?, ?) ON CONFLICT (name, alias) DO UPDATE SET version = "
                              "excluded.version",
                              {n, a, version})
                          .status());
      RETURN_IF_ERROR(Touch(tx, name));
      RETURN_IF_ERROR(Emit(tx, ev::kModelAliasChanged,
                           {{"name", n},
                            {"alias", a},
                            {"version", version},
                            {"previous_version", prev.empty() ? Json() : Json(prev[0].Int(0))}},
                           name, version));
    }
    ASSIGN_OR_RETURN(out, LoadVersion(tx, name, version));
    return OkStatus();
  }));
  return out;
}

Status SqlModelRegistry::DoDeleteAlias(std::string_view name, std::string_view alias) {
  return WriteModel(name, [&](Transaction& tx) -> Status {
    ASSIGN_OR_RETURN(int64_t previous, AliasTarget(tx, name, alias));
    RETURN_IF_ERROR(tx.Exec("DELETE FROM registry_aliases WHERE name = ? AND alias = ?",
                            {std::string(name), std::string(alias)})
                        .status());
    RETURN_IF_ERROR(Touch(tx, name));
    return Emit(tx, ev::kModelAliasDeleted,
                {{"name", name}, {"alias", alias}, {"previous_version", previous}}, name, previous);
  });
}

StatusOr<ModelVersion> SqlModelRegistry::DoGetVersionByAlias(std::string_view name,
                                                             std::string_view alias) {
  ModelRef ref{ModelRef::Kind::kAlias, std::string(name), std::string(alias), 0};
  return Resolve(ref);
}

StatusOr<ModelVersion> SqlModelRegistry::DoResolve(const ModelRef& ref) {
  ModelVersion out;
  RETURN_IF_ERROR(db_.Read([&](Transaction& tx) -> Status {
    int64_t version = ref.version;
    if (ref.kind == ModelRef::Kind::kAlias) {
      ASSIGN_OR_RETURN(version, AliasTarget(tx, ref.name, ref.alias));
    } else if (ref.kind == ModelRef::Kind::kLatest) {
      ASSIGN_OR_RETURN(Row r, tx.QueryOne("SELECT MAX(version) FROM registry_versions WHERE "
                                          "name = ? AND status = 'READY'",
                                          {ref.name}));
      if (r.IsNull(0)) {
        RETURN_IF_ERROR(LoadModel(tx, ref.name).status());
        return NotFoundError("model " + Q(ref.name) + " has no READY version");
      }
      version = r.Int(0);
    }
    ASSIGN_OR_RETURN(out, LoadVersion(tx, ref.name, version));
    return OkStatus();
  }));
  return out;
}

// --- tags ---------------------------------------------------------------------------

Status SqlModelRegistry::DoSetModelTag(std::string_view name, std::string_view key,
                                       std::string_view value) {
  return WriteModel(name, [&](Transaction& tx) -> Status {
    RETURN_IF_ERROR(LoadModel(tx, name).status());
    RETURN_IF_ERROR(tx.Exec("INSERT INTO registry_model_tags (name, tag_key, tag_value) VALUES "
                            "(?, ?, ?) ON CONFLICT (name, tag_key) DO UPDATE SET tag_value = "
                            "excluded.tag_value",
                            {std::string(name), std::string(key), std::string(value)})
                        .status());
    RETURN_IF_ERROR(Touch(tx, name));
    return Emit(tx, ev::kModelTagChanged,
                {{"name", name}, {"version", nullptr}, {"key", key}, {"value", value}}, name);
  });
}

Status SqlModelRegistry::DoDeleteModelTag(std::string_view name, std::string_view key) {
  return WriteModel(name, [&](Transaction& tx) -> Status {
    RETURN_IF_ERROR(LoadModel(tx, name).status());
    ASSIGN_OR_RETURN(int64_t n,
                     tx.Exec("DELETE FROM registry_model_tags WHERE name = ? AND tag_key = ?",
                             {std::string(name), std::string(key)}));
    if (n == 0) return NotFoundError("tag " + Q(key) + " of model " + Q(name) + " not found");
    RETURN_IF_ERROR(Touch(tx, name));
    return Emit(tx, ev::kModelTagChanged,
                {{"name", name}, {"version", nullptr}, {"key", key}, {"value", nullptr}}, name);
  });
}

Status SqlModelRegistry::DoSetVersionTag(std::string_view name, int64_t version,
                                         std::string_view key, std::string_view value) {
  return WriteModel(name, [&](Transaction& tx) -> Status {
    RETURN_IF_ERROR(LoadVersion(tx, name, version).status());
    RETURN_IF_ERROR(tx.Exec("INSERT INTO registry_version_tags (name, version, tag_key, "
                            "tag_value) VALUES (?, ?, ?, ?) ON CONFLICT (name, version, "
                            "tag_key) DO UPDATE SET tag_value = excluded.tag_value",
                            {std::string(name), version, std::string(key), std::string(value)})
                        .status());
    return Emit(tx, ev::kModelTagChanged,
                {{"name", name}, {"version", version}, {"key", key}, {"value", value}}, name,
                version);
  });
}

Status SqlModelRegistry::DoDeleteVersionTag(std::string_view name, int64_t version,
                                            std::string_view key) {
  return WriteModel(name, [&](Transaction& tx) -> Status {
    RETURN_IF_ERROR(LoadVersion(tx, name, version).status());
    ASSIGN_OR_RETURN(int64_t n, tx.Exec("DELETE FROM registry_version_tags WHERE name = ? AND "
                                        "version = ? AND tag_key = ?",
                                        {std::string(name), version, std::string(key)}));
    if (n == 0) {
      return NotFoundError("tag " + Q(key) + " of model version " + VersionRef(name, version) +
                           " not found");
    }
    return Emit(tx, ev::kModelTagChanged,
                {{"name", name}, {"version", version}, {"key", key}, {"value", nullptr}}, name,
                version);
  });
}

}  // namespace tandem::registry
