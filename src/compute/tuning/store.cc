#include "compute/tuning/store.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "glue/bus/event.h"
#include "glue/bus/event_types.h"

namespace tandem::compute::tuning {
namespace {

using sql::Row;
using sql::Transaction;
using sql::Value;

// Migration 1: the tuning jobs and their trials.
constexpr char kCreateTuningTables[] = R"sql(
CREATE TABLE tuning_jobs (
  name TEXT PRIMARY KEY,
  id TEXT NOT NULL,
  team TEXT NOT NULL,
  state TEXT NOT NULL,
  spec TEXT NOT NULL,
  failure_reason TEXT NOT NULL,
  registered_model TEXT NOT NULL,
  registered_version BIGINT NOT NULL,
  created_micros BIGINT NOT NULL,
  updated_micros BIGINT NOT NULL,
  ended_micros BIGINT NOT NULL
);
CREATE INDEX tuning_jobs_state ON tuning_jobs (state);
CREATE TABLE tuning_trials (
  tuning_name TEXT NOT NULL,
  trial_index BIGINT NOT NULL,
  job_name TEXT NOT NULL,
  job_id TEXT NOT NULL,
  config BIGINT NOT NULL,
  rung BIGINT NOT NULL,
  resource BIGINT NOT NULL,
  params TEXT NOT NULL,
  state TEXT NOT NULL,
  objective DOUBLE PRECISION,
  intermediate TEXT NOT NULL,
  stop_early BIGINT NOT NULL,
  failure_reason TEXT NOT NULL,
  cpu_seconds DOUBLE PRECISION NOT NULL,
  created_micros BIGINT NOT NULL,
  updated_micros BIGINT NOT NULL,
  PRIMARY KEY (tuning_name, trial_index)
))sql";

constexpr char kJobColumns[] =
    "name, id, team, state, spec, failure_reason, registered_model, registered_version, "
    "created_micros, updated_micros, ended_micros";
constexpr char kTrialColumns[] =
    "tuning_name, trial_index, job_name, job_id, config, rung, resource, params, state, "
    "objective, intermediate, stop_early, failure_reason, cpu_seconds, created_micros, "
    "updated_micros";

std::string Placeholders(int n) {
  std::string s = "?";
  for (int i = 1; i < n; ++i) s += ", ?";
  return s;
}

template <typename E>
struct Names {
  E e;
  std::string_view name;
};
constexpr Names<TuningState> kTuningStates[] = {{TuningState::kInProgress, "InProgress"},
                                                {TuningState::kCompleted, "Completed"},
                                                {TuningState::kFailed, "Failed"},
                                                {TuningState::kStopping, "Stopping"},
                                                {TuningState::kStopped, "Stopped"}};
constexpr Names<TrialState> kTrialStates[] = {
    {TrialState::kPending, "Pending"},     {TrialState::kRunning, "Running"},
    {TrialState::kCompleted, "Completed"}, {TrialState::kFailed, "Failed"},
    {TrialState::kStopped, "Stopped"},     {TrialState::kStoppedEarly, "StoppedEarly"}};

std::vector<Value> JobValues(const TuningRecord& r) {
  return {r.name,
          r.id,
          r.team,
          std::string(TuningStateName(r.state)),
          r.spec.ToJson().dump(),
          r.failure_reason,
          r.registered_model,
          r.registered_version,
          r.created_micros,
          r.updated_micros,
          r.ended_micros};
}

StatusOr<TuningRecord> JobFromRow(const Row& row) {
  TuningRecord r;
  r.name = row.Text(0);
  r.id = row.Text(1);
  r.team = row.Text(2);
  ASSIGN_OR_RETURN(r.state, ParseTuningState(row.Text(3)));
  ASSIGN_OR_RETURN(Json spec, ParseJson(row.Text(4)));
  ASSIGN_OR_RETURN(r.spec, TuningSpec::FromJson(spec));
  r.failure_reason = row.Text(5);
  r.registered_model = row.Text(6);
  r.registered_version = row.Int(7);
  r.created_micros = row.Int(8);
  r.updated_micros = row.Int(9);
  r.ended_micros = row.Int(10);
  return r;
}

std::vector<Value> TrialValues(const TuningTrial& t) {
  Json params(t.params);
  std::vector<Value> v = {t.tuning_name, t.index,       t.job_name,
                          t.job_id,      t.config,      static_cast<int64_t>(t.rung),
                          t.resource,    params.dump(), std::string(TrialStateName(t.state))};
  if (t.objective && std::isfinite(*t.objective)) {
    v.emplace_back(*t.objective);
  } else {
    v.emplace_back(std::monostate{});
  }
  for (Value x : std::initializer_list<Value>{
           Json(t.intermediate).dump(), static_cast<int64_t>(t.stop_early ? 1 : 0),
           t.failure_reason, t.cpu_seconds, t.created_micros, t.updated_micros}) {
    v.push_back(std::move(x));
  }
  return v;
}

StatusOr<TuningTrial> TrialFromRow(const Row& row) {
  TuningTrial t;
  t.tuning_name = row.Text(0);
  t.index = row.Int(1);
  t.job_name = row.Text(2);
  t.job_id = row.Text(3);
  t.config = row.Int(4);
  t.rung = static_cast<int>(row.Int(5));
  t.resource = row.Int(6);
  ASSIGN_OR_RETURN(Json params, ParseJson(row.Text(7)));
  for (auto& [k, v] : params.items()) t.params[k] = v;
  ASSIGN_OR_RETURN(t.state, ParseTrialState(row.Text(8)));
  if (!row.IsNull(9)) t.objective = row.Double(9);
  ASSIGN_OR_RETURN(Json inter, ParseJson(row.Text(10)));
  for (const auto& v : inter) {
    if (v.is_number()) t.intermediate.push_back(v.get<double>());
  }
  t.stop_early = row.Int(11) != 0;
  t.failure_reason = row.Text(12);
  t.cpu_seconds = row.Double(13);
  t.created_micros = row.Int(14);
  t.updated_micros = row.Int(15);
  return t;
}

StatusOr<std::vector<TuningTrial>> TrialsIn(Transaction& tx, const std::string& name) {
  ASSIGN_OR_RETURN(auto rows, tx.Query(std::string("SELECT ") + kTrialColumns +
                                           " FROM tuning_trials WHERE tuning_name = ? "
                                           "ORDER BY trial_index",
                                       {name}));
  std::vector<TuningTrial> out;
  for (const auto& row : rows) {
    ASSIGN_OR_RETURN(TuningTrial t, TrialFromRow(row));
    out.push_back(std::move(t));
  }
  return out;
}

Json EventDetail(const TuningRecord& r, TuningState previous) {
  Json d = {{"name", r.name},
            {"id", r.id},
            {"team", r.team},
            {"state", std::string(TuningStateName(r.state))},
            {"previous_state", std::string(TuningStateName(previous))},
            {"strategy", std::string(TuningStrategyName(r.spec.strategy))},
            {"objective", r.spec.objective.metric},
            {"trials", r.counts.ToJson()}};
  if (!r.failure_reason.empty()) d["failure_reason"] = r.failure_reason;
  if (r.best) {
    d["best_trial"] = {{"index", r.best->index},
                       {"job_id", r.best->job_id},
                       {"objective", *r.best->objective},
                       {"params", Json(r.best->params)}};
  }
  if (!r.registered_model.empty()) {
    d["registered"] = {{"model", r.registered_model}, {"version", r.registered_version}};
  }
  return d;
}

}  // namespace

