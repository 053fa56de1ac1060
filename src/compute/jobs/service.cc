#include "compute/jobs/service.h"

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>

#include "absl/synchronization/mutex.h"
#include "common/ids.h"
#include "common/log.h"
#include "common/spread_directory.h"
#include "compute/jobs/contract.h"
#include "compute/jobs/finalize.h"
#include "compute/jobs/image_launch.h"
#include "compute/jobs/metric_parser.h"
#include "compute/jobs/secrets.h"
#include "compute/jobs/service_active.h"
#include "compute/jobs/staging.h"

namespace tandem::compute::jobs {

namespace fs = std::filesystem;

namespace {

constexpr char kUnsandboxed[] = "running unsandboxed: bubblewrap not found";

}  // namespace

JobService::JobService(JobServiceOptions options)
    : opts_(std::move(options)),
      clock_(opts_.clock != nullptr ? *opts_.clock : Clock::Real()),
      substrate_(std::move(opts_.substrate)),
      warm_(opts_.home + "/warm", clock_) {}

StatusOr<std::unique_ptr<JobService>> JobService::Open(JobServiceOptions options) {
  if (options.db == nullptr || options.outbox == nullptr || options.store == nullptr ||
      options.substrate == nullptr || options.home.empty()) {
    return InvalidArgumentError("job service needs home, db, outbox, store and substrate");
  }
  if (options.lease_ms < 1000) return InvalidArgumentError("job service lease_ms must be >= 1000");
  if (options.poll_interval_ms < 1 || options.safety_poll_ms < 1) {
    return InvalidArgumentError("job service poll_interval_ms and safety_poll_ms must be >= 1");
  }
  if (options.owner.empty()) {
    char host[256] = {0};
    if (gethostname(host, sizeof(host) - 1) != 0) std::snprintf(host, sizeof(host), "localhost");
    options.owner =
        std::string(host) + ":" + fs::absolute(options.home).lexically_normal().string();
  }
  std::unique_ptr<JobService> svc(new JobService(std::move(options)));
  ASSIGN_OR_RETURN(svc->jobs_, JobStore::Open(*svc->opts_.db, *svc->opts_.outbox, svc->clock_));
  ASSIGN_OR_RETURN(svc->loop_leases_,
                   LoopLeases::Open(*svc->opts_.db, svc->clock_, svc->opts_.owner,
                                    svc->opts_.lease_ms, svc->opts_.liveness_check_ms));
  ASSIGN_OR_RETURN(svc->spares_, SpareTrees::Open(svc->opts_.home + "/spare-trees", 8));
  std::error_code ec;
  fs::create_directories(svc->opts_.home + "/jobs", ec);
  if (ec) return InternalError("cannot create " + svc->opts_.home + "/jobs: " + ec.message());
  SpreadSubdirectories(svc->opts_.home + "/jobs");  // one per job
  if (!svc->substrate_->sandboxed()) LogWarn(kUnsandboxed);
  return svc;
}

JobService::~JobService() { Shutdown(); }

void JobService::Start() {
  absl::MutexLock lock(&mu_);
  if (thread_.joinable() || shutdown_) return;
  int workers = opts_.workers;
  if (workers <= 0)
    workers = std::max(32, 4 * static_cast<int>(std::thread::hardware_concurrency()));
  for (int i = 0; i < workers; ++i) workers_.emplace_back([this] { Work(); });
  ends_reported_ = substrate_->SetEndedCallback([this] {
    {
      absl::MutexLock lock(&mu_);
      wake_ = true;
      ended_signal_ = true;
    }
    wake_cv_.Signal();
  });
  loop_started_ = true;
  for (const auto& [id, a] : active_) held_cpus_ += a->cpus;  // recovered jobs
  thread_ = std::thread([this] { Loop(); });
  tasks_.push_back([this] { spares_->Refill(); });
  task_cv_.Signal();
}

void JobService::Shutdown() {
  {
    absl::MutexLock lock(&mu_);
    shutdown_ = true;
    // Queued tasks are dropped: a job not yet claimed stays Pending, one not
    // yet finalized stays Running for the next Recover.
    tasks_.clear();
  }
  wake_cv_.SignalAll();
  state_cv_.SignalAll();
  task_cv_.SignalAll();
  if (thread_.joinable()) thread_.join();
  for (auto& w : workers_) w.join();
  workers_.clear();
  substrate_->SetEndedCallback(nullptr);
}

void JobService::MarkChanged(const std::string& id) {
  if (changes_.size() >= kMaxTrackedChanges) changes_.clear();  // waiters fall back to slices
  changes_[id] = ++state_version_;
}

void JobService::Notify(const std::string& id) {
  {
    absl::MutexLock lock(&mu_);
    wake_ = true;
    MarkChanged(id);
  }
  wake_cv_.Signal();
  state_cv_.SignalAll();
}

void JobService::NotifyState(const std::string& id) {
  {
    absl::MutexLock lock(&mu_);
    MarkChanged(id);
  }
  state_cv_.SignalAll();
}


// ---- API ---------------------------------------------------------------------

StatusOr<JobRecord> JobService::Submit(const JobSpec& spec) {
  double capacity = substrate_->capacity_cpus();
  if (spec.resources.cpus > capacity) {
    return InvalidArgumentError("resources.cpus " + std::to_string(spec.resources.cpus) +
                                " exceeds the substrate's capacity of " + std::to_string(capacity) +
                                " CPUs (set `compute: {cpus: N}` in tandem.yaml to raise it)");
  }
  RETURN_IF_ERROR(MetricParser::Create(spec.metric_definitions).status());
  RETURN_IF_ERROR(ResolveCode(spec, *opts_.store).status());
  RETURN_IF_ERROR(ResolveInputs(spec, *opts_.store).status());
  RETURN_IF_ERROR(
      CheckSecretRefs(spec, opts_.secret_value, substrate_->sandboxed(), substrate_->name()));
  if (spec.register_model) {
    Status s = registry::ValidateModelName(spec.register_model->model);
    if (!s.ok()) return Annotate(s, "register.model");
    if (!spec.register_model->alias.empty()) {
      s = registry::ValidateAlias(spec.register_model->alias);
      if (!s.ok()) return Annotate(s, "register.alias");
    }
    for (const auto& [k, v] : spec.register_model->tags) {
      s = registry::ValidateTag(k, v);
      if (!s.ok()) return Annotate(s, "register.tags");
    }
  }
  std::optional<JobImage> image;
  if (!spec.image.empty()) {
    ASSIGN_OR_RETURN(image, ResolveJobImage(opts_.images, spec.image, substrate_->sandboxed()));
  }
  JobRecord r;
  r.id = NewUlid(clock_);
  if (image) r.details["image"] = image->ToJson();
  r.name = spec.name;
  r.team = spec.team;
  r.spec = spec;
  r.state = JobState::kPending;
  r.created_micros = r.queued_micros = r.updated_micros = clock_.NowMicros();
  r.details["substrate"] = substrate_->name();
  r.details["sandboxed"] = substrate_->sandboxed();
  if (!substrate_->sandboxed()) r.details["warnings"] = Json::array({kUnsandboxed});
  // With room and nothing queued before it, this thread hands the job to a
  // worker (claim, staging, launch) right after the insert, instead of
  // waking the loop to find it: under load the loop's pass and its Pending
  // query were most of the time to first line.
  Active* direct = nullptr;
  {
    absl::MutexLock lock(&mu_);
    if (loop_started_ && !shutdown_ && !backlog_ &&
        held_cpus_ + spec.resources.cpus <= capacity + 1e-9) {
      auto a = std::make_unique<Active>();
      a->phase = Active::Phase::kLaunching;
      a->record.id = r.id;  // the rest arrives with the claim (StartJob)
      a->cpus = spec.resources.cpus;
      direct = a.get();
      direct_[r.id] = {std::move(a), false};
      held_cpus_ += spec.resources.cpus;
    } else {
      backlog_ = true;
      ++backlog_gen_;
      ++backlog_inserting_;
      schedule_ = true;
    }
  }
  Status inserted = jobs_->Insert(r);
  if (direct == nullptr) {
    // Landed (or failed): a Schedule pass that began before it may not
    // have listed it, so that pass must not clear backlog_.
    absl::MutexLock lock(&mu_);
    --backlog_inserting_;
    ++backlog_gen_;
  }
  if (!inserted.ok()) {
    if (direct != nullptr) {
      absl::MutexLock lock(&mu_);
      direct_.erase(r.id);
      held_cpus_ -= spec.resources.cpus;
    }
    return inserted;
  }
  LogInfo("job submitted", {{"job", r.id}, {"name", r.name}, {"team", r.team}});
  if (direct == nullptr) {
    Notify(r.id);
    return r;
  }
  {
    absl::MutexLock lock(&mu_);
    direct_[r.id].second = true;
    tasks_.push_back([this, direct] { Completed(direct->record.id, StartJob(*direct)); });
    MarkChanged(r.id);
  }
  task_cv_.Signal();
  state_cv_.SignalAll();
  return r;
}

StatusOr<JobRecord> JobService::Stop(const std::string& id) {
  ASSIGN_OR_RETURN(JobRecord r, jobs_->Get(id));
  if (IsTerminal(r.state)) {
    return FailedPreconditionError("training job '" + id + "' already ended (" +
                                   std::string(JobStateName(r.state)) + ")");
  }
  if (r.state == JobState::kStopping) return r;
  auto stopped = jobs_->Transition(id, {JobState::kPending}, JobState::kStopped,
                                   [&](JobRecord& rec) { rec.ended_micros = clock_.NowMicros(); });
  if (!stopped.ok()) {
    // Not Pending any more: it started meanwhile, so ask the loop to stop it.
    stopped = jobs_->Transition(id, {JobState::kStarting, JobState::kRunning}, JobState::kStopping,
                                nullptr);
    if (!stopped.ok()) return stopped.status();
    absl::MutexLock lock(&mu_);
    stop_requests_.insert(id);
  }
  Notify(id);
  return stopped;
}

StatusOr<JobRecord> JobService::WaitFor(const std::string& id,
                                        const std::function<bool(const JobRecord&)>& done,
                                        int64_t timeout_ms) {
  const Deadline deadline = Deadline::InMillis(clock_, timeout_ms);
  auto changed = [this, &id]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    auto it = changes_.find(id);
    return it == changes_.end() ? uint64_t{0} : it->second;
  };
  bool saw_shutdown = false;
  // The row as last read: a slice's re-read parses the record only if the
  // row changed (most do not; parsing was most of a waiter's CPU).
  std::vector<sql::Value> seen;
  JobRecord r;
  while (true) {
    uint64_t version;
    {
      absl::MutexLock lock(&mu_);
      version = changed();
    }
    ASSIGN_OR_RETURN(std::optional<JobRecord> read, jobs_->GetIfChanged(id, &seen));
    if (read.has_value()) {
      r = *std::move(read);
      if (done(r)) return r;
    }
    if (deadline.Expired()) {
      return DeadlineExceededError("training job '" + id + "' is still " +
                                   std::string(JobStateName(r.state)) + " after " +
                                   std::to_string(timeout_ms) + " ms");
    }
    // This service's change to the job since `version` was read wakes us at
    // once (others' changes do not make us read again); other control
    // planes' changes are seen within the slice.
    // Shutdown wakes us once (to re-read); after it, nothing here changes
    // the job, so we wait out the slices rather than spin re-reading it.
    absl::MutexLock lock(&mu_);
    const absl::Time until = absl::Now() + absl::Milliseconds(deadline.SliceMillis(100));
    while (changed() == version && !(shutdown_ && !saw_shutdown) &&
           !state_cv_.WaitWithDeadline(&mu_, until)) {
    }
    saw_shutdown = shutdown_;
  }
}


