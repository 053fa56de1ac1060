#include "compute/tuning/service.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>

#include "absl/synchronization/mutex.h"
#include "common/ids.h"
#include "common/log.h"
#include "compute/tuning/bohb.h"
#include "compute/tuning/sampler.h"

namespace tandem::compute::tuning {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

double Loss(const TuningSpec& spec, double value) {
  return spec.objective.maximize ? -value : value;
}

std::vector<double> Losses(const TuningSpec& spec, const std::vector<double>& values) {
  std::vector<double> out;
  for (double v : values) out.push_back(Loss(spec, v));
  return out;
}

// "<tuning name>-<index>" within the 63-character job name limit.
std::string TrialJobName(const std::string& tuning, int64_t index) {
  std::string suffix = "-" + std::to_string(index);
  std::string base = tuning.substr(0, 63 - suffix.size());
  return base + suffix;
}

bool TemplateFault(const Status& s) {
  return s.code() == StatusCode::kInvalidArgument || s.code() == StatusCode::kNotFound;
}

}  // namespace

StatusOr<std::unique_ptr<TuningService>> TuningService::Open(TuningServiceOptions options) {
  if (options.db == nullptr || options.outbox == nullptr || options.jobs == nullptr) {
    return InvalidArgumentError("tuning service needs a database, an outbox and a job service");
  }
  std::unique_ptr<TuningService> s(new TuningService(std::move(options)));
  ASSIGN_OR_RETURN(s->store_, TuningStore::Open(*s->opts_.db, *s->opts_.outbox, s->clock_));
  return s;
}

TuningService::TuningService(TuningServiceOptions options)
    : opts_(std::move(options)), clock_(opts_.clock != nullptr ? *opts_.clock : Clock::Real()) {}

TuningService::~TuningService() { Shutdown(); }

void TuningService::Start() {
  absl::MutexLock lock(&mu_);
  if (thread_.joinable()) return;
  shutdown_ = false;
  thread_ = std::thread([this] { Loop(); });
}

void TuningService::Shutdown() {
  {
    absl::MutexLock lock(&mu_);
    shutdown_ = true;
    wake_cv_.SignalAll();
  }
  if (thread_.joinable()) thread_.join();
}

void TuningService::Notify() {
  absl::MutexLock lock(&mu_);
  wake_ = true;
  wake_cv_.SignalAll();
}

void TuningService::Loop() {
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      const absl::Time until = absl::Now() + absl::Milliseconds(opts_.poll_interval_ms);
      while (!wake_ && !shutdown_ && !wake_cv_.WaitWithDeadline(&mu_, until)) {
      }
      if (shutdown_) return;
      wake_ = false;
    }
    Status s = Step();
    if (!s.ok()) LogWarn("tuning pass failed", {{"error", std::string(s.message())}});
    absl::MutexLock lock(&mu_);
    state_cv_.SignalAll();
  }
}

Status TuningService::Step() {
  absl::MutexLock lock(&step_mu_);
  ASSIGN_OR_RETURN(auto names, store_->ListActive());
  Status first = OkStatus();
  for (const auto& name : names) {
    // One control plane advances each tuning job: the lease's holder, or a
    // survivor taking it over (loop_leases.h).
    auto held = opts_.jobs->loop_leases().Hold("tuning", name);
    if (!held.ok() || !*held) continue;
    Status s = Advance(name);
    if (!s.ok()) {
      LogWarn("tuning job pass failed",
              {{"tuning_job", name}, {"error", std::string(s.message())}});
      if (first.ok()) first = s;
    }
  }
  return first;
}

StatusOr<std::vector<tuning::Observation>> TuningService::WarmStart(const TuningSpec& spec) {
  std::vector<tuning::Observation> out;
  for (const auto& parent : spec.warm_start_parents) {
    ASSIGN_OR_RETURN(TuningRecord p, store_->Get(parent));
    ASSIGN_OR_RETURN(auto trials, store_->Trials(parent));
    for (const auto& t : trials) {
      if (t.state == TrialState::kCompleted && t.objective) {
        out.push_back({t.params, Loss(spec, *t.objective)});
      }
    }
  }
  return out;
}