std::string_view TuningStateName(TuningState s) {
  for (const auto& n : kTuningStates) {
    if (n.e == s) return n.name;
  }
  return "?";
}
StatusOr<TuningState> ParseTuningState(std::string_view s) {
  for (const auto& n : kTuningStates) {
    if (n.name == s) return n.e;
  }
  return InvalidArgumentError("unknown tuning job state '" + std::string(s) +
                              "' (InProgress, Completed, Failed, Stopping, Stopped)");
}
std::string_view TrialStateName(TrialState s) {
  for (const auto& n : kTrialStates) {
    if (n.e == s) return n.name;
  }
  return "?";
}
StatusOr<TrialState> ParseTrialState(std::string_view s) {
  for (const auto& n : kTrialStates) {
    if (n.name == s) return n.e;
  }
  return InvalidArgumentError("unknown trial state '" + std::string(s) + "'");
}
bool IsTerminal(TuningState s) {
  return s == TuningState::kCompleted || s == TuningState::kFailed || s == TuningState::kStopped;
}
bool IsTerminal(TrialState s) { return s != TrialState::kPending && s != TrialState::kRunning; }

Json TuningTrial::ToJson() const {
  Json j = {{"index", index},
            {"job_name", job_name},
            {"job_id", job_id},
            {"config", config},
            {"params", Json(params)},
            {"state", std::string(TrialStateName(state))},
            {"objective", objective ? Json(*objective) : Json()},
            {"intermediate", intermediate},
            {"cpu_seconds", cpu_seconds},
            {"created", FormatRfc3339(created_micros)},
            {"updated", FormatRfc3339(updated_micros)}};
  if (resource > 0) {
    j["rung"] = rung;
    j["resource"] = resource;
  }
  if (!failure_reason.empty()) j["failure_reason"] = failure_reason;
  return j;
}