bool JobService::StartJob(Active& a) {
  a.launch_taken_micros = clock_.NowMicros();
  // The claim records where the attempt will run (the launch intent: a
  // survivor looks for its runner there).
  auto started = jobs_->Claim(a.record.id, opts_.owner, LeaseUntil(), [this](JobRecord& r) {
    r.details["attempt_dir"] = AttemptDir(r.id, r.attempt);
    r.details["attempt_dir_attempt"] = r.attempt;
  });
  if (!started.ok()) return true;  // stopped meanwhile, or claimed by another control plane
  a.claimed_micros = clock_.NowMicros();
  NotifyState(a.record.id);
  a.record = *started;
  a.attempt_dir = AttemptDir(a.record.id, started->attempt);
  a.ml_dir = a.attempt_dir + "/ml";
  a.log_path = a.attempt_dir + "/job.log";
  auto launched = Launch(a);
  if (launched.ok() && *launched) return false;
  ExitInfo exit;
  if (launched.ok()) {
    exit.kind = ExitKind::kStopped;
  } else {
    a.launch_error = std::string(launched.status().message());
    exit.kind = ExitKind::kLost;
    exit.message = a.launch_error;
  }
  Finish(a, exit);
  return true;
}

StatusOr<bool> JobService::Launch(Active& a) {
  const JobSpec& spec = a.record.spec;
  const int64_t t0 = clock_.MonotonicMicros();
  RemoveJobTree(a.attempt_dir);
  ASSIGN_OR_RETURN(Source code, ResolveCode(spec, *opts_.store));
  ASSIGN_OR_RETURN(auto inputs, ResolveInputs(spec, *opts_.store));
  std::vector<std::string> channels;
  for (const auto& [channel, src] : inputs) channels.push_back(channel);
  // A spare tree moved into place (refilled by a worker), then what it
  // lacks (the channels); or the whole tree when none is ready.
  std::error_code mk;
  fs::create_directories(a.attempt_dir, mk);
  if (!mk && spares_->TakeInto(a.ml_dir)) Dispatch([this] { spares_->Refill(); });
  RETURN_IF_ERROR(CreateJobTree(a.ml_dir, channels));
  std::string code_dir = a.ml_dir + "/code", data_dir = a.ml_dir + "/input/data";
  // Warm pool: keyed by cheap fingerprints, so a warm start reads no content;
  // the lineage digests come with the pooled environment.
  std::optional<WarmRelease> warm;
  if (spec.keep_alive_seconds > 0) {
    ASSIGN_OR_RETURN(std::string code_id, SourceFingerprint(code, *opts_.store));
    std::map<std::string, std::string> input_ids;
    for (const auto& [channel, src] : inputs) {
      ASSIGN_OR_RETURN(input_ids[channel], SourceFingerprint(src, *opts_.store));
    }
    a.warm_key = WarmPool::Key(code_id, input_ids, spec.resources, spec.team);
    std::string cold_code = code_dir + ".cold", cold_data = data_dir + ".cold";
    std::error_code ec;
    fs::rename(code_dir, cold_code, ec);
    fs::rename(data_dir, cold_data, ec);
    auto taken = warm_.Take(a.warm_key, code_dir, data_dir);
    if (taken.ok() && *taken) {
      warm = *taken;
      RemoveJobTree(cold_code);
      RemoveJobTree(cold_data);
      a.code_digest = warm->info.value("code_digest", "");
      if (warm->info.contains("input_digests") && warm->info["input_digests"].is_object()) {
        a.input_digests = warm->info["input_digests"].get<std::map<std::string, std::string>>();
      }
      BillWarmRelease(*warm);
    } else {
      fs::rename(cold_code, code_dir, ec);
      fs::rename(cold_data, data_dir, ec);
    }
  }
  if (!warm) {
    ASSIGN_OR_RETURN(a.code_digest, SourceDigest(code, *opts_.store));
    for (const auto& [channel, src] : inputs) {
      ASSIGN_OR_RETURN(a.input_digests[channel], SourceDigest(src, *opts_.store));
    }
    RETURN_IF_ERROR(StageCode(code, *opts_.store, code_dir));
    const InputStaging mode =
        substrate_->inputs_read_only() ? InputStaging::kLinkStoreBlobs : InputStaging::kCopy;
    for (const auto& [channel, src] : inputs) {
      Status s = StageInput(src, *opts_.store, data_dir + "/" + channel, mode);
      if (!s.ok()) return Annotate(s, "staging input channel '" + channel + "'");
    }
  }
  RETURN_IF_ERROR(WriteConfigFiles(a.ml_dir, spec, spec.name));
  Json checkpoint_details;
  if (spec.checkpoint) {
    a.checkpoints =
        std::make_shared<CheckpointSync>(*opts_.store, spec.checkpoint->key_prefix,
                                         a.ml_dir + "/checkpoints", opts_.checkpoint_limits);
    auto restored = a.checkpoints->Restore();
    if (!restored.ok()) return Annotate(restored.status(), "restoring checkpoints");
    checkpoint_details = {{"key_prefix", spec.checkpoint->key_prefix},
                          {"restored_files", restored->files},
                          {"restored_bytes", restored->bytes}};
    a.checkpoint_synced_micros = clock_.MonotonicMicros();
  }
  const int64_t staged = clock_.MonotonicMicros();
  int64_t staging_ms = (staged - t0) / 1000;

  std::string base = substrate_->sandboxed() ? kSandboxBase : a.ml_dir;
  int cpus = static_cast<int>(std::ceil(spec.resources.cpus));
  LaunchRequest req;
  req.job_id = a.record.id;
  req.attempt = a.record.attempt;
  req.job_dir = a.ml_dir;
  req.log_path = a.log_path;
  req.argv = EntryPointCommand(spec, base);
  req.env = ContractEnvironment(spec, spec.name, base, cpus);
  req.working_dir = base + "/code";
  RETURN_IF_ERROR(ApplyJobImage(spec, a.record.details, opts_.images, req));
  req.resources = spec.resources;
  req.max_runtime_seconds = spec.max_runtime_seconds;
  req.network = spec.network;
  req.spec = &spec;
  RETURN_IF_ERROR(ResolveSecrets(spec, opts_.secret_value, substrate_->sandboxed(),
                                 substrate_->name(), req));
  {
    absl::MutexLock lock(&mu_);
    if (stop_requests_.count(a.record.id) > 0) a.stop_requested = true;
  }
  if (a.stop_requested) return false;
  Json launch = {{"code_digest", a.code_digest},
                 {"input_digests", Json(a.input_digests)},
                 {"staging_ms", staging_ms},
                 {"warm_start", warm.has_value()}};
  if (!a.warm_key.empty()) launch["warm_key"] = a.warm_key;
  if (!checkpoint_details.is_null()) launch["checkpoint"] = checkpoint_details;
  RETURN_IF_ERROR(WriteLaunchDetails(a.attempt_dir, launch));
  ASSIGN_OR_RETURN(a.handle, substrate_->Submit(req));
  FaultPoint("after-submit");
  // Where the time from queued to launched went (µs): to a worker taking it
  // (the loop's wake-up, scheduling, the hand-off), the claim's transaction,
  // staging, and the launch (launch.json, the substrate's Submit).
  const int64_t submitted = clock_.MonotonicMicros();
  launch["launch_us"] = {{"to_worker", a.launch_taken_micros - a.record.queued_micros},
                         {"claim", a.claimed_micros - a.launch_taken_micros},
                         {"staging", staged - t0},
                         {"launch", submitted - staged}};
  if (!spec.metric_definitions.empty()) {  // nothing to look for: the log is not read
    auto parser = MetricParser::Create(spec.metric_definitions);
    if (parser.ok()) a.parser = *std::move(parser);
  }
  auto running =
      jobs_->Transition(a.record.id, {JobState::kStarting}, JobState::kRunning, [&](JobRecord& r) {
        r.handle = a.handle;
        r.started_micros = clock_.NowMicros();
        for (const auto& [k, v] : launch.items()) r.details[k] = v;
        r.details["attempt_dir"] = a.attempt_dir;
        r.details["attempt_dir_attempt"] = a.record.attempt;
      });
  if (!running.ok()) {
    // Stop() moved it to Stopping meanwhile: keep the handle, stop the process.
    auto kept = jobs_->Update(a.record.id, [&](JobRecord& r) { r.handle = a.handle; });
    if (!kept.ok()) LogWarn("cannot record handle", {{"job", a.record.id}});
    a.stop_requested = true;
  } else {
    a.record = *running;
    launch_seconds_.Observe(static_cast<double>(a.record.started_micros - a.record.queued_micros) /
                            1e6);
  }
  // environment: reused from the keep-alive pool or staged; sandbox: one the
  // substrate started in advance (warm), one of its own (cold), or none.
  const char* sandbox = !substrate_->sandboxed() ? "none" : a.handle.warm_sandbox ? "warm" : "cold";
  LogInfo("job running", {{"job", a.record.id},
                          {"attempt", std::to_string(a.record.attempt)},
                          {"staging_ms", std::to_string(staging_ms)},
                          {"environment", warm ? "pooled" : "staged"},
                          {"sandbox", sandbox}});
  NotifyState(a.record.id);
  return true;
}

