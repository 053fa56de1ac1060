// JobService's recovery (Recover, once at start) and takeover (TakeOver, from
// the loop): both account for active jobs this control plane may own — its
// own from an earlier run, and those of a control plane whose lease expired
// (it died; see docs/architecture.md "High availability") — by adopting them
// atomically (JobStore::Adopt) and re-attaching to their processes.
#include <signal.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "common/log.h"
#include "compute/jobs/service.h"
#include "compute/jobs/service_active.h"

namespace tandem::compute::jobs {

namespace fs = std::filesystem;

namespace {
constexpr char kLostReason[] = "control plane restarted and the job's process is gone";
}  // namespace

Status WriteLaunchDetails(const std::string& attempt_dir, const Json& details) {
  const std::string path = attempt_dir + "/launch.json", tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << details.dump();
    if (!out.flush()) return InternalError("cannot write " + tmp);
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) return InternalError("cannot write " + path + ": " + ec.message());
  return OkStatus();
}

StatusOr<Json> ReadLaunchDetails(const std::string& attempt_dir) {
  const std::string path = attempt_dir + "/launch.json";
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFoundError("no launch details at " + path);
  std::stringstream text;
  text << in.rdbuf();
  ASSIGN_OR_RETURN(Json j, ParseJson(text.str()));
  if (!j.is_object()) return InvalidArgumentError(path + " is not a JSON object");
  return j;
}

void FaultPoint(std::string_view point) {
  static const char* const fault = std::getenv("TANDEM_FAULT");
  if (fault == nullptr || point != fault) return;
  LogWarn("fault injected: killing this process", {{"point", std::string(point)}});
  ::raise(SIGKILL);
}

void RemoveJobTree(const std::string& path) {
  std::error_code ec;
  fs::remove_all(path, ec);
  if (ec) LogWarn("cannot remove job directory", {{"path", path}, {"error", ec.message()}});
}

std::string JobService::RecordedAttemptDir(const JobRecord& r) const {
  // Launch records where the attempt runs: a job taken over from another
  // control plane keeps running in that one's home.
  if (r.details.is_object() && r.details.value("attempt_dir_attempt", 0) == r.attempt) {
    std::string dir = r.details.value("attempt_dir", "");
    if (!dir.empty()) return dir;
  }
  return AttemptDir(r.id, r.attempt);
}

Status JobService::Recover() {
  HoldLivenessLock();
  ASSIGN_OR_RETURN(std::vector<JobRecord> jobs, jobs_->ListRecoverable(opts_.owner));
  std::vector<std::string> ids;
  for (const JobRecord& r : jobs) ids.push_back(r.id);
  // All in one transaction; another control plane may have recovered some
  // since the list was read.
  ASSIGN_OR_RETURN(std::vector<std::string> adopted,
                   jobs_->AdoptAll(ids, opts_.owner, LeaseUntil()));
  const std::set<std::string> took(adopted.begin(), adopted.end());
  for (const JobRecord& r : jobs) {
    if (took.count(r.id) > 0) Attach(r, /*from_loop=*/false);
  }
  return OkStatus();
}

void JobService::TakeOver() {
  int64_t now = clock_.MonotonicMicros();
  if (last_takeover_micros_ != 0 && now - last_takeover_micros_ < opts_.lease_ms * 1000 / 3) {
    return;
  }
  last_takeover_micros_ = now;
  auto jobs = jobs_->ListRecoverable(opts_.owner);
  if (!jobs.ok()) {
    LogWarn("cannot list recoverable jobs", {{"error", std::string(jobs.status().message())}});
    return;
  }
  std::vector<std::string> candidates;
  for (const JobRecord& r : *jobs) {
    {
      absl::MutexLock lock(&mu_);
      if (direct_.count(r.id) > 0) continue;  // a launch of ours Submit started
    }
    if (auto it = active_.find(r.id); it != active_.end()) {
      // Ours and held here — or a claim of ours that lost to another control
      // plane and is still finishing: look again at the next tick rather
      // than a third of a lease later (that control plane may be the dead one).
      if (r.owner != opts_.owner && it->second->phase == Active::Phase::kLaunching) {
        last_takeover_micros_ = 0;
      }
      continue;
    }
    candidates.push_back(r.id);
  }
  if (candidates.empty()) return;
  // All of them in one transaction (others may have been taken first).
  auto adopted = jobs_->AdoptAll(candidates, opts_.owner, LeaseUntil());
  if (!adopted.ok()) {
    LogWarn("cannot take over jobs", {{"jobs", std::to_string(candidates.size())},
                                      {"error", std::string(adopted.status().message())}});
    return;
  }
  const std::set<std::string> took(adopted->begin(), adopted->end());
  for (const JobRecord& r : *jobs) {
    if (took.count(r.id) == 0) continue;
    LogInfo("job taken over", {{"job", r.id},
                               {"from", r.owner},
                               {"state", std::string(JobStateName(r.state))}});
    Attach(r, /*from_loop=*/true);
    NotifyState(r.id);
  }
}

