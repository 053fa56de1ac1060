// JobService's scheduler/monitor loop and its worker pool (service.h): the
// loop's wake-ups, lease renewal, stops, polling the running jobs, and
// handing launches and finalizations to the workers.
#include "compute/jobs/service.h"

#include <optional>

#include "absl/synchronization/mutex.h"
#include "common/log.h"
#include "compute/jobs/service_active.h"

namespace tandem::compute::jobs {

void JobService::Work() {
  while (true) {
    std::function<void()> task;
    {
      absl::MutexLock lock(&mu_);
      while (tasks_.empty() && !shutdown_) task_cv_.Wait(&mu_);
      if (shutdown_) return;
      task = std::move(tasks_.front());
      tasks_.pop_front();
    }
    task();
  }
}

void JobService::Dispatch(std::function<void()> task) {
  {
    absl::MutexLock lock(&mu_);
    tasks_.push_back(std::move(task));
  }
  task_cv_.Signal();
}

void JobService::Completed(const std::string& id, bool ended) {
  {
    absl::MutexLock lock(&mu_);
    completed_.emplace_back(id, ended);
    wake_ = true;
    MarkChanged(id);
  }
  wake_cv_.Signal();
  state_cv_.SignalAll();
}

void JobService::CollectCompleted() {
  std::vector<std::pair<std::string, bool>> done;
  {
    absl::MutexLock lock(&mu_);
    done.swap(completed_);
  }
  for (const auto& [id, ended] : done) {
    if (ended) {
      active_.erase(id);
    } else if (auto it = active_.find(id); it != active_.end()) {
      it->second->phase = Active::Phase::kRunning;
    }
  }
}

std::string JobService::AttemptDir(const std::string& id, int attempt) const {
  return opts_.home + "/jobs/" + id + "/attempt-" + std::to_string(attempt);
}
// ---- the loop -------------------------------------------------------------------

void JobService::Loop() {
  absl::Time last_monitor = absl::InfinitePast();
  while (true) {
    bool ended;
    {
      absl::MutexLock lock(&mu_);
      const absl::Time until = absl::Now() + absl::Milliseconds(opts_.poll_interval_ms);
      while (!wake_ && !shutdown_ && !wake_cv_.WaitWithDeadline(&mu_, until)) {
      }
      if (shutdown_) return;
      wake_ = false;
      ended = ended_signal_;
      ended_signal_ = false;
    }
    RenewLeases();
    TakeOver();
    TakeOverFromDead();
    CollectCompleted();
    ApplyStops();
    // Launches first: Monitor does not free capacity (a job it sees ended is
    // finalized by a worker, which frees it through CollectCompleted), so a
    // submitted job need not wait behind the polls of every running job.
    Schedule();
    // Every running job is polled when the substrate says one ended, and
    // every poll interval (ends it cannot report, log tailing, checkpoint
    // syncs); not on each submit or worker hand-back, which at tens of jobs
    // a second would poll every running job hundreds of times a second.
    const absl::Time now_real = absl::Now();
    if (ended || now_real - last_monitor >= absl::Milliseconds(opts_.poll_interval_ms)) {
      last_monitor = now_real;
      Monitor();
    }
    int64_t now = clock_.MonotonicMicros();
    if (now - last_expiry_micros_ > 1'000'000) {
      last_expiry_micros_ = now;
      for (const auto& released : warm_.Expire()) BillWarmRelease(released);
    }
  }
}

void JobService::RenewLeases() {
  int64_t now = clock_.MonotonicMicros();
  if (now - last_renew_micros_ < opts_.lease_ms * 1000 / 3) return;
  last_renew_micros_ = now;
  auto renewed = jobs_->RenewLeases(opts_.owner, LeaseUntil());
  if (!renewed.ok()) {
    LogWarn("cannot renew job leases", {{"error", std::string(renewed.status().message())}});
  }
  auto stopping = jobs_->ListStopping(opts_.owner);
  if (!stopping.ok()) return;
  absl::MutexLock lock(&mu_);
  for (const auto& id : *stopping) stop_requests_.insert(id);
}

void JobService::ApplyStops() {
  {
    // A job being launched keeps its request (Launch reads it, and it is
    // applied here once the job runs); one being finalized needs none.
    absl::MutexLock lock(&mu_);
    for (auto id = stop_requests_.begin(); id != stop_requests_.end();) {
      auto it = active_.find(*id);
      if (it != active_.end() && it->second->phase == Active::Phase::kLaunching) {
        ++id;
        continue;
      }
      if (it != active_.end() && it->second->phase == Active::Phase::kRunning) {
        it->second->stop_requested = true;
      }
      id = stop_requests_.erase(id);
    }
  }
  for (auto& [id, a] : active_) {
    if (a->phase != Active::Phase::kRunning) continue;
    if (a->stop_requested && !a->stop_sent && !a->handle.id.empty()) {
      Status s = substrate_->Stop(a->handle, opts_.stop_grace_seconds);
      if (!s.ok()) LogWarn("stop failed", {{"job", id}, {"error", std::string(s.message())}});
      a->stop_sent = true;
    }
  }
}

void JobService::Monitor() {
  for (auto& [id, a] : active_) {
    if (a->phase != Active::Phase::kRunning) continue;
    TailLog(*a, false);
    if (a->handle.id.empty()) continue;
    SyncCheckpoints(*a);
    auto polled = substrate_->Poll(a->handle);
    std::optional<ExitInfo> exit;
    if (!polled.ok()) {
      StatusCode code = polled.status().code();
      if (code != StatusCode::kNotFound && code != StatusCode::kInvalidArgument) {
        LogWarn("poll failed", {{"job", id}, {"error", std::string(polled.status().message())}});
        continue;
      }
      exit = ExitInfo{};
      exit->kind = ExitKind::kLost;
      exit->message = "the substrate no longer knows the job";
    } else if (*polled) {
      exit = **polled;
    }
    if (!exit) continue;
    a->phase = Active::Phase::kFinishing;
    a->end_seen_micros = clock_.MonotonicMicros();
    Dispatch([this, job = a.get(), exit = *std::move(exit)] {
      TailLog(*job, true);
      Finish(*job, exit);
      Completed(job->record.id, /*ended=*/true);
    });
  }
}

void JobService::Schedule() {
  double used = 0;
  for (const auto& [id, a] : active_) used += a->cpus;
  double capacity = substrate_->capacity_cpus();
  if (used >= capacity) return;
  auto pending = jobs_->ListPendingCpus(64);
  if (!pending.ok()) {
    LogWarn("cannot list pending jobs", {{"error", std::string(pending.status().message())}});
    return;
  }
  for (const JobStore::PendingJob& p : *pending) {
    // Handed to a worker already (its claim may not have landed yet), or
    // being finalized for a retry.
    if (active_.count(p.id) > 0) continue;
    // Strict FIFO: the head waits for room rather than being overtaken.
    if (used + p.cpus > capacity + 1e-9) break;
    used += p.cpus;
    auto a = std::make_unique<Active>();
    a->phase = Active::Phase::kLaunching;
    a->record.id = p.id;  // the rest arrives with the claim (StartJob)
    a->cpus = p.cpus;
    Active* job = a.get();
    active_[p.id] = std::move(a);
    Dispatch([this, job] { Completed(job->record.id, StartJob(*job)); });
  }
}
}  // namespace tandem::compute::jobs