Status TuningService::WarmStartCheckpoint(const TuningRecord& rec, const TuningTrial& t,
                                          const std::string& prefix) {
  if (rec.spec.warm_start_parents.empty() || opts_.store == nullptr) return OkStatus();
  ASSIGN_OR_RETURN(store::ListResult mine, opts_.store->List(prefix + "/", "", 1));
  if (!mine.objects.empty()) return OkStatus();  // resumes from its own configuration
  auto without_resource = [](tuning::Params p, const TuningSpec& s) {
    if (s.strategy == TuningStrategy::kHyperband) p.erase(s.hyperband.resource_param);
    return p;
  };
  const tuning::Params want = without_resource(t.params, rec.spec);
  for (const auto& parent : rec.spec.warm_start_parents) {
    ASSIGN_OR_RETURN(TuningRecord p, store_->Get(parent));
    // Never another team's checkpoints.
    if (p.spec.training_job.team != rec.spec.training_job.team) continue;
    ASSIGN_OR_RETURN(auto trials, store_->Trials(parent));
    const TuningTrial* from = nullptr;  // the most trained matching trial
    for (const auto& pt : trials) {
      if (pt.state != TrialState::kCompleted || pt.job_id.empty()) continue;
      if (without_resource(pt.params, p.spec) != want) continue;
      if (from == nullptr || pt.resource > from->resource) from = &pt;
    }
    if (from == nullptr) continue;
    auto job = opts_.jobs->Get(from->job_id);
    if (!job.ok() || !job->spec.checkpoint) continue;
    const std::string source = job->spec.checkpoint->key_prefix + "/";
    std::string token;
    int linked = 0;
    do {
      ASSIGN_OR_RETURN(store::ListResult page, opts_.store->List(source, token));
      for (const auto& o : page.objects) {
        RETURN_IF_ERROR(
            opts_.store->Link(prefix + "/" + o.key.substr(source.size()), o.digest).status());
        ++linked;
      }
      token = page.next_page_token;
    } while (!token.empty());
    LogInfo("warm-started trial resumes from its parent's checkpoint",
            {{"tuning_job", rec.name},
             {"trial", std::to_string(t.index)},
             {"parent_job", from->job_id},
             {"objects", std::to_string(linked)}});
    return OkStatus();
  }
  return OkStatus();
}

StatusOr<TuningRecord> TuningService::Create(TuningSpec spec) {
  if (spec.name.empty()) spec.name = "tune-" + NewUlid(clock_);
  if (spec.register_best && opts_.registry == nullptr) {
    return InvalidArgumentError("'register' needs a model registry, and this service has none");
  }
  if (spec.strategy == TuningStrategy::kGrid) {
    RETURN_IF_ERROR(tuning::MakeGridSampler(spec.ranges).status());
  }
  for (const auto& parent : spec.warm_start_parents) {
    StatusOr<TuningRecord> p = store_->Get(parent);
    if (!p.ok()) {
      return NotFoundError("warm_start parent tuning job '" + parent + "' not found");
    }
    if (!IsTerminal(p->state)) {
      return FailedPreconditionError("warm_start parent tuning job '" + parent + "' is " +
                                     std::string(TuningStateName(p->state)) +
                                     " (it must have finished)");
    }
    if (p->spec.objective.metric != spec.objective.metric) {
      return InvalidArgumentError("warm_start parent tuning job '" + parent + "' tuned objective " +
                                  p->spec.objective.metric + ", not " + spec.objective.metric);
    }
  }
  TuningRecord r;
  r.name = spec.name;
  r.id = NewUlid(clock_);
  r.team = spec.training_job.team;
  r.spec = std::move(spec);
  r.created_micros = r.updated_micros = clock_.NowMicros();
  RETURN_IF_ERROR(store_->Insert(r));
  // This control plane advances it (until it dies: loop_leases.h).
  if (Status held = opts_.jobs->loop_leases().Assign("tuning", r.name); !held.ok()) {
    LogWarn("cannot take the tuning job's lease; the next pass does",
            {{"tuning_job", r.name}, {"error", std::string(held.message())}});
  }
  LogInfo("tuning job created",
          {{"tuning_job", r.name}, {"strategy", std::string(TuningStrategyName(r.spec.strategy))}});
  Notify();
  return r;
}

StatusOr<TuningRecord> TuningService::Get(const std::string& name) { return store_->Get(name); }

StatusOr<std::vector<TuningRecord>> TuningService::List(std::optional<TuningState> state,
                                                        int limit) {
  return store_->List(state, limit);
}

StatusOr<std::vector<TuningTrial>> TuningService::Trials(const std::string& name) {
  return store_->Trials(name);
}

