// SqlModelRegistry: creating versions, group committed per model.
//
// Each DoCreateVersion prepares its row (serialized fields, the version as
// it will be returned) before it queues, so what can fail on its own fails
// alone before joining a batch. The batch's leader then runs one keyed
// transaction for the model: the model's touch and its counter bumped by
// the batch's size (one statement on PostgreSQL), every version's row and
// tags (deferred), every event with one routing lookup, one COMMIT: two
// round trips for the whole batch, as for one creation; one on PostgreSQL
// when this process numbered the model's previous versions (the counter is
// then bumped with a check, registry_bump_expected, and the bus routes with
// its cached rules, checked likewise). Numbers are consecutive in arrival
// order, so numbering stays gap-free and serial.
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

// The counter row's next `n` numbers (the last one returned); the counter
// never goes back (numbers of deleted versions are not reused).
constexpr char kNextVersions[] =
    "INSERT INTO registry_version_counters (name, last_version) VALUES (?, CAST(? AS BIGINT)) "
    "ON CONFLICT (name) DO UPDATE SET last_version = registry_version_counters.last_version + "
    "CAST(? AS BIGINT) RETURNING last_version";
// PostgreSQL: the model's touch and kNextVersions in one statement; no row
// if the model does not exist (then nothing changed).
constexpr char kTouchAndCount[] =
    "WITH touched AS (UPDATE registry_models SET updated_micros = ? WHERE name = ? "
    "RETURNING name) "
    "INSERT INTO registry_version_counters (name, last_version) "
    "SELECT name, CAST(? AS BIGINT) FROM touched "
    "ON CONFLICT (name) DO UPDATE SET last_version = registry_version_counters.last_version + "
    "CAST(? AS BIGINT) RETURNING last_version";
// PostgreSQL, when this process knows the model's last version: the touch
// and the bump, checked (a serialization failure if the counter moved).
constexpr char kBumpExpected[] =
    "SELECT registry_bump_expected(?, CAST(? AS BIGINT), CAST(? AS BIGINT), CAST(? AS BIGINT))";
// Models whose last version is remembered at most (then it starts afresh).
constexpr size_t kMaxKnownModels = 10'000;

}  // namespace

std::optional<int64_t> SqlModelRegistry::KnownLastVersion(const std::string& name) {
  absl::MutexLock lock(&last_mu_);
  auto it = last_versions_.find(name);
  if (it == last_versions_.end()) return std::nullopt;
  return it->second;
}

void SqlModelRegistry::RememberLastVersion(const std::string& name, std::optional<int64_t> last) {
  absl::MutexLock lock(&last_mu_);
  if (!last) {
    last_versions_.erase(name);
    return;
  }
  if (last_versions_.size() >= kMaxKnownModels && last_versions_.count(name) == 0) {
    last_versions_.clear();
  }
  last_versions_[name] = *last;
}

struct SqlModelRegistry::PendingVersion {
  const CreateVersionRequest* req = nullptr;
  std::string lineage, signature, status;  // as stored
  ModelVersion out;                        // as returned, less number and times
  Status result;                           // set by the batch
};

StatusOr<ModelVersion> SqlModelRegistry::DoCreateVersion(const CreateVersionRequest& req) {
  PendingVersion p;
  p.req = &req;
  p.lineage = req.lineage.ToJson().dump();
  p.signature = req.signature.dump();
  p.status = std::string(VersionStatusName(req.status));
  // The version as stored, built from the same serialized fields the
  // insert writes (so no read-back round trips): a new version has the
  // request's tags and no aliases yet.
  ModelVersion& out = p.out;
  out.name = req.name;
  out.source = req.source;
  out.status = req.status;
  out.status_message = req.status_message;
  ASSIGN_OR_RETURN(Json lineage_json, ParseJson(p.lineage));
  ASSIGN_OR_RETURN(out.lineage, Lineage::FromJson(lineage_json));
  ASSIGN_OR_RETURN(out.signature, ParseJson(p.signature));
  out.description = req.description;
  out.tags = req.tags;
  out.run_id = req.run_id;
  out.creator = req.creator;
  creates_.Submit(req.name, &p, [this](const std::string&, const std::vector<PendingVersion*>& b) {
    CreateVersions(b);
  });
  RETURN_IF_ERROR(p.result);
  return std::move(p.out);
}

void SqlModelRegistry::CreateVersions(const std::vector<PendingVersion*>& batch) {
  if (batch.empty()) return;
  bool fn_failed = false;
  const std::string& name = batch[0]->req->name;
  int64_t last = 0;
  Status s = WriteModel(name, [&](Transaction& tx) -> Status {
    Status w = WriteVersions(tx, batch, last);
    fn_failed = !w.ok();
    return w;
  });
  // Only PostgreSQL's transactions use it (a counter that did not move is
  // checked there); a failure may leave the counter anywhere.
  if (db_.dialect() == sql::Dialect::kPostgres) {
    RememberLastVersion(name, s.ok() && last > 0 ? std::optional<int64_t>(last) : std::nullopt);
  }
  if (s.ok()) return;  // each item holds its own result
  if (batch.size() > 1 && (fn_failed || sql::RefusedOutright(s))) {
    // Nothing committed: one item's row may be what the database refused,
    // so each goes alone and only that one fails.
    for (PendingVersion* p : batch) CreateVersions({p});
    return;
  }
  for (PendingVersion* p : batch) p->result = s;
}