void JobService::TailLog(Active& a, bool finish) {
  if (!a.parser) return;
  const int64_t now = clock_.MonotonicMicros();
  if (!finish && a.log_tailed_micros != 0 &&
      now - a.log_tailed_micros < opts_.metrics_interval_ms * 1000) {
    return;
  }
  a.log_tailed_micros = now;
  std::ifstream in(a.log_path, std::ios::binary);
  if (!in) return;
  in.seekg(a.log_offset);
  std::string buf(64 << 10, '\0');
  std::vector<MetricSample> samples;
  while (in) {  // the log is bounded by the substrate, so read what is there
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    std::streamsize n = in.gcount();
    if (n <= 0) break;
    a.log_offset += n;
    auto found =
        a.parser->Feed(std::string_view(buf.data(), static_cast<size_t>(n)), clock_.NowMicros());
    samples.insert(samples.end(), found.begin(), found.end());
  }
  if (finish) {
    auto found = a.parser->Finish(clock_.NowMicros());
    samples.insert(samples.end(), found.begin(), found.end());
  }
  for (const auto& s : samples) a.last_metrics[s.name] = s.value;
  Status s = jobs_->AppendMetrics(a.record.id, a.record.attempt, samples);
  if (!s.ok()) {
    LogWarn("cannot store metrics", {{"job", a.record.id}, {"error", std::string(s.message())}});
  }
}