StatusOr<TuningRecord> TuningService::Stop(const std::string& name) {
  ASSIGN_OR_RETURN(TuningRecord r,
                   store_->Transition(name, {TuningState::kInProgress}, TuningState::kStopping));
  Notify();
  return r;
}

StatusOr<TuningRecord> TuningService::WaitFor(const std::string& name,
                                              const std::function<bool(const TuningRecord&)>& done,
                                              int64_t timeout_ms) {
  const Deadline deadline = Deadline::InMillis(clock_, timeout_ms);
  while (true) {
    ASSIGN_OR_RETURN(TuningRecord r, store_->Get(name));
    if (done(r)) return r;
    absl::MutexLock lock(&mu_);
    if (deadline.Expired()) {
      return DeadlineExceededError("tuning job '" + name + "' still " +
                                   std::string(TuningStateName(r.state)) + " after " +
                                   std::to_string(timeout_ms) + " ms");
    }
    // Re-reads the record at least every 200 ms of real time (state changes
    // made by another control plane arrive without a notification).
    state_cv_.WaitWithTimeout(&mu_, absl::Milliseconds(deadline.SliceMillis(200)));
  }
}

Status TuningService::Refresh(const TuningRecord& rec, TuningTrial& t,
                              const tuning::MedianStoppingRule& rule) {
  ASSIGN_OR_RETURN(jobs::JobRecord job, opts_.jobs->Get(t.job_id));
  const std::string& metric = rec.spec.objective.metric;
  std::vector<double> curve;
  ASSIGN_OR_RETURN(auto metrics, opts_.jobs->Metrics(t.job_id));
  if (auto it = metrics.find(metric); it != metrics.end()) {
    for (const auto& p : it->second) {
      if (p.attempt == job.attempt) curve.push_back(p.value);
    }
  }
  bool changed = curve != t.intermediate;
  t.intermediate = curve;
  t.cpu_seconds = job.metering.cpu_seconds;
  if (IsTerminal(job.state)) {
    changed = true;
    if (job.state == jobs::JobState::kCompleted) {
      auto m = job.final_metrics.find(metric);
      if (m != job.final_metrics.end()) {
        t.state = TrialState::kCompleted;
        t.objective = m->second;
      } else {
        t.state = TrialState::kFailed;
        t.failure_reason = "the objective metric " + metric + " was never reported";
      }
    } else if (job.state == jobs::JobState::kFailed) {
      t.state = TrialState::kFailed;
      t.failure_reason = job.failure_reason;
    } else {
      t.state = t.stop_early ? TrialState::kStoppedEarly : TrialState::kStopped;
      if (!curve.empty()) t.objective = curve.back();
    }
  } else if (rec.spec.early_stopping && !t.stop_early && IsActive(job.state) &&
             rule.ShouldStop(Losses(rec.spec, curve))) {
    t.stop_early = true;
    changed = true;
    LogInfo("stopping trial early (median rule)",
            {{"tuning_job", rec.name}, {"trial", std::to_string(t.index)}, {"job", t.job_id}});
  }
  if (!changed) return OkStatus();
  t.updated_micros = clock_.NowMicros();
  RETURN_IF_ERROR(store_->PutTrial(t));
  if (t.stop_early && t.state == TrialState::kRunning) {
    StatusOr<jobs::JobRecord> stopped = opts_.jobs->Stop(t.job_id);
    if (!stopped.ok() && stopped.status().code() != StatusCode::kFailedPrecondition) {
      return stopped.status();
    }
  }
  return OkStatus();
}

StatusOr<bool> TuningService::Launch(const TuningRecord& rec, TuningTrial& t) {
  jobs::JobFilter filter;
  filter.name = t.job_name;
  filter.max_results = 1;
  ASSIGN_OR_RETURN(jobs::JobPage existing, opts_.jobs->List(filter));
  if (!existing.jobs.empty()) {
    t.job_id = existing.jobs.front().id;  // submitted before a restart
  } else {
    jobs::JobSpec spec = rec.spec.training_job;
    spec.name = t.job_name;
    spec.register_model.reset();
    for (const auto& [k, v] : t.params) spec.hyperparameters[k] = v;
    if (auto prefix = TrialCheckpointPrefix(rec.spec, rec.name, t.config)) {
      spec.checkpoint = jobs::CheckpointSpec{*prefix};
      RETURN_IF_ERROR(WarmStartCheckpoint(rec, t, *prefix));
    }
    StatusOr<jobs::JobRecord> job = opts_.jobs->Submit(spec);
    if (!job.ok()) {
      t.state = TrialState::kFailed;
      t.failure_reason = "submit: " + std::string(job.status().message());
      t.updated_micros = clock_.NowMicros();
      RETURN_IF_ERROR(store_->PutTrial(t));
      if (TemplateFault(job.status())) {
        std::string reason = "training_job refused: " + std::string(job.status().message());
        RETURN_IF_ERROR(store_
                            ->Transition(rec.name, {TuningState::kInProgress}, TuningState::kFailed,
                                         [&](TuningRecord& r) { r.failure_reason = reason; })
                            .status());
        return false;
      }
      return true;
    }
    t.job_id = job->id;
  }
  t.state = TrialState::kRunning;
  t.updated_micros = clock_.NowMicros();
  RETURN_IF_ERROR(store_->PutTrial(t));
  return true;
}

