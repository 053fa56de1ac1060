#include "compute/jobs/store.h"

#include <algorithm>

#include "compute/jobs/spec_cache.h"
#include "glue/bus/event_types.h"
#include "glue/sql/deferred_rows.h"

namespace tandem::compute::jobs {
namespace {

using sql::Row;
using sql::Transaction;
using sql::Value;
namespace ev = bus::events;

const std::vector<sql::Migration>& Migrations() {
  static const std::vector<sql::Migration> kMigrations = {
      {1, "create_compute_tables",
       R"sql(
CREATE TABLE compute_jobs (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  team TEXT NOT NULL,
  spec TEXT NOT NULL,
  state TEXT NOT NULL,
  attempt BIGINT NOT NULL,
  failure_reason TEXT NOT NULL,
  created_micros BIGINT NOT NULL,
  queued_micros BIGINT NOT NULL,
  started_micros BIGINT NOT NULL,
  ended_micros BIGINT NOT NULL,
  updated_micros BIGINT NOT NULL,
  substrate TEXT NOT NULL,
  handle TEXT NOT NULL,
  wall_seconds DOUBLE PRECISION NOT NULL,
  cpu_seconds DOUBLE PRECISION NOT NULL,
  peak_rss_bytes BIGINT NOT NULL,
  cost DOUBLE PRECISION NOT NULL,
  warm_pool_seconds DOUBLE PRECISION NOT NULL,
  model_key TEXT NOT NULL,
  model_digest TEXT NOT NULL,
  registered_model TEXT NOT NULL,
  registered_version BIGINT NOT NULL,
  registered_alias TEXT NOT NULL,
  final_metrics TEXT NOT NULL,
  details TEXT NOT NULL);
CREATE INDEX compute_jobs_state ON compute_jobs (state, queued_micros);
CREATE INDEX compute_jobs_team ON compute_jobs (team);
CREATE INDEX compute_jobs_name ON compute_jobs (name);
CREATE TABLE compute_job_metrics (
  job_id TEXT NOT NULL,
  attempt BIGINT NOT NULL,
  name TEXT NOT NULL,
  step BIGINT NOT NULL,
  value DOUBLE PRECISION NOT NULL,
  timestamp_micros BIGINT NOT NULL,
  PRIMARY KEY (job_id, attempt, name, step));
CREATE VIEW compute_team_spend AS
  SELECT team, COUNT(*) AS jobs, SUM(wall_seconds) AS wall_seconds,
         SUM(cpu_seconds) AS cpu_seconds, SUM(warm_pool_seconds) AS warm_pool_seconds,
         SUM(cost) AS cost
  FROM compute_jobs GROUP BY team;
)sql"},
      // Which control plane runs an active job, until when (see compute/jobs/store.h).
      {2, "job_owner_lease",
       "ALTER TABLE compute_jobs ADD COLUMN owner TEXT NOT NULL DEFAULT '';"
       "ALTER TABLE compute_jobs ADD COLUMN lease_expires_micros BIGINT NOT NULL DEFAULT 0"},
      // The job's kind (JobSpec::Kind()) as an indexed column, so listings
      // filter by kind in SQL. Rows from before hold '' until JobStore::Open
      // fills them in from their specs.
      {3, "job_kind",
       "ALTER TABLE compute_jobs ADD COLUMN kind TEXT NOT NULL DEFAULT '';"
       "CREATE INDEX compute_jobs_kind ON compute_jobs (kind, id)"},
      // Control planes that hold a liveness lock (sql::Database::HoldLock of
      // OwnerLockKey) while they run: one whose lock is free is dead.
      {4, "owner_liveness", "CREATE TABLE compute_owners (owner TEXT PRIMARY KEY)"},
  };
  return kMigrations;
}

constexpr char kColumns[] =
    "id, name, team, spec, state, attempt, failure_reason, created_micros, queued_micros, "
    "started_micros, ended_micros, updated_micros, substrate, handle, wall_seconds, cpu_seconds, "
    "peak_rss_bytes, cost, warm_pool_seconds, model_key, model_digest, registered_model, "
    "registered_version, registered_alias, final_metrics, details, kind";
constexpr int kColumnCount = 27;
// Read with the owner (kept by Claim/Adopt, never written from a record).
constexpr char kSelectColumns[] =
    "id, name, team, spec, state, attempt, failure_reason, created_micros, queued_micros, "
    "started_micros, ended_micros, updated_micros, substrate, handle, wall_seconds, cpu_seconds, "
    "peak_rss_bytes, cost, warm_pool_seconds, model_key, model_digest, registered_model, "
    "registered_version, registered_alias, final_metrics, details, kind, owner, "
    "lease_expires_micros";

std::vector<Value> RowValues(const JobRecord& r) {
  return {r.id,
          r.name,
          r.team,
          r.spec.ToJson().dump(),
          std::string(JobStateName(r.state)),
          int64_t{r.attempt},
          r.failure_reason,
          r.created_micros,
          r.queued_micros,
          r.started_micros,
          r.ended_micros,
          r.updated_micros,
          r.handle.substrate,
          r.handle.id,
          r.metering.wall_seconds,
          r.metering.cpu_seconds,
          r.metering.peak_rss_bytes,
          r.metering.cost,
          r.metering.warm_pool_seconds,
          r.model_key,
          r.model_digest,
          r.registered_model,
          r.registered_version,
          r.registered_alias,
          Json(r.final_metrics).dump(),
          r.details.dump(),
          r.spec.Kind()};
}

// Every record read parses its spec through here (spec_cache.h).
SpecCache& StoredSpecs() {
  static SpecCache* cache = new SpecCache();
  return *cache;
}

StatusOr<JobRecord> FromRow(const Row& row) {
  JobRecord r;
  size_t i = 0;
  r.id = row.Text(i++);
  r.name = row.Text(i++);
  r.team = row.Text(i++);
  auto parsed = StoredSpecs().Parse(row.Text(i++));
  if (!parsed.ok()) return Annotate(parsed.status(), "stored spec of job '" + r.id + "'");
  r.spec = *std::move(parsed);
  ASSIGN_OR_RETURN(r.state, ParseJobState(row.Text(i++)));
  r.attempt = static_cast<int>(row.Int(i++));
  r.failure_reason = row.Text(i++);
  r.created_micros = row.Int(i++);
  r.queued_micros = row.Int(i++);
  r.started_micros = row.Int(i++);
  r.ended_micros = row.Int(i++);
  r.updated_micros = row.Int(i++);
  r.handle.substrate = row.Text(i++);
  r.handle.id = row.Text(i++);
  r.metering.wall_seconds = row.Double(i++);
  r.metering.cpu_seconds = row.Double(i++);
  r.metering.peak_rss_bytes = row.Int(i++);
  r.metering.cost = row.Double(i++);
  r.metering.warm_pool_seconds = row.Double(i++);
  r.model_key = row.Text(i++);
  r.model_digest = row.Text(i++);
  r.registered_model = row.Text(i++);
  r.registered_version = row.Int(i++);
  r.registered_alias = row.Text(i++);
  ASSIGN_OR_RETURN(Json metrics, ParseJson(row.Text(i++)));
  for (const auto& [k, v] : metrics.items()) {
    if (v.is_number()) r.final_metrics[k] = v.get<double>();
  }
  ASSIGN_OR_RETURN(r.details, ParseJson(row.Text(i++)));
  ++i;  // kind (derived from the spec)
  r.owner = row.Text(i++);
  r.lease_expires_micros = row.Int(i++);
  return r;
}

Status JobNotFound(const std::string& id) {
  return NotFoundError("training job '" + id + "' not found");
}

StatusOr<JobRecord> GetIn(Transaction& tx, const std::string& id) {
  auto row =
      tx.QueryOne(std::string("SELECT ") + kSelectColumns + " FROM compute_jobs WHERE id = ?", {id});
  if (!row.ok()) {
    if (row.status().code() == StatusCode::kNotFound) return JobNotFound(id);
    return row.status();
  }
  return FromRow(*row);
}

Status WriteIn(Transaction& tx, const JobRecord& r) {
  std::vector<Value> values = RowValues(r);
  values.erase(values.begin());  // id goes last, in WHERE
  values.push_back(r.id);
  ASSIGN_OR_RETURN(int64_t n,
                   tx.Exec("UPDATE compute_jobs SET name = ?, team = ?, spec = ?, state = ?, "
                           "attempt = ?, failure_reason = ?, created_micros = ?, "
                           "queued_micros = ?, started_micros = ?, ended_micros = ?, "
                           "updated_micros = ?, substrate = ?, handle = ?, wall_seconds = ?, "
                           "cpu_seconds = ?, peak_rss_bytes = ?, cost = ?, "
                           "warm_pool_seconds = ?, model_key = ?, model_digest = ?, "
                           "registered_model = ?, registered_version = ?, "
                           "registered_alias = ?, final_metrics = ?, details = ?, kind = ? "
                           "WHERE id = ?",
                           values));
  if (n != 1) return JobNotFound(r.id);
  return OkStatus();
}

StatusOr<std::vector<JobRecord>> Rows(Transaction& tx, const std::string& sql,
                                      const std::vector<Value>& params) {
  ASSIGN_OR_RETURN(auto rows, tx.Query(sql, params));
  std::vector<JobRecord> out;
  out.reserve(rows.size());
  for (const auto& row : rows) {
    ASSIGN_OR_RETURN(JobRecord r, FromRow(row));
    out.push_back(std::move(r));
  }
  return out;
}

// Sets the kind of rows written before the column existed (kind = ''), from
// their specs, a page per transaction. Idempotent; a no-op once done.
Status FillKinds(sql::Database& db) {
  constexpr int kBatch = 500;
  for (;;) {
    int64_t filled = 0;
    RETURN_IF_ERROR(db.WithTransaction([&](Transaction& tx) -> Status {
      filled = 0;
      ASSIGN_OR_RETURN(auto rows,
                       tx.Query("SELECT id, spec FROM compute_jobs WHERE kind = '' LIMIT " +
                                    std::to_string(kBatch),
                                {}));
      for (const auto& row : rows) {
        std::string kind = kTrainingKind;
        auto spec = ParseJson(row.Text(1));
        if (spec.ok() && spec->is_object() && spec->contains("environment") &&
            (*spec)["environment"].is_object()) {
          const Json& env = (*spec)["environment"];
          auto it = env.find(kJobKindVariable);
          if (it != env.end() && it->is_string() && !it->get<std::string>().empty()) {
            kind = it->get<std::string>();
          }
        }
        RETURN_IF_ERROR(
            tx.Exec("UPDATE compute_jobs SET kind = ? WHERE id = ?", {kind, row.Text(0)}).status());
        ++filled;
      }
      return OkStatus();
    }));
    if (filled < kBatch) return OkStatus();
  }
}

}  // namespace

Json StateChangeDetail(const JobRecord& r, JobState previous) {
  Json d = {{"job_id", r.id},
            {"name", r.name},
            {"team", r.team},
            {"state", JobStateName(r.state)},
            {"previous_state", JobStateName(previous)},
            {"attempt", r.attempt}};
  if (!r.failure_reason.empty()) d["failure_reason"] = r.failure_reason;
  if (IsTerminal(r.state) || (r.state == JobState::kPending && previous != JobState::kPending)) {
    if (!r.final_metrics.empty()) d["metrics"] = r.final_metrics;
    if (r.started_micros > 0) d["metering"] = r.metering.ToJson();
  }
  if (!r.registered_model.empty()) {
    d["model"] = {{"name", r.registered_model}, {"version", r.registered_version}};
    if (!r.registered_alias.empty()) d["model"]["alias"] = r.registered_alias;
  }
  return d;
}

StatusOr<std::unique_ptr<JobStore>> JobStore::Open(sql::Database& db, bus::Outbox& outbox,
                                                   Clock& clock) {
  RETURN_IF_ERROR(db.Migrate("compute", Migrations()));
  RETURN_IF_ERROR(FillKinds(db));
  return std::unique_ptr<JobStore>(new JobStore(db, outbox, clock));
}

Status JobStore::Insert(const JobRecord& record) {
  return group_.Run([&](Transaction& tx) -> Status {
    auto existing = tx.Query("SELECT id FROM compute_jobs WHERE id = ?", {record.id});
    if (!existing.ok()) return existing.status();
    if (!existing->empty()) return AlreadyExistsError("training job '" + record.id + "' exists");
    std::string placeholders = "?";
    for (int i = 1; i < kColumnCount; ++i) placeholders += ", ?";
    RETURN_IF_ERROR(tx.Exec(std::string("INSERT INTO compute_jobs (") + kColumns + ") VALUES (" +
                                placeholders + ")",
                            RowValues(record))
                        .status());
    Json detail = StateChangeDetail(record, record.state);
    detail.erase("previous_state");
    return outbox_.Append(tx, bus::MakeEvent(clock_, std::string(ev::kComputeSource),
                                             std::string(ev::kTrainingJobStateChange), detail,
                                             {"training-job/" + record.id}));
  });
}

StatusOr<JobRecord> JobStore::Get(const std::string& id) {
  JobRecord out;
  RETURN_IF_ERROR(db_.Read([&](Transaction& tx) -> Status {
    ASSIGN_OR_RETURN(out, GetIn(tx, id));
    return OkStatus();
  }));
  return out;
}

StatusOr<std::optional<JobRecord>> JobStore::GetIfChanged(const std::string& id,
                                                          std::vector<sql::Value>* seen) {
  std::optional<Row> row;
  RETURN_IF_ERROR(db_.Read([&](Transaction& tx) -> Status {
    auto r = tx.QueryOne(std::string("SELECT ") + kSelectColumns + " FROM compute_jobs WHERE id = ?",
                         {id});
    if (!r.ok()) {
      if (r.status().code() == StatusCode::kNotFound) return JobNotFound(id);
      return r.status();
    }
    row.emplace(*std::move(r));
    return OkStatus();
  }));
  bool same = seen->size() == row->size();
  for (size_t i = 0; same && i < row->size(); ++i) same = (*seen)[i] == row->at(i);
  if (same) return std::optional<JobRecord>();
  seen->clear();
  for (size_t i = 0; i < row->size(); ++i) seen->push_back(row->at(i));
  ASSIGN_OR_RETURN(JobRecord r, FromRow(*row));
  return std::optional<JobRecord>(std::move(r));
}

StatusOr<JobPage> JobStore::List(const JobFilter& f) {
  if (f.max_results < 1 || f.max_results > 1000) {
    return InvalidArgumentError("max_results must be between 1 and 1000");
  }
  std::string sql = std::string("SELECT ") + kSelectColumns + " FROM compute_jobs WHERE 1 = 1";
  std::vector<Value> params;
  if (f.state) {
    sql += " AND state = ?";
    params.emplace_back(std::string(JobStateName(*f.state)));
  }
  if (!f.team.empty()) {
    sql += " AND team = ?";
    params.emplace_back(f.team);
  }
  if (!f.name.empty()) {
    sql += " AND name = ?";
    params.emplace_back(f.name);
  }
  if (!f.kind.empty()) {
    sql += " AND kind = ?";
    params.emplace_back(f.kind);
  }
  if (!f.page_token.empty()) {
    sql += " AND id < ?";
    params.emplace_back(f.page_token);
  }
  sql += " ORDER BY id DESC LIMIT " + std::to_string(f.max_results + 1);
  JobPage page;
  RETURN_IF_ERROR(db_.Read([&](Transaction& tx) -> Status {
    ASSIGN_OR_RETURN(page.jobs, Rows(tx, sql, params));
    return OkStatus();
  }));
  if (page.jobs.size() > static_cast<size_t>(f.max_results)) {
    page.jobs.resize(f.max_results);
    page.next_page_token = page.jobs.back().id;
  }
  return page;
}

StatusOr<std::map<JobState, int64_t>> JobStore::CountByState(const std::string& kind) {
  std::map<JobState, int64_t> out;
  std::string sql = "SELECT state, COUNT(*) FROM compute_jobs";
  std::vector<Value> params;
  if (!kind.empty()) {
    sql += " WHERE kind = ?";
    params.emplace_back(kind);
  }
  sql += " GROUP BY state";
  RETURN_IF_ERROR(db_.Read([&](Transaction& tx) -> Status {
    out.clear();
    ASSIGN_OR_RETURN(auto rows, tx.Query(sql, params));
    for (const auto& row : rows) {
      ASSIGN_OR_RETURN(JobState state, ParseJobState(row.Text(0)));
      out[state] = row.Int(1);
    }
    return OkStatus();
  }));
  return out;
}

StatusOr<std::map<std::string, int64_t>> JobStore::CountByKind() {
  std::map<std::string, int64_t> out;
  RETURN_IF_ERROR(db_.Read([&](Transaction& tx) -> Status {
    out.clear();
    ASSIGN_OR_RETURN(auto rows,
                     tx.Query("SELECT kind, COUNT(*) FROM compute_jobs GROUP BY kind", {}));
    for (const auto& row : rows) out[row.Text(0)] = row.Int(1);
    return OkStatus();
  }));
  return out;
}

StatusOr<std::vector<JobRecord>> JobStore::ListPending(int limit) {
  std::vector<JobRecord> out;
  RETURN_IF_ERROR(db_.Read([&](Transaction& tx) -> Status {
    ASSIGN_OR_RETURN(out, Rows(tx,
                               std::string("SELECT ") + kSelectColumns +
                                   " FROM compute_jobs WHERE state = 'Pending' "
                                   "ORDER BY queued_micros, id LIMIT " +
                                   std::to_string(limit),
                               {}));
    return OkStatus();
  }));
  return out;
}

StatusOr<std::vector<JobStore::PendingJob>> JobStore::ListPendingCpus(int limit) {
  std::vector<std::pair<std::string, std::string>> rows;  // id, spec ("" when known)
  {
    std::vector<Row> read;
    RETURN_IF_ERROR(db_.Read([&](Transaction& tx) -> Status {
      ASSIGN_OR_RETURN(read, tx.Query("SELECT id, spec FROM compute_jobs WHERE state = 'Pending' "
                                      "ORDER BY queued_micros, id LIMIT " +
                                          std::to_string(limit),
                                      {}));
      return OkStatus();
    }));
    for (const Row& r : read) rows.emplace_back(r.Text(0), r.Text(1));
  }
  std::vector<PendingJob> out;
  out.reserve(rows.size());
  absl::MutexLock lock(&cpus_mu_);
  if (cpus_.size() > 100'000) cpus_.clear();  // ended jobs' entries; re-read as needed
  for (auto& [id, spec_text] : rows) {
    auto known = cpus_.find(id);
    if (known != cpus_.end()) {
      out.push_back({id, known->second});
      continue;
    }
    ASSIGN_OR_RETURN(Json j, ParseJson(spec_text));
    auto spec = JobSpec::FromJson(j);
    if (!spec.ok()) return Annotate(spec.status(), "stored spec of job '" + id + "'");
    cpus_[id] = spec->resources.cpus;
    out.push_back({id, spec->resources.cpus});
  }
  return out;
}

StatusOr<std::vector<JobRecord>> JobStore::ListActive() {
  std::vector<JobRecord> out;
  RETURN_IF_ERROR(db_.Read([&](Transaction& tx) -> Status {
    ASSIGN_OR_RETURN(out, Rows(tx,
                               std::string("SELECT ") + kSelectColumns +
                                   " FROM compute_jobs WHERE state IN "
                                   "('Starting', 'Running', 'Stopping') ORDER BY id",
                               {}));
    return OkStatus();
  }));
  return out;
}

StatusOr<JobRecord> JobStore::TransitionIn(Transaction& tx, const std::string& id,
                                           const std::vector<JobState>& allowed, JobState to,
                                           const std::function<void(JobRecord&)>& mutate,
                                           const Json& extra_detail) {
  ASSIGN_OR_RETURN(JobRecord r, GetIn(tx, id));
  JobState previous = r.state;
  bool ok = false;
  for (JobState s : allowed) ok = ok || s == previous;
  if (!ok) {
    return FailedPreconditionError("training job '" + id + "' is " +
                                   std::string(JobStateName(previous)) + ", cannot become " +
                                   std::string(JobStateName(to)));
  }
  if (mutate) mutate(r);
  r.state = to;
  r.updated_micros = clock_.NowMicros();
  RETURN_IF_ERROR(WriteIn(tx, r));
  Json detail = StateChangeDetail(r, previous);
  for (const auto& [k, v] : extra_detail.items()) detail[k] = v;
  RETURN_IF_ERROR(outbox_.Append(tx, bus::MakeEvent(clock_, std::string(ev::kComputeSource),
                                                    std::string(ev::kTrainingJobStateChange),
                                                    detail, {"training-job/" + id})));
  return r;
}

StatusOr<JobRecord> JobStore::Transition(const std::string& id,
                                         std::initializer_list<JobState> from, JobState to,
                                         const std::function<void(JobRecord&)>& mutate,
                                         const Json& extra_detail) {
  std::vector<JobState> allowed(from);
  JobRecord out;
  RETURN_IF_ERROR(group_.Run([&](Transaction& tx) -> Status {
    ASSIGN_OR_RETURN(out, TransitionIn(tx, id, allowed, to, mutate, extra_detail));
    return OkStatus();
  }));
  return out;
}

StatusOr<JobRecord> JobStore::Claim(const std::string& id, const std::string& owner,
                                    int64_t lease_until_micros,
                                    const std::function<void(JobRecord&)>& mutate) {
  JobRecord out;
  RETURN_IF_ERROR(group_.Run([&](Transaction& tx) -> Status {
    // The conditional UPDATE is the claim: of several control planes racing
    // for one Pending job, exactly one changes a row.
    ASSIGN_OR_RETURN(int64_t n, tx.Exec("UPDATE compute_jobs SET owner = ?, "
                                        "lease_expires_micros = ? WHERE id = ? AND state = ?",
                                        {owner, lease_until_micros, id,
                                         std::string(JobStateName(JobState::kPending))}));
    if (n != 1) {
      ASSIGN_OR_RETURN(JobRecord r, GetIn(tx, id));
      return FailedPreconditionError("training job '" + id + "' is " +
                                     std::string(JobStateName(r.state)) + ", cannot be claimed");
    }
    ASSIGN_OR_RETURN(out, TransitionIn(tx, id, {JobState::kPending}, JobState::kStarting, mutate,
                                       Json::object()));
    return OkStatus();
  }));
  return out;
}

StatusOr<int64_t> JobStore::RenewLeases(const std::string& owner, int64_t lease_until_micros) {
  int64_t n = 0;
  RETURN_IF_ERROR(db_.WithTransaction([&](Transaction& tx) -> Status {
    ASSIGN_OR_RETURN(n, tx.Exec("UPDATE compute_jobs SET lease_expires_micros = ? WHERE "
                                "owner = ? AND state IN ('Starting', 'Running', 'Stopping')",
                                {lease_until_micros, owner}));
    return OkStatus();
  }));
  return n;
}

StatusOr<std::vector<JobRecord>> JobStore::ListRecoverable(const std::string& owner) {
  std::vector<JobRecord> out;
  RETURN_IF_ERROR(db_.Read([&](Transaction& tx) -> Status {
    ASSIGN_OR_RETURN(out, Rows(tx,
                               std::string("SELECT ") + kSelectColumns +
                                   " FROM compute_jobs WHERE state IN "
                                   "('Starting', 'Running', 'Stopping') AND (owner = ? OR "
                                   "owner = '' OR lease_expires_micros <= ?) ORDER BY id",
                               {owner, clock_.NowMicros()}));
    return OkStatus();
  }));
  return out;
}

StatusOr<bool> JobStore::Adopt(const std::string& id, const std::string& owner,
                               int64_t lease_until_micros) {
  ASSIGN_OR_RETURN(std::vector<std::string> adopted, AdoptAll({id}, owner, lease_until_micros));
  return !adopted.empty();
}

StatusOr<std::vector<std::string>> JobStore::AdoptAll(const std::vector<std::string>& ids,
                                                      const std::string& owner,
                                                      int64_t lease_until_micros) {
  // In id order, so that two control planes adopting overlapping sets lock
  // the rows in the same order.
  std::vector<std::string> sorted(ids);
  std::sort(sorted.begin(), sorted.end());
  sorted.erase(std::unique(sorted.begin(), sorted.end()), sorted.end());
  std::vector<std::string> out;
  if (sorted.empty()) return out;
  RETURN_IF_ERROR(db_.WithTransaction([&](Transaction& tx) -> Status {
    out.clear();  // a retried transaction starts over
    const int64_t now = clock_.NowMicros();
    for (const std::string& id : sorted) {
      ASSIGN_OR_RETURN(int64_t n,
                       tx.Exec("UPDATE compute_jobs SET owner = ?, lease_expires_micros = ? "
                               "WHERE id = ? AND state IN ('Starting', 'Running', 'Stopping') "
                               "AND (owner = ? OR owner = '' OR lease_expires_micros <= ?)",
                               {owner, lease_until_micros, id, owner, now}));
      if (n == 1) out.push_back(id);
    }
    return OkStatus();
  }));
  return out;
}

std::string OwnerLockKey(const std::string& owner) { return "compute-owner:" + owner; }

Status JobStore::RegisterLivenessLock(const std::string& owner) {
  return db_.WithTransaction([&](Transaction& tx) -> Status {
    ASSIGN_OR_RETURN(auto rows, tx.Query("SELECT owner FROM compute_owners WHERE owner = ?", {owner}));
    if (!rows.empty()) return OkStatus();
    return tx.Exec("INSERT INTO compute_owners (owner) VALUES (?)", {owner}).status();
  });
}

StatusOr<std::vector<std::string>> JobStore::ListLockedLeaseOwners(const std::string& owner) {
  std::vector<std::string> out;
  RETURN_IF_ERROR(db_.Read([&](Transaction& tx) -> Status {
    ASSIGN_OR_RETURN(auto rows,
                     tx.Query("SELECT DISTINCT j.owner FROM compute_jobs j JOIN compute_owners o "
                              "ON o.owner = j.owner WHERE j.state IN ('Starting', 'Running', "
                              "'Stopping') AND j.owner <> ? AND j.lease_expires_micros > ? "
                              "ORDER BY j.owner",
                              {owner, clock_.NowMicros()}));
    out.clear();
    for (const Row& r : rows) out.push_back(r.Text(0));
    return OkStatus();
  }));
  return out;
}

StatusOr<std::vector<JobRecord>> JobStore::ListActiveOf(const std::string& owner) {
  std::vector<JobRecord> out;
  RETURN_IF_ERROR(db_.Read([&](Transaction& tx) -> Status {
    ASSIGN_OR_RETURN(out, Rows(tx,
                               std::string("SELECT ") + kSelectColumns +
                                   " FROM compute_jobs WHERE state IN "
                                   "('Starting', 'Running', 'Stopping') AND owner = ? ORDER BY id",
                               {owner}));
    return OkStatus();
  }));
  return out;
}

StatusOr<bool> JobStore::AdoptFromDead(const JobRecord& seen, const std::string& owner,
                                       int64_t lease_until_micros) {
  ASSIGN_OR_RETURN(std::vector<std::string> adopted,
                   AdoptAllFromDead({seen}, owner, lease_until_micros));
  return !adopted.empty();
}

StatusOr<std::vector<std::string>> JobStore::AdoptAllFromDead(const std::vector<JobRecord>& seen,
                                                              const std::string& owner,
                                                              int64_t lease_until_micros) {
  std::vector<const JobRecord*> sorted;
  for (const JobRecord& r : seen) {
    if (r.owner.empty() || r.owner == owner) {
      return InvalidArgumentError("AdoptFromDead: job '" + r.id + "' is not another's");
    }
    sorted.push_back(&r);
  }
  // In id order, as AdoptAll.
  std::sort(sorted.begin(), sorted.end(),
            [](const JobRecord* a, const JobRecord* b) { return a->id < b->id; });
  std::vector<std::string> out;
  if (sorted.empty()) return out;
  RETURN_IF_ERROR(db_.WithTransaction([&](Transaction& tx) -> Status {
    out.clear();  // a retried transaction starts over
    for (const JobRecord* r : sorted) {
      if (!out.empty() && out.back() == r->id) continue;  // listed twice
      // Compare-and-set on (owner, lease): a restarted owner's Recover (or
      // any renewal: it was alive after all) changed the lease, and wins.
      ASSIGN_OR_RETURN(int64_t n,
                       tx.Exec("UPDATE compute_jobs SET owner = ?, lease_expires_micros = ? "
                               "WHERE id = ? AND state IN ('Starting', 'Running', 'Stopping') "
                               "AND owner = ? AND lease_expires_micros = ?",
                               {owner, lease_until_micros, r->id, r->owner,
                                r->lease_expires_micros}));
      if (n == 1) out.push_back(r->id);
    }
    return OkStatus();
  }));
  return out;
}

StatusOr<std::vector<std::string>> JobStore::ListStopping(const std::string& owner) {
  std::vector<std::string> out;
  RETURN_IF_ERROR(db_.Read([&](Transaction& tx) -> Status {
    ASSIGN_OR_RETURN(auto rows, tx.Query("SELECT id FROM compute_jobs WHERE owner = ? AND "
                                         "state = 'Stopping' ORDER BY id",
                                         {owner}));
    out.clear();
    for (const Row& r : rows) out.push_back(r.Text(0));
    return OkStatus();
  }));
  return out;
}

StatusOr<JobRecord> JobStore::Update(const std::string& id,
                                     const std::function<void(JobRecord&)>& mutate) {
  JobRecord out;
  RETURN_IF_ERROR(db_.WithTransaction([&](Transaction& tx) -> Status {
    ASSIGN_OR_RETURN(JobRecord r, GetIn(tx, id));
    JobState state = r.state;
    mutate(r);
    r.state = state;
    r.updated_micros = clock_.NowMicros();
    RETURN_IF_ERROR(WriteIn(tx, r));
    out = std::move(r);
    return OkStatus();
  }));
  return out;
}

Status JobStore::AppendMetrics(const std::string& id, int attempt,
                               const std::vector<MetricSample>& samples) {
  if (samples.empty()) return OkStatus();
  // Several rows per INSERT (a 1-second job stores ~900 points: one
  // statement each was ~4% of the control plane's CPU).
  std::vector<Value> values;
  values.reserve(6 * samples.size());
  for (const MetricSample& s : samples) {
    values.insert(values.end(),
                  {id, int64_t{attempt}, s.name, s.step, s.value, s.timestamp_micros});
  }
  return db_.WithTransaction([&](Transaction& tx) -> Status {
    return sql::ExecDeferredRows(
        tx,
        "INSERT INTO compute_job_metrics (job_id, attempt, name, step, value, timestamp_micros)", 6,
        values, "ON CONFLICT (job_id, attempt, name, step) DO NOTHING");
  });
}

StatusOr<std::map<std::string, std::vector<MetricPoint>>> JobStore::Metrics(const std::string& id) {
  std::map<std::string, std::vector<MetricPoint>> out;
  RETURN_IF_ERROR(db_.Read([&](Transaction& tx) -> Status {
    ASSIGN_OR_RETURN(auto rows,
                     tx.Query("SELECT name, attempt, step, value, timestamp_micros FROM "
                              "compute_job_metrics WHERE job_id = ? ORDER BY name, attempt, step",
                              {id}));
    for (const auto& row : rows) {
      out[row.Text(0)].push_back(
          MetricPoint{static_cast<int>(row.Int(1)), row.Int(2), row.Double(3), row.Int(4)});
    }
    return OkStatus();
  }));
  return out;
}

StatusOr<std::vector<TeamSpend>> JobStore::SpendByTeam() {
  std::vector<TeamSpend> out;
  RETURN_IF_ERROR(db_.Read([&](Transaction& tx) -> Status {
    ASSIGN_OR_RETURN(auto rows, tx.Query("SELECT team, jobs, wall_seconds, cpu_seconds, "
                                         "warm_pool_seconds, cost FROM compute_team_spend "
                                         "ORDER BY team"));
    for (const auto& row : rows) {
      out.push_back(TeamSpend{row.Text(0), row.Int(1), row.Double(2), row.Double(3), row.Double(4),
                              row.Double(5)});
    }
    return OkStatus();
  }));
  return out;
}

StatusOr<double> JobStore::TeamCostSince(const std::string& team, int64_t since_micros) {
  double cost = 0;
  RETURN_IF_ERROR(db_.Read([&](Transaction& tx) -> Status {
    ASSIGN_OR_RETURN(auto row, tx.QueryOne("SELECT COALESCE(SUM(cost), 0) FROM compute_jobs "
                                           "WHERE team = ? AND ended_micros >= ?",
                                           {team, since_micros}));
    cost = row.Double(0);
    return OkStatus();
  }));
  return cost;
}

StatusOr<JobCounts> JobStore::Counts() {
  JobCounts out;
  RETURN_IF_ERROR(db_.Read([&](Transaction& tx) -> Status {
    out = JobCounts();
    ASSIGN_OR_RETURN(auto rows, tx.Query("SELECT state, team, COUNT(*) FROM compute_jobs "
                                         "GROUP BY state, team ORDER BY state, team"));
    for (const auto& row : rows)
      out.by_state_team.push_back({row.Text(0), row.Text(1), row.Int(2)});
    ASSIGN_OR_RETURN(auto oldest, tx.QueryOne("SELECT MIN(queued_micros) FROM compute_jobs "
                                              "WHERE state = 'Pending'"));
    out.oldest_pending_queued_micros = oldest.Int(0);
    return OkStatus();
  }));
  return out;
}

}  // namespace tandem::compute::jobs