void JobService::HoldLivenessLock() {
  if (opts_.liveness_check_ms <= 0) return;
  const int64_t now = clock_.MonotonicMicros();
  if (liveness_lock_ != nullptr) {
    if (now - last_lock_try_micros_ < opts_.lease_ms * 1000 / 3) return;
    last_lock_try_micros_ = now;
    if (liveness_lock_->Check().ok()) return;
    LogWarn("liveness lock lost; taking it again", {{"owner", opts_.owner}});
    liveness_lock_.reset();
  } else if (last_lock_try_micros_ != 0 &&
             now - last_lock_try_micros_ < opts_.lease_ms * 1000 / 3) {
    return;
  }
  last_lock_try_micros_ = now;
  auto lock = sql::HoldLock(*opts_.db, OwnerLockKey(opts_.owner), /*wait=*/false);
  if (!lock.ok()) {
    // E.g. the session of this owner's previous process is not gone yet:
    // the lease covers meanwhile.
    LogWarn("cannot take the liveness lock",
            {{"owner", opts_.owner}, {"error", std::string(lock.status().message())}});
    return;
  }
  if (*lock == nullptr) return;  // the database has no such locks: leases only
  Status registered = jobs_->RegisterLivenessLock(opts_.owner);
  if (!registered.ok()) {
    LogWarn("cannot register the liveness lock",
            {{"owner", opts_.owner}, {"error", std::string(registered.message())}});
    return;
  }
  liveness_lock_ = *std::move(lock);
}

void JobService::TakeOverFromDead() {
  HoldLivenessLock();
  if (opts_.liveness_check_ms <= 0) return;
  const int64_t now = clock_.MonotonicMicros();
  if (last_liveness_micros_ != 0 && now - last_liveness_micros_ < opts_.liveness_check_ms * 1000) {
    return;
  }
  last_liveness_micros_ = now;
  auto owners = jobs_->ListLockedLeaseOwners(opts_.owner);
  if (!owners.ok()) return;  // the lease path still works
  for (const std::string& owner : *owners) {
    auto held = sql::LockHeld(*opts_.db, OwnerLockKey(owner));
    if (!held.ok() || !held->has_value() || **held) continue;  // alive, or cannot tell
    auto jobs = jobs_->ListActiveOf(owner);
    if (!jobs.ok()) continue;
    std::vector<JobRecord> candidates;
    for (const JobRecord& r : *jobs) {
      if (active_.count(r.id) == 0) candidates.push_back(r);  // else a claim of ours finishing
    }
    if (candidates.empty()) continue;
    // Every job of the dead owner in one transaction (a job another survivor
    // took first, or whose lease the restarted owner renewed, is left out).
    auto adopted = jobs_->AdoptAllFromDead(candidates, opts_.owner, LeaseUntil());
    if (!adopted.ok()) {
      LogWarn("cannot take over the jobs of a dead control plane",
              {{"from", owner}, {"error", std::string(adopted.status().message())}});
      continue;
    }
    LogInfo("jobs taken over from a dead control plane",
            {{"from", owner},
             {"adopted", std::to_string(adopted->size())},
             {"listed", std::to_string(candidates.size())}});
    const std::set<std::string> took(adopted->begin(), adopted->end());
    for (const JobRecord& r : candidates) {
      if (took.count(r.id) == 0) continue;
      LogInfo("job taken over", {{"job", r.id},
                                 {"from", r.owner},
                                 {"why", "its owner's liveness lock is free"},
                                 {"state", std::string(JobStateName(r.state))}});
      Attach(r, /*from_loop=*/true);
      NotifyState(r.id);
    }
  }
}