StatusOr<std::optional<TuningTrial>> TuningService::NextTrial(
    const TuningRecord& rec, const std::vector<TuningTrial>& trials) {
  const TuningSpec& spec = rec.spec;
  TuningTrial t;
  t.tuning_name = rec.name;
  t.index = static_cast<int64_t>(trials.size());
  t.job_name = TrialJobName(rec.name, t.index);
  t.created_micros = t.updated_micros = clock_.NowMicros();
  if (spec.strategy == TuningStrategy::kHyperband) {
    const HyperbandSpec& hb = spec.hyperband;
    tuning::Asha asha(hb.min_resource, hb.max_resource, hb.reduction_factor);
    int64_t next_config = 0;
    for (const auto& x : trials) {
      next_config = std::max(next_config, x.config + 1);
      if (x.rung > 0) asha.MarkPromoted(x.config, x.rung - 1);
      if (!IsTerminal(x.state)) continue;
      bool ok = x.state == TrialState::kCompleted && x.objective;
      asha.Report(x.config, x.rung, ok ? Loss(spec, *x.objective) : kInf);
    }
    std::optional<tuning::Promotion> p = asha.NextPromotion();
    if (p) {
      for (const auto& x : trials) {
        if (x.config == p->config && x.rung == 0) t.params = x.params;
      }
      t.config = p->config;
      t.rung = p->rung;
    } else if (hb.sampler == HyperbandSampler::kRandom) {
      auto sampler = tuning::MakeRandomSampler(spec.ranges, spec.seed);
      ASSIGN_OR_RETURN(t.params, sampler->Suggest(next_config, {}));
      t.config = next_config;
      t.rung = 0;
    } else {
      // BOHB: a TPE model of the highest rung with enough completed results.
      std::vector<std::vector<tuning::Observation>> by_rung(static_cast<size_t>(asha.num_rungs()));
      for (const auto& x : trials) {
        if (x.state != TrialState::kCompleted || !x.objective) continue;
        if (x.rung < 0 || x.rung >= asha.num_rungs()) continue;
        by_rung[static_cast<size_t>(x.rung)].push_back({x.params, Loss(spec, *x.objective)});
      }
      tuning::BohbSampler sampler(spec.ranges, spec.seed);
      ASSIGN_OR_RETURN(t.params, sampler.Suggest(next_config, by_rung));
      t.config = next_config;
      t.rung = 0;
    }
    t.resource = asha.resource(t.rung);
    t.params[hb.resource_param] = t.resource;
    return t;
  }
  ASSIGN_OR_RETURN(auto sampler, tuning::MakeSampler(spec));
  ASSIGN_OR_RETURN(std::vector<tuning::Observation> history, WarmStart(spec));
  for (const auto& x : trials) {
    if (x.state == TrialState::kCompleted && x.objective) {
      history.push_back({x.params, Loss(spec, *x.objective)});
    }
  }
  StatusOr<tuning::Params> params = sampler->Suggest(t.index, history);
  if (!params.ok() && params.status().code() == StatusCode::kOutOfRange) return std::nullopt;
  if (!params.ok()) return params.status();
  t.params = *std::move(params);
  t.config = t.index;
  return t;
}