Json TrialCounts::ToJson() const {
  return {{"total", total()},
          {"pending", pending},
          {"running", running},
          {"completed", completed},
          {"failed", failed},
          {"stopped", stopped},
          {"stopped_early", stopped_early}};
}

Json TuningRecord::ToJson() const {
  Json j = {{"name", name},
            {"id", id},
            {"team", team},
            {"state", std::string(TuningStateName(state))},
            {"strategy", std::string(TuningStrategyName(spec.strategy))},
            {"objective",
             {{"metric", spec.objective.metric},
              {"type", spec.objective.maximize ? "Maximize" : "Minimize"}}},
            {"max_jobs", spec.max_jobs},
            {"max_parallel_jobs", spec.max_parallel_jobs},
            {"trials", counts.ToJson()},
            {"cpu_seconds", cpu_seconds},
            {"best_trial", best ? best->ToJson() : Json()},
            {"created", FormatRfc3339(created_micros)},
            {"updated", FormatRfc3339(updated_micros)},
            {"spec", spec.ToJson()}};
  if (ended_micros > 0) j["ended"] = FormatRfc3339(ended_micros);
  if (!failure_reason.empty()) j["failure_reason"] = failure_reason;
  if (!registered_model.empty()) {
    j["registered"] = {{"model", registered_model}, {"version", registered_version}};
  }
  return j;
}

void Summarize(TuningRecord& r, const std::vector<TuningTrial>& trials) {
  r.counts = {};
  r.best.reset();
  r.cpu_seconds = 0;
  bool max = r.spec.objective.maximize;
  for (const auto& t : trials) {
    r.cpu_seconds += t.cpu_seconds;
    switch (t.state) {
      case TrialState::kPending:
        ++r.counts.pending;
        break;
      case TrialState::kRunning:
        ++r.counts.running;
        break;
      case TrialState::kCompleted:
        ++r.counts.completed;
        break;
      case TrialState::kFailed:
        ++r.counts.failed;
        break;
      case TrialState::kStopped:
        ++r.counts.stopped;
        break;
      case TrialState::kStoppedEarly:
        ++r.counts.stopped_early;
        break;
    }
    if (t.state != TrialState::kCompleted || !t.objective) continue;
    if (!r.best || (max ? *t.objective > *r.best->objective : *t.objective < *r.best->objective)) {
      r.best = t;
    }
  }
}

StatusOr<std::unique_ptr<TuningStore>> TuningStore::Open(sql::Database& db, bus::Outbox& outbox,
                                                         Clock& clock) {
  RETURN_IF_ERROR(db.Migrate("tuning", {{1, "create_tuning_tables", kCreateTuningTables}}));
  return std::unique_ptr<TuningStore>(new TuningStore(db, outbox, clock));
}

Status TuningStore::Insert(const TuningRecord& record) {
  return db_.WithTransaction([&](Transaction& tx) -> Status {
    ASSIGN_OR_RETURN(auto existing,
                     tx.Query("SELECT id FROM tuning_jobs WHERE name = ?", {record.name}));
    if (!existing.empty()) {
      return AlreadyExistsError("tuning job '" + record.name + "' already exists");
    }
    RETURN_IF_ERROR(tx.Exec(std::string("INSERT INTO tuning_jobs (") + kJobColumns + ") VALUES (" +
                                Placeholders(11) + ")",
                            JobValues(record))
                        .status());
    Json detail = EventDetail(record, record.state);
    detail.erase("previous_state");
    return outbox_.Append(tx, bus::MakeEvent(clock_, std::string(bus::events::kComputeSource),
                                             std::string(bus::events::kTuningJobStateChange),
                                             detail, {"tuning-job/" + record.name}));
  });
}

StatusOr<TuningRecord> TuningStore::GetIn(Transaction& tx, const std::string& name) {
  ASSIGN_OR_RETURN(
      auto rows,
      tx.Query(std::string("SELECT ") + kJobColumns + " FROM tuning_jobs WHERE name = ?", {name}));
  if (rows.empty()) return NotFoundError("tuning job '" + name + "' not found");
  ASSIGN_OR_RETURN(TuningRecord r, JobFromRow(rows[0]));
  ASSIGN_OR_RETURN(auto trials, TrialsIn(tx, name));
  Summarize(r, trials);
  return r;
}

