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
//
// On PostgreSQL two batches of one model may be in flight: the next one is
// sent while the previous one's round trip is under way, expecting the
// numbers after the previous batch's; the server runs it once the model's
// lock is free, i.e. after the previous one committed. The batches take
// turns in the order they were formed: a batch sends once the server has
// granted the previous one the model's lock (if that one expected its
// numbers: Transaction::OnKeyLocked), so it queues behind it there, or
// once the previous one has ended (if it read the counter). The next batch
// is also only formed then (GroupCommit::LetNextStart), so it carries every
// creation that arrived while the previous one waited for its lock (formed
// at once, batches stayed at one or two creations with 4 writers: more
// transactions per version, and the server's CPU is the budget). If the
// previous one failed, the check fails and the batch runs again reading the
// counter: numbers stay unique and gap-free either way.
#include <algorithm>
#include <optional>

#include "glue/bus/event_types.h"
#include "glue/registry/sql_model_registry.h"
#include "glue/sql/deferred_rows.h"

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

struct SqlModelRegistry::PendingVersion {
  const CreateVersionRequest* req = nullptr;
  std::string lineage, signature, status;  // as stored
  ModelVersion out;                        // as returned, less number and times
  Status result;                           // set by the batch
  // The batch's head only (PostgreSQL): its place among the model's
  // batches (QueueBatch; 0 for one that runs alone after its batch failed)
  // and the model's last version it expects to follow (TakeTurn), if any.
  uint64_t seq = 0;
  std::optional<int64_t> expected;
};

void SqlModelRegistry::QueueBatch(const std::string& name, PendingVersion& head) {
  absl::MutexLock lock(&last_mu_);
  if (known_.size() >= kMaxKnownModels && known_.count(name) == 0) {
    for (auto it = known_.begin(); it != known_.end();) {
      it = it->second.unsettled.empty() ? known_.erase(it) : std::next(it);
    }
  }
  KnownVersions& k = known_[name];
  head.seq = ++k.formed;
  k.unsettled.insert(head.seq);
}

std::optional<int64_t> SqlModelRegistry::TakeTurn(const std::string& name, PendingVersion& head,
                                                  int64_t n) {
  absl::MutexLock lock(&last_mu_);
  KnownVersions& k = known_[name];  // there while the batch is in flight
  while (k.turn + 1 < head.seq) turn_cv_.Wait(&last_mu_);
  if (!k.last) return std::nullopt;  // the long way: the turn passes when it ends
  head.expected = *k.last;
  *k.last += n;
  return head.expected;
}

void SqlModelRegistry::PassTurn(const std::string& name, const PendingVersion& head) {
  if (head.seq == 0) return;
  {
    absl::MutexLock lock(&last_mu_);
    KnownVersions& k = known_[name];
    if (k.turn < head.seq) {
      k.turn = head.seq;
      turn_cv_.SignalAll();
    }
  }
  // Only now is the next batch formed: the creations that arrived while
  // this one waited for the model's lock go together (outside last_mu_:
  // the group's lock is taken before it, in QueueBatch).
  creates_.LetNextStart(name, &head);
}

void SqlModelRegistry::SettleVersions(const std::string& name, const PendingVersion& head,
                                      std::optional<int64_t> last, bool checked) {
  {
    absl::MutexLock lock(&last_mu_);
    auto it = known_.find(name);
    if (it != known_.end()) {
      KnownVersions& k = it->second;
      if (head.seq != 0) k.unsettled.erase(head.seq);
      if (head.expected && checked && last) {
        // As expected: the numbers were already counted in.
      } else if (head.seq != 0 && !head.expected && last) {
        // The long way in its turn (no batch after it has started): the
        // last number as committed.
        k.last = *last;
      } else {
        // Failed, or a fallback after a failed check, or one alone after
        // its batch failed: the batches that expected to follow it cannot,
        // so the next one reads the counter again.
        k.last.reset();
      }
    }
    turn_cv_.SignalAll();
  }
  PassTurn(name, head);
}

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
  creates_.Submit(
      req.name, &p,
      [this](const std::string&, const std::vector<PendingVersion*>& b) { CreateVersions(b); },
      [this](const std::string& name, const std::vector<PendingVersion*>& b) {
        if (db_.dialect() == sql::Dialect::kPostgres) QueueBatch(name, *b[0]);
      });
  RETURN_IF_ERROR(p.result);
  return std::move(p.out);
}

