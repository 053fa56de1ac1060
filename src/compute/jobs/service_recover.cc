// JobService's recovery (Recover, once at start) and takeover (TakeOver, from
// the loop): both account for active jobs this control plane may own — its
// own from an earlier run, and those of a control plane whose lease expired
// (it died; see docs/architecture.md "High availability") — by adopting them
// atomically (JobStore::Adopt) and re-attaching to their processes.
#include <filesystem>

#include "common/log.h"
#include "compute/jobs/service.h"
#include "compute/jobs/service_active.h"

namespace tandem::compute::jobs {

namespace fs = std::filesystem;

namespace {
constexpr char kLostReason[] = "control plane restarted and the job's process is gone";
}  // namespace

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
  ASSIGN_OR_RETURN(std::vector<JobRecord> jobs, jobs_->ListRecoverable(opts_.owner));
  for (const JobRecord& r : jobs) {
    // Another control plane may have recovered it since the list was read.
    ASSIGN_OR_RETURN(bool adopted, jobs_->Adopt(r.id, opts_.owner, LeaseUntil()));
    if (adopted) Attach(r, /*from_loop=*/false);
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
  for (const JobRecord& r : *jobs) {
    if (auto it = active_.find(r.id); it != active_.end()) {
      // Ours and held here — or a claim of ours that lost to another control
      // plane and is still finishing: look again at the next tick rather
      // than a third of a lease later (that control plane may be the dead one).
      if (r.owner != opts_.owner && it->second->phase == Active::Phase::kLaunching) {
        last_takeover_micros_ = 0;
      }
      continue;
    }
    auto adopted = jobs_->Adopt(r.id, opts_.owner, LeaseUntil());
    if (!adopted.ok() || !*adopted) continue;  // another survivor took it first
    LogInfo("job taken over", {{"job", r.id},
                               {"from", r.owner},
                               {"state", std::string(JobStateName(r.state))}});
    Attach(r, /*from_loop=*/true);
    NotifyState(r.id);
  }
}

void JobService::Attach(const JobRecord& r, bool from_loop) {
  if (r.handle.id.empty()) {
    // Launched, but the control plane died before it recorded the handle
    // (Launch: Submit, then the Running transition): attach to that process
    // rather than run the attempt's code a second time.
    const std::string dir = RecordedAttemptDir(r);
    if (auto launched = substrate_->FindLaunched(r.id, r.attempt, dir + "/ml")) {
      auto kept = jobs_->Update(r.id, [&](JobRecord& rec) {
        rec.handle = *launched;
        rec.details["attempt_dir"] = dir;
        rec.details["attempt_dir_attempt"] = rec.attempt;
      });
      if (kept.ok() && kept->attempt == r.attempt && !kept->handle.id.empty()) {
        LogInfo("job launched before the restart; attaching", {{"job", r.id}});
        Attach(*kept, from_loop);
        return;
      }
      LogWarn("cannot record the handle of a launched job",
              {{"job", r.id}, {"error", kept.ok() ? "attempt changed" : std::string(kept.status().message())}});
      return;
    }
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
    if (!moved.ok())
      LogWarn("recover", {{"job", r.id}, {"error", std::string(moved.status().message())}});
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