StatusOr<TuningRecord> TuningStore::Get(const std::string& name) {
  TuningRecord out;
  RETURN_IF_ERROR(db_.Read([&](Transaction& tx) -> Status {
    ASSIGN_OR_RETURN(out, GetIn(tx, name));
    return OkStatus();
  }));
  return out;
}

StatusOr<std::vector<TuningRecord>> TuningStore::List(std::optional<TuningState> state, int limit) {
  std::vector<TuningRecord> out;
  RETURN_IF_ERROR(db_.Read([&](Transaction& tx) -> Status {
    std::string sql = "SELECT name FROM tuning_jobs";
    std::vector<Value> params;
    if (state) {
      sql += " WHERE state = ?";
      params.push_back(std::string(TuningStateName(*state)));
    }
    sql += " ORDER BY id DESC LIMIT ?";
    params.push_back(static_cast<int64_t>(std::clamp(limit, 1, 1000)));
    ASSIGN_OR_RETURN(auto rows, tx.Query(sql, params));
    for (const auto& row : rows) {
      ASSIGN_OR_RETURN(TuningRecord r, GetIn(tx, row.Text(0)));
      out.push_back(std::move(r));
    }
    return OkStatus();
  }));
  return out;
}

StatusOr<std::vector<std::string>> TuningStore::ListActive() {
  std::vector<std::string> out;
  RETURN_IF_ERROR(db_.Read([&](Transaction& tx) -> Status {
    ASSIGN_OR_RETURN(auto rows, tx.Query("SELECT name FROM tuning_jobs WHERE state IN (?, ?) "
                                         "ORDER BY id",
                                         {std::string("InProgress"), std::string("Stopping")}));
    for (const auto& row : rows) out.push_back(row.Text(0));
    return OkStatus();
  }));
  return out;
}

StatusOr<TuningRecord> TuningStore::Transition(const std::string& name,
                                               std::initializer_list<TuningState> from,
                                               TuningState to,
                                               const std::function<void(TuningRecord&)>& mutate) {
  TuningRecord out;
  RETURN_IF_ERROR(db_.WithTransaction([&](Transaction& tx) -> Status {
    ASSIGN_OR_RETURN(TuningRecord r, GetIn(tx, name));
    if (std::find(from.begin(), from.end(), r.state) == from.end()) {
      return FailedPreconditionError("tuning job '" + name + "' is " +
                                     std::string(TuningStateName(r.state)));
    }
    TuningState previous = r.state;
    r.state = to;
    r.updated_micros = clock_.NowMicros();
    if (IsTerminal(to)) r.ended_micros = r.updated_micros;
    if (mutate) mutate(r);
    RETURN_IF_ERROR(
        tx.Exec("UPDATE tuning_jobs SET state = ?, failure_reason = ?, "
                "registered_model = ?, registered_version = ?, updated_micros = ?, "
                "ended_micros = ? WHERE name = ?",
                {std::string(TuningStateName(r.state)), r.failure_reason, r.registered_model,
                 r.registered_version, r.updated_micros, r.ended_micros, name})
            .status());
    RETURN_IF_ERROR(
        outbox_.Append(tx, bus::MakeEvent(clock_, std::string(bus::events::kComputeSource),
                                          std::string(bus::events::kTuningJobStateChange),
                                          EventDetail(r, previous), {"tuning-job/" + name})));
    out = std::move(r);
    return OkStatus();
  }));
  return out;
}

StatusOr<std::vector<TuningTrial>> TuningStore::Trials(const std::string& name) {
  std::vector<TuningTrial> out;
  RETURN_IF_ERROR(db_.Read([&](Transaction& tx) -> Status {
    ASSIGN_OR_RETURN(auto exists, tx.Query("SELECT id FROM tuning_jobs WHERE name = ?", {name}));
    if (exists.empty()) return NotFoundError("tuning job '" + name + "' not found");
    ASSIGN_OR_RETURN(out, TrialsIn(tx, name));
    return OkStatus();
  }));
  return out;
}

Status TuningStore::PutTrial(const TuningTrial& trial) {
  return db_.WithTransaction([&](Transaction& tx) -> Status {
    RETURN_IF_ERROR(tx.Exec("DELETE FROM tuning_trials WHERE tuning_name = ? AND trial_index = ?",
                            {trial.tuning_name, trial.index})
                        .status());
    return tx
        .Exec(std::string("INSERT INTO tuning_trials (") + kTrialColumns + ") VALUES (" +
                  Placeholders(16) + ")",
              TrialValues(trial))
        .status();
  });
}

}  // namespace tandem::compute::tuning