Status SqlModelRegistry::WriteVersions(Transaction& tx, const std::vector<PendingVersion*>& batch,
                                       int64_t& last_out) {
  const std::string& name = batch[0]->req->name;
  const int64_t n = static_cast<int64_t>(batch.size());
  const int64_t now = clock_.NowMicros();
  for (PendingVersion* p : batch) p->result = OkStatus();  // the callback may be re-run
  last_out = 0;
  // Touching the model is also the existence check; on PostgreSQL the
  // counter's increment rides on it (one statement, no row when the model
  // is missing).
  std::optional<int64_t> last;
  int64_t touched = 0;
  // The outbox's rule lookup goes with the first statement (PostgreSQL):
  // then the rows, the events and the COMMIT are one round trip.
  RETURN_IF_ERROR(outbox_.Prefetch(tx));
  std::optional<int64_t> known;
  if (tx.dialect() == sql::Dialect::kPostgres && tx.attempt() == 0) known = KnownLastVersion(name);
  if (known) {
    // This process numbered the model's last versions: the numbers follow
    // from there, checked by the database with the inserts (all of them
    // and the COMMIT one round trip, with the outbox's cached rules). If
    // the counter moved meanwhile (another process, a deleted model), the
    // check fails, nothing is written, and the transaction runs again the
    // long way (attempt() > 0).
    RETURN_IF_ERROR(tx.ExecDeferred(kBumpExpected, {name, now, n, *known}));
    touched = 1;
    last = *known + n;
  } else if (tx.dialect() == sql::Dialect::kPostgres) {
    ASSIGN_OR_RETURN(std::vector<Row> rows, tx.Query(kTouchAndCount, {now, name, n, n}));
    touched = static_cast<int64_t>(rows.size());
    if (!rows.empty()) last = rows[0].Int(0);
  } else {
    ASSIGN_OR_RETURN(touched,
                     tx.Exec("UPDATE registry_models SET updated_micros = ? WHERE name = ?",
                             {now, name}));
  }
  std::vector<bus::Event> events;
  size_t first = 0;  // the items from here on get versions
  if (touched == 0) {
    // As if run one after the other: those before the first that may
    // create the model find it missing; that one creates it.
    while (first < batch.size() && !batch[first]->req->create_model_if_missing) {
      batch[first]->result = ModelNotFound(name);
      ++first;
    }
    if (first == batch.size()) return OkStatus();
    const CreateVersionRequest& creator = *batch[first]->req;
    RETURN_IF_ERROR(tx.Exec("INSERT INTO registry_models (name, description, owner_team, "
                            "created_micros, updated_micros) VALUES (?, '', ?, ?, ?)",
                            {name, creator.owner_team, now, now})
                        .status());
    events.push_back(bus::MakeEvent(clock_, std::string(ev::kRegistrySource),
                                    std::string(ev::kModelCreated),
                                    {{"name", name},
                                     {"description", ""},
                                     {"owner_team", creator.owner_team},
                                     {"tags", Json::object()}},
                                    {"model/" + name}));
  }
  const int64_t count = n - static_cast<int64_t>(first);
  if (!last) {
    ASSIGN_OR_RETURN(Row counter, tx.QueryOne(kNextVersions, {name, count, count}));
    last = counter.Int(0);
  }
  int64_t version = *last - count;
  for (size_t i = first; i < batch.size(); ++i) {
    PendingVersion& p = *batch[i];
    const CreateVersionRequest& req = *p.req;
    ++version;
    // The row and its tags go with the next statement (their results are
    // not read): one round trip on PostgreSQL for the whole batch.
    RETURN_IF_ERROR(tx.ExecDeferred("INSERT INTO registry_versions (name, version, source, "
                                    "status, status_message, lineage, signature, description, "
                                    "run_id, creator, created_micros, updated_micros) "
                                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                                    {name, version, req.source, p.status, req.status_message,
                                     p.lineage, p.signature, req.description, req.run_id,
                                     req.creator, now, now}));
    for (const auto& [k, v] : req.tags) {
      RETURN_IF_ERROR(tx.ExecDeferred("INSERT INTO registry_version_tags (name, version, "
                                      "tag_key, tag_value) VALUES (?, ?, ?, ?)",
                                      {name, version, k, v}));
    }
    std::string model = "model/" + name;
    events.push_back(bus::MakeEvent(clock_, std::string(ev::kRegistrySource),
                                    std::string(ev::kModelVersionCreated),
                                    {{"name", name},
                                     {"version", version},
                                     {"source", req.source},
                                     {"status", p.status},
                                     {"lineage", req.lineage.ToJson()},
                                     {"tags", TagsJson(req.tags)}},
                                    {model, model + "/" + std::to_string(version)}));
    events.insert(events.end(), req.also_publish.begin(), req.also_publish.end());
    p.out.version = version;
    p.out.created_micros = now;
    p.out.updated_micros = now;
  }
  RETURN_IF_ERROR(outbox_.AppendAll(tx, events));
  last_out = *last;
  return OkStatus();
}

}  // namespace tandem::registry