void SqlModelRegistry::CreateVersions(const std::vector<PendingVersion*>& batch) {
  if (batch.empty()) return;
  bool fn_failed = false, checked = false;
  const std::string& name = batch[0]->req->name;
  int64_t last = 0;
  Status s = WriteModel(name, [&](Transaction& tx) -> Status {
    Status w = WriteVersions(tx, batch, last, checked);
    fn_failed = !w.ok();
    return w;
  });
  // Only PostgreSQL's transactions use it (a counter that did not move is
  // checked there); a failure may leave the counter anywhere.
  if (db_.dialect() == sql::Dialect::kPostgres) {
    SettleVersions(name, *batch[0], s.ok() && last > 0 ? std::optional<int64_t>(last) : std::nullopt,
                   checked);
  }
  if (s.ok()) return;  // each item holds its own result
  if (batch.size() > 1 && (fn_failed || sql::RefusedOutright(s))) {
    // Nothing committed: one item's row may be what the database refused,
    // so each goes alone (reading the counter) and only that one fails.
    for (PendingVersion* p : batch) {
      p->seq = 0;
      p->expected.reset();
      CreateVersions({p});
    }
    return;
  }
  for (PendingVersion* p : batch) p->result = s;
}

Status SqlModelRegistry::WriteVersions(Transaction& tx, const std::vector<PendingVersion*>& batch,
                                       int64_t& last_out, bool& checked) {
  const std::string& name = batch[0]->req->name;
  const int64_t n = static_cast<int64_t>(batch.size());
  const int64_t now = clock_.NowMicros();
  for (PendingVersion* p : batch) p->result = OkStatus();  // the callback may be re-run
  last_out = 0;
  checked = false;
  // Touching the model is also the existence check; on PostgreSQL the
  // counter's increment rides on it (one statement, no row when the model
  // is missing).
  std::optional<int64_t> last;
  int64_t touched = 0;
  // The outbox's rule lookup goes with the first statement (PostgreSQL):
  // then the rows, the events and the COMMIT are one round trip.
  RETURN_IF_ERROR(outbox_.Prefetch(tx));
  std::optional<int64_t> known;
  if (tx.dialect() == sql::Dialect::kPostgres && batch[0]->seq != 0) {
    if (tx.attempt() == 0) known = TakeTurn(name, *batch[0], n);
  }
  if (known) {
    // This process numbered the model's last versions (or has a batch in
    // flight that will have): the numbers follow from there, checked by the
    // database with the inserts (all of them and the COMMIT one round trip,
    // with the outbox's cached rules). If the counter is not there when the
    // model's lock is ours (another process, a deleted model, a failed
    // batch before this one), the check fails, nothing is written, and the
    // transaction runs again the long way (attempt() > 0).
    RETURN_IF_ERROR(tx.ExecDeferred(kBumpExpected, {name, now, n, *known}));
    // The next batch's turn: once the server has given this one the
    // model's lock, so the next one queues behind it there.
    PendingVersion* head = batch[0];
    tx.OnKeyLocked([this, head] { PassTurn(head->req->name, *head); });
    touched = 1;
    checked = true;
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
  // The batch's rows, then their tags, in multi-row inserts that go with
  // the next statement (their results are not read): one round trip on
  // PostgreSQL for the whole batch, and few statements for the server.
  std::vector<sql::Value> rows, tag_rows;
  for (size_t i = first; i < batch.size(); ++i) {
    PendingVersion& p = *batch[i];
    const CreateVersionRequest& req = *p.req;
    ++version;
    rows.insert(rows.end(), {name, version, req.source, p.status, req.status_message, p.lineage,
                             p.signature, req.description, req.run_id, req.creator, now, now});
    for (const auto& [k, v] : req.tags) tag_rows.insert(tag_rows.end(), {name, version, k, v});
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
  RETURN_IF_ERROR(sql::ExecDeferredRows(tx,
                                        "INSERT INTO registry_versions (name, version, source, "
                                        "status, status_message, lineage, signature, description, "
                                        "run_id, creator, created_micros, updated_micros)",
                                        12, rows));
  RETURN_IF_ERROR(sql::ExecDeferredRows(
      tx, "INSERT INTO registry_version_tags (name, version, tag_key, tag_value)", 4, tag_rows));
  RETURN_IF_ERROR(outbox_.AppendAll(tx, events));
  last_out = *last;
  return OkStatus();
}

}  // namespace tandem::registry