std::optional<JobRecord> JobService::FindLaunch(const JobRecord& r) {
  // The claim recorded the launch intent (attempt_dir for this attempt);
  // without it nothing of this attempt was staged.
  if (r.state == JobState::kPending || !r.details.is_object() ||
      r.details.value("attempt_dir_attempt", 0) != r.attempt) {
    return std::nullopt;
  }
  const std::string attempt_dir = RecordedAttemptDir(r);
  LaunchRequest probe;
  probe.job_id = r.id;
  probe.attempt = r.attempt;
  probe.job_dir = attempt_dir + "/ml";
  auto found = substrate_->FindLaunched(probe);
  if (!found.ok()) {
    if (found.status().code() != StatusCode::kUnimplemented) {
      LogWarn("cannot look for the launch of an adopted job",
              {{"job", r.id}, {"error", std::string(found.status().message())}});
    }
    return std::nullopt;
  }
  if (!*found) return std::nullopt;
  // Its launcher died between the substrate's Submit and the Running
  // transition: record what it would have, and attach to the job.
  const JobHandle handle = **found;
  Json launch = ReadLaunchDetails(attempt_dir).value_or(Json::object());
  auto record = [&](JobRecord& rec) {
    rec.handle = handle;
    for (const auto& [k, v] : launch.items()) rec.details[k] = v;
    if (rec.started_micros == 0) {
      rec.started_micros = substrate_->StartedMicros(handle).value_or(clock_.NowMicros());
    }
  };
  auto moved =
      r.state == JobState::kStarting
          ? jobs_->Transition(r.id, {JobState::kStarting}, JobState::kRunning, record,
                              {{"reason", "launched by a control plane that died before "
                                          "recording it; re-attached"}})
          : jobs_->Update(r.id, record);
  if (!moved.ok()) {
    LogWarn("cannot record the launch of an adopted job",
            {{"job", r.id}, {"error", std::string(moved.status().message())}});
    return std::nullopt;
  }
  LogInfo("adopted a launch whose launcher died before recording it", {{"job", r.id}});
  JobRecord out = *moved;
  out.owner = opts_.owner;
  return out;
}

void JobService::Attach(const JobRecord& adopted, bool from_loop) {
  std::optional<JobRecord> launched;
  if (adopted.handle.id.empty()) launched = FindLaunch(adopted);
  const JobRecord& r = launched ? *launched : adopted;
  if (r.handle.id.empty()) {
    // Claimed but never launched (the launch records the handle in the same
    // transition as Running): user code never ran, the attempt starts over.
    RemoveJobTree(RecordedAttemptDir(r));
    bool stopping = r.state == JobState::kStopping;
    auto moved =
        jobs_->Transition(r.id, {r.state}, stopping ? JobState::kStopped : JobState::kPending,
                          [&](JobRecord& rec) {
                            if (stopping) rec.ended_micros = clock_.NowMicros();
                            rec.queued_micros = clock_.NowMicros();
                          },
                          {{"reason", "control plane restarted before the job was launched"}});
    if (!moved.ok()) {
      LogWarn("recover", {{"job", r.id}, {"error", std::string(moved.status().message())}});
    } else if (!stopping) {
      absl::MutexLock lock(&mu_);  // queued again: the loop's next pass launches it
      wake_ = true;
      schedule_ = true;
      backlog_ = true;
      ++backlog_gen_;
    }
    return;
  }
  auto a = std::make_unique<Active>();
  a->record = r;
  a->attempt_dir = RecordedAttemptDir(r);
  a->ml_dir = a->attempt_dir + "/ml";
  a->log_path = a->attempt_dir + "/job.log";
  a->handle = r.handle;
  a->cpus = r.spec.resources.cpus;
  a->code_digest = r.details.value("code_digest", "");
  if (r.details.contains("input_digests")) {
    a->input_digests = r.details["input_digests"].get<std::map<std::string, std::string>>();
  }
  a->warm_key = r.details.value("warm_key", "");
  if (r.spec.checkpoint) {
    a->checkpoints =
        std::make_shared<CheckpointSync>(*opts_.store, r.spec.checkpoint->key_prefix,
                                         a->ml_dir + "/checkpoints", opts_.checkpoint_limits);
  }
  auto parser = MetricParser::Create(r.spec.metric_definitions);
  if (parser.ok()) a->parser = *std::move(parser);
  a->stop_requested = r.state == JobState::kStopping;
  Active& ref = *a;
  active_[r.id] = std::move(a);
  // The metrics seen so far are re-derived from the whole log (inserts are
  // idempotent), and the loop resumes tailing and polling.
  TailLog(ref, false);
  if (from_loop) return;  // Monitor polls it in this pass and finalizes it on a worker
  auto polled = substrate_->Poll(r.handle);
  if (!polled.ok() || (*polled && (*polled)->kind == ExitKind::kLost)) {
    LogWarn("job lost across restart", {{"job", r.id}});
    ExitInfo lost;
    lost.kind = ExitKind::kLost;
    lost.message = kLostReason;
    TailLog(ref, true);
    Finish(ref, lost);
    active_.erase(r.id);
    return;
  }
  LogInfo("job re-attached", {{"job", r.id}, {"state", std::string(JobStateName(r.state))}});
}

}  // namespace tandem::compute::jobs