void JobService::SyncCheckpoints(Active& a) {
  if (!a.checkpoints) return;
  const int64_t now = clock_.MonotonicMicros();
  if (now - a.checkpoint_synced_micros < opts_.checkpoint_sync_ms * 1000) return;
  if (!a.checkpoints->TryMarkBusy()) return;  // the previous one is still running
  a.checkpoint_synced_micros = now;
  Dispatch([sync = a.checkpoints, id = a.record.id] {
    auto synced = sync->Sync();
    if (!synced.ok()) {
      LogWarn("checkpoint sync failed",
              {{"job", id}, {"error", std::string(synced.status().message())}});
    }
    sync->ClearBusy();
  });
}

void JobService::Finish(Active& a, const ExitInfo& exit) {
  const int64_t t0 = clock_.MonotonicMicros();
  if (a.checkpoints) {  // the last upload, whatever the outcome
    auto synced = a.checkpoints->Sync(/*final=*/true);
    if (!synced.ok()) {
      LogWarn("final checkpoint sync failed",
              {{"job", a.record.id}, {"error", std::string(synced.status().message())}});
    }
  }
  FinalizeRequest req;
  req.record = &a.record;
  a.record.final_metrics = a.last_metrics;
  req.ml_dir = a.ml_dir;
  req.log_path = a.log_path;
  req.exit = exit;
  req.stop_requested = a.stop_requested;
  req.code_digest = a.code_digest;
  req.input_digests = a.input_digests;
  req.clock = &clock_;
  const int64_t t_finalize = clock_.MonotonicMicros();
  auto outcome = FinalizeAttempt(req, *opts_.store, opts_.registry);
  const int64_t t1 = clock_.MonotonicMicros();
  // Where the time from the job's end to its record went (µs): the runner's
  // end of the job -> the loop seeing its result (the runner's teardown and
  // exit, the exit event, the loop's wake-up), -> a worker taking it, the
  // final checkpoint sync, and finalization's steps (finalize.h).
  const int64_t seen = a.end_seen_micros != 0 ? a.end_seen_micros : t0;
  Json finalize_us = {{"to_worker", t0 - seen}};
  if (a.end_seen_wall_micros != 0 && exit.ended_micros != 0) {
    finalize_us["to_seen"] = a.end_seen_wall_micros - exit.ended_micros;
  }
  if (a.checkpoints) finalize_us["checkpoints"] = t_finalize - t0;
  if (outcome.ok()) finalize_us.update(outcome->steps_us);
  if (!outcome.ok()) {
    LogError("finalize failed",
             {{"job", a.record.id}, {"error", std::string(outcome.status().message())}});
    Outcome failed;
    failed.state = JobState::kFailed;
    failed.failure_reason = "finalization failed: " + std::string(outcome.status().message());
    outcome = failed;
  }
  if (!a.launch_error.empty()) {
    outcome->state = JobState::kFailed;
    outcome->failure_reason = "staging failed: " + a.launch_error;
    outcome->retryable = false;
  }
  outcome->failure_reason =
      FailureReasonForUsers(outcome->failure_reason, a.ml_dir, opts_.home, a.record.id);
  const Outcome& o = *outcome;
  double cost = opts_.cost ? opts_.cost(a.record.spec, exit.metering) : 0.0;
  bool retry =
      o.state == JobState::kFailed && o.retryable && a.record.attempt < a.record.spec.retries + 1;
  int64_t now = clock_.NowMicros();
  auto apply = [&](JobRecord& r) {
    r.metering.wall_seconds += exit.metering.wall_seconds;
    r.metering.cpu_seconds += exit.metering.cpu_seconds;
    r.metering.peak_rss_bytes = std::max(r.metering.peak_rss_bytes, exit.metering.peak_rss_bytes);
    r.metering.cost += cost;
    r.final_metrics = a.last_metrics;
    Json attempt = {{"attempt", r.attempt},
                    {"state", JobStateName(o.state)},
                    {"exit", ExitKindName(exit.kind)},
                    {"exit_code", exit.exit_code},
                    {"wall_seconds", exit.metering.wall_seconds},
                    {"cpu_seconds", exit.metering.cpu_seconds},
                    {"peak_rss_bytes", exit.metering.peak_rss_bytes},
                    {"cost", cost}};
    if (!o.failure_reason.empty()) attempt["failure_reason"] = o.failure_reason;
    if (!o.log_key.empty()) attempt["log_key"] = o.log_key;
    attempt["finalize_us"] = finalize_us;
    if (!r.details.contains("attempts")) r.details["attempts"] = Json::array();
    r.details["attempts"].push_back(attempt);
    if (!o.log_key.empty()) r.details["log_key"] = o.log_key;
    if (retry) {
      r.attempt += 1;
      r.queued_micros = now;
      r.handle = JobHandle{};
      r.failure_reason.clear();
      r.details.erase("log_key");
      return;
    }
    r.ended_micros = now;
    r.failure_reason = o.failure_reason;
    r.model_key = o.model_key;
    r.model_digest = o.model_digest;
    if (!o.output_key.empty()) r.details["output_key"] = o.output_key;
    r.registered_model = o.registered_model;
    r.registered_version = o.registered_version;
    r.registered_alias = o.registered_alias;
  };
  JobState to = retry ? JobState::kPending : o.state;
  Json extra = Json::object();
  if (retry) extra["failure_reason"] = o.failure_reason;
  auto done =
      jobs_->Transition(a.record.id, {JobState::kStarting, JobState::kRunning, JobState::kStopping},
                        to, apply, extra);
  if (!done.ok()) {
    LogError("cannot record job end",
             {{"job", a.record.id}, {"error", std::string(done.status().message())}});
  } else {
    // Where the time went: waiting for a worker, the store (log, model,
    // outputs, registry), recording the end.
    const int64_t t2 = clock_.MonotonicMicros();
    LogInfo("job ended", {{"job", a.record.id},
                          {"state", std::string(JobStateName(to))},
                          {"reason", o.failure_reason},
                          {"queued_ms", std::to_string((t0 - seen) / 1000)},
                          {"finalize_ms", std::to_string((t1 - t0) / 1000)},
                          {"record_ms", std::to_string((t2 - t1) / 1000)}});
  }
  // Keep the prepared environment for a matching next job, then clean up.
  if (done.ok() && a.record.spec.keep_alive_seconds > 0 && !a.warm_key.empty() &&
      exit.kind != ExitKind::kLost) {
    Json info = {{"code_digest", a.code_digest}, {"input_digests", a.input_digests}};
    auto replaced = warm_.Retain(a.warm_key, a.ml_dir + "/code", a.ml_dir + "/input/data",
                                 a.record.spec.keep_alive_seconds, a.record.id, info);
    if (!replaced.ok()) {
      LogWarn("warm pool retain failed",
              {{"job", a.record.id}, {"error", std::string(replaced.status().message())}});
    } else if (*replaced) {
      BillWarmRelease(**replaced);
    }
  }
  // The end is recorded (outputs stored, the state durable) and the
  // environment kept: waiters need not wait for the clean-up (a job tree of
  // some dozen files and directories to unlink), which follows.
  NotifyState(a.record.id);
  RemoveJobTree(a.attempt_dir);
  std::error_code ec;
  fs::remove(fs::path(a.attempt_dir).parent_path(), ec);  // only if empty
}

void JobService::BillWarmRelease(const WarmRelease& r) {
  if (r.origin_job_id.empty() || r.retained_seconds <= 0) return;
  auto billed = jobs_->Update(r.origin_job_id, [&](JobRecord& rec) {
    rec.metering.warm_pool_seconds += r.retained_seconds;
    if (opts_.warm_pool_cost)
      rec.metering.cost += opts_.warm_pool_cost(rec.spec, r.retained_seconds);
  });
  if (!billed.ok()) LogWarn("cannot bill warm pool", {{"job", r.origin_job_id}});
}

}  // namespace tandem::compute::jobs