Status TuningService::Finish(const TuningRecord& rec, const std::vector<TuningTrial>& trials) {
  TuningRecord summary = rec;
  Summarize(summary, trials);
  if (!summary.best) {
    std::string reason = "no trial completed with the objective metric " +
                         rec.spec.objective.metric + " (" + std::to_string(summary.counts.failed) +
                         " failed";
    for (const auto& t : trials) {
      if (t.state == TrialState::kFailed && !t.failure_reason.empty()) {
        reason += "; first failure: " + t.failure_reason;
        break;
      }
    }
    reason += ")";
    return store_
        ->Transition(rec.name, {TuningState::kInProgress}, TuningState::kFailed,
                     [&](TuningRecord& r) { r.failure_reason = reason; })
        .status();
  }
  std::string model;
  int64_t version = 0;
  if (rec.spec.register_best && opts_.registry != nullptr) {
    const jobs::RegisterSpec& reg = *rec.spec.register_best;
    ASSIGN_OR_RETURN(jobs::JobRecord job, opts_.jobs->Get(summary.best->job_id));
    registry::CreateVersionRequest create;
    create.name = reg.model;
    create.source = job.model_digest;
    create.lineage.job_id = job.id;
    for (const auto& [k, v] : job.spec.hyperparameters) {
      create.lineage.hyperparameters[k] = v.is_string() ? v.get<std::string>() : v.dump();
    }
    create.lineage.metrics = job.final_metrics;
    create.tags = reg.tags;
    create.tags["tuning_job"] = rec.name;
    create.tags["job_id"] = job.id;
    create.tags["artifact_key"] = job.model_key;
    create.creator = rec.team;
    create.owner_team = rec.team;
    create.run_id = job.id;
    create.description = "best trial of tuning job " + rec.name + " (" + rec.spec.objective.metric +
                         " = " + std::to_string(*summary.best->objective) + ")";
    ASSIGN_OR_RETURN(registry::ModelVersion v, opts_.registry->CreateVersion(create));
    if (!reg.alias.empty()) {
      RETURN_IF_ERROR(opts_.registry->SetAlias(reg.model, reg.alias, v.version).status());
    }
    model = reg.model;
    version = v.version;
  }
  return store_
      ->Transition(rec.name, {TuningState::kInProgress}, TuningState::kCompleted,
                   [&](TuningRecord& r) {
                     r.registered_model = model;
                     r.registered_version = version;
                   })
      .status();
}

Status TuningService::Advance(const std::string& name) {
  ASSIGN_OR_RETURN(TuningRecord rec, store_->Get(name));
  ASSIGN_OR_RETURN(std::vector<TuningTrial> trials, store_->Trials(name));
  bool stopping = rec.state == TuningState::kStopping;

  tuning::MedianStoppingRule rule(opts_.median);
  for (const auto& t : trials) {
    if (t.state == TrialState::kCompleted) rule.AddCompleted(Losses(rec.spec, t.intermediate));
  }
  for (auto& t : trials) {
    if (t.state == TrialState::kPending && !stopping) {
      ASSIGN_OR_RETURN(bool go_on, Launch(rec, t));
      if (!go_on) return OkStatus();
    }
    if (t.state == TrialState::kRunning) RETURN_IF_ERROR(Refresh(rec, t, rule));
  }
  auto running = [&] {
    return std::count_if(trials.begin(), trials.end(),
                         [](const TuningTrial& t) { return !IsTerminal(t.state); });
  };
  if (stopping) {
    for (auto& t : trials) {
      if (t.state == TrialState::kPending) {
        t.state = TrialState::kStopped;
        RETURN_IF_ERROR(store_->PutTrial(t));
      } else if (t.state == TrialState::kRunning) {
        StatusOr<jobs::JobRecord> s = opts_.jobs->Stop(t.job_id);
        if (!s.ok() && s.status().code() != StatusCode::kFailedPrecondition) return s.status();
      }
    }
    if (running() > 0) return OkStatus();
    return store_->Transition(name, {TuningState::kStopping}, TuningState::kStopped).status();
  }

  bool exhausted = false;
  while (running() < rec.spec.max_parallel_jobs &&
         static_cast<int>(trials.size()) < rec.spec.max_jobs) {
    ASSIGN_OR_RETURN(std::optional<TuningTrial> next, NextTrial(rec, trials));
    if (!next) {
      exhausted = true;
      break;
    }
    RETURN_IF_ERROR(store_->PutTrial(*next));
    ASSIGN_OR_RETURN(bool go_on, Launch(rec, *next));
    trials.push_back(*next);
    if (!go_on) return OkStatus();
  }
  bool all_launched = exhausted || static_cast<int>(trials.size()) >= rec.spec.max_jobs;
  if (running() == 0 && all_launched) return Finish(rec, trials);
  return OkStatus();
}

}  // namespace tandem::compute::tuning
