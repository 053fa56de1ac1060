// JobService's scheduler/monitor loop and its worker pool (service.h): the
// loop's wake-ups, lease renewal, stops, polling the running jobs, and
// handing launches and finalizations to the workers.
#include "compute/jobs/service.h"

#include <algorithm>
#include <limits>
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
    if (ended) schedule_ = true;  // room freed, or Pending again for a retry
    MarkChanged(id);
  }
  wake_cv_.Signal();
  state_cv_.SignalAll();
}

void JobService::CollectCompleted() {
  std::vector<std::pair<std::string, bool>> done;
  {
    absl::MutexLock lock(&mu_);
    for (auto it = direct_.begin(); it != direct_.end();) {
      if (!it->second.second) {  // Submit's insert is not done yet
        ++it;
        continue;
      }
      active_[it->first] = std::move(it->second.first);
      it = direct_.erase(it);
    }
    done.swap(completed_);
  }
  for (const auto& [id, ended] : done) {
    if (ended) {
      active_.erase(id);
    } else if (auto it = active_.find(id); it != active_.end()) {
      it->second->phase = Active::Phase::kRunning;
      // Polled once now: it may have ended (and the substrate said so)
      // while it was still the worker's, when the loop's poll skipped it.
      PollJob(id, *it->second);
    }
  }
  RecountHeld();
}

void JobService::RecountHeld() {
  double held = 0;
  for (const auto& [id, a] : active_) held += a->cpus;
  absl::MutexLock lock(&mu_);
  for (const auto& [id, d] : direct_) held += d.first->cpus;
  held_cpus_ = held;
}

std::string JobService::AttemptDir(const std::string& id, int attempt) const {
  return opts_.home + "/jobs/" + id + "/attempt-" + std::to_string(attempt);
}
// ---- the loop -------------------------------------------------------------------

void JobService::Loop() {
  // The polls are in real time (as the options say); the leases, liveness
  // checks and the jobs' timers in the clock's.
  absl::Time last_monitor = absl::Now(), last_full = last_monitor;
  while (true) {
    bool ended, schedule;
    {
      absl::MutexLock lock(&mu_);
      const absl::Time until = absl::Now() + LoopWait(last_monitor, last_full);
      while (!wake_ && !shutdown_ && !wake_cv_.WaitWithDeadline(&mu_, until)) {
      }
      if (shutdown_) return;
      wake_ = false;
      schedule = schedule_;
      schedule_ = false;
      ended = ended_signal_;
      ended_signal_ = false;
    }
    loop_iterations_.fetch_add(1);
    const int64_t now = clock_.MonotonicMicros();
    const absl::Time now_real = absl::Now();
    const bool full = now_real - last_full >= absl::Milliseconds(opts_.safety_poll_ms);
    if (full) last_full = now_real;
    RenewLeases();
    CollectCompleted();  // first: TakeOver must see Submit's direct launches as held
    TakeOver();
    TakeOverFromDead();
    RecountHeld();
    ApplyStops();
    // Launches first: Monitor does not free capacity (a job it sees ended is
    // finalized by a worker, which frees it through CollectCompleted), so a
    // submitted job need not wait behind the polls of every running job.
    // Pending jobs appear by a submit that found no room or a queue, a
    // finished job (room freed, or a retry), or through another control
    // plane (the full pass); a submit with room launched its job itself.
    if (schedule || full) Schedule();
    // Every running job is polled when the substrate says one ended, when a
    // timer of one of them is due, on the full pass, and every poll interval
    // when the substrate cannot report ends; not on each submit or worker
    // hand-back, which at tens of jobs a second would poll every running job
    // hundreds of times a second.
    const bool poll_due =
        !ends_reported_ && now_real - last_monitor >= absl::Milliseconds(opts_.poll_interval_ms);
    if (ended || full || poll_due || NextJobTimerMicros() <= now) {
      last_monitor = now_real;
      Monitor();
    }
    if (now - last_expiry_micros_ >= 1'000'000) {
      last_expiry_micros_ = now;
      for (const auto& released : warm_.Expire()) BillWarmRelease(released);
    }
  }
}

int64_t JobService::NextJobTimerMicros() const {
  int64_t next = std::numeric_limits<int64_t>::max();
  for (const auto& [id, a] : active_) {
    if (a->phase != Active::Phase::kRunning) continue;
    if (a->parser) next = std::min(next, a->log_tailed_micros + opts_.metrics_interval_ms * 1000);
    if (a->checkpoints) {
      next = std::min(next, a->checkpoint_synced_micros + opts_.checkpoint_sync_ms * 1000);
    }
  }
  return next;
}

absl::Duration JobService::LoopWait(absl::Time last_monitor, absl::Time last_full) const {
  const absl::Time now_real = absl::Now();
  const absl::Duration poll = absl::Milliseconds(opts_.poll_interval_ms);
  const absl::Duration safety = absl::Milliseconds(opts_.safety_poll_ms);
  absl::Duration wait = last_full + safety - now_real;
  bool running = false;
  for (const auto& [id, a] : active_) running |= a->phase == Active::Phase::kRunning;
  if (running && !ends_reported_) wait = std::min(wait, last_monitor + poll - now_real);
  // The clock's timers.
  const int64_t now = clock_.MonotonicMicros(), third = opts_.lease_ms * 1000 / 3;
  int64_t next = NextJobTimerMicros();
  next = std::min(next, last_renew_micros_ + third);
  // 0: TakeOver asked to look again soon (a claim racing a dead owner's).
  if (last_takeover_micros_ != 0) next = std::min(next, last_takeover_micros_ + third);
  if (last_takeover_micros_ == 0) wait = std::min(wait, poll);
  if (opts_.liveness_check_ms > 0) {
    next = std::min(next, last_liveness_micros_ + opts_.liveness_check_ms * 1000);
    next = std::min(next, last_lock_try_micros_ + third);
  }
  next = std::min(next, last_expiry_micros_ + 1'000'000);
  // A timer still due after the pass could not act (e.g. a checkpoint sync
  // still running, a frozen test clock): look again a poll interval later
  // rather than spin.
  wait = std::min(wait, next > now ? absl::Microseconds(next - now) : poll);
  return std::clamp(wait, absl::Milliseconds(1), safety);
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
      if ((it != active_.end() && it->second->phase == Active::Phase::kLaunching) ||
          direct_.count(*id) > 0) {
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
  for (auto& [id, a] : active_) PollJob(id, *a);
}

void JobService::PollJob(const std::string& id, Active& job) {
  Active* a = &job;
  if (a->phase != Active::Phase::kRunning) return;
  TailLog(*a, false);
  if (a->handle.id.empty()) return;
  SyncCheckpoints(*a);
  auto polled = substrate_->Poll(a->handle);
  std::optional<ExitInfo> exit;
  if (!polled.ok()) {
    StatusCode code = polled.status().code();
    if (code != StatusCode::kNotFound && code != StatusCode::kInvalidArgument) {
      LogWarn("poll failed", {{"job", id}, {"error", std::string(polled.status().message())}});
      return;
    }
    exit = ExitInfo{};
    exit->kind = ExitKind::kLost;
    exit->message = "the substrate no longer knows the job";
  } else if (*polled) {
    exit = **polled;
  }
  if (!exit) return;
  a->phase = Active::Phase::kFinishing;
  a->end_seen_micros = clock_.MonotonicMicros();
  a->end_seen_wall_micros = clock_.NowMicros();
  Dispatch([this, a, exit = *std::move(exit)] {
    TailLog(*a, true);
    Finish(*a, exit);
    Completed(a->record.id, /*ended=*/true);
  });
}

void JobService::Schedule() {
  const double capacity = substrate_->capacity_cpus();
  constexpr size_t kBatch = 64;
  uint64_t gen;
  {
    absl::MutexLock lock(&mu_);
    if (held_cpus_ >= capacity) return;
    gen = backlog_gen_;
  }
  auto pending = jobs_->ListPendingCpus(kBatch);
  if (!pending.ok()) {
    LogWarn("cannot list pending jobs", {{"error", std::string(pending.status().message())}});
    return;
  }
  bool all = pending->size() < kBatch;
  for (const JobStore::PendingJob& p : *pending) {
    // Handed to a worker already (its claim may not have landed yet), or
    // being finalized for a retry.
    if (active_.count(p.id) > 0) continue;
    auto a = std::make_unique<Active>();
    {
      absl::MutexLock lock(&mu_);
      if (direct_.count(p.id) > 0) continue;  // Submit launches it
      // Strict FIFO: the head waits for room rather than being overtaken.
      if (held_cpus_ + p.cpus > capacity + 1e-9) {
        all = false;
        break;
      }
      held_cpus_ += p.cpus;
    }
    a->phase = Active::Phase::kLaunching;
    a->record.id = p.id;  // the rest arrives with the claim (StartJob)
    a->cpus = p.cpus;
    Active* job = a.get();
    active_[p.id] = std::move(a);
    Dispatch([this, job] { Completed(job->record.id, StartJob(*job)); });
  }
  // Everything Pending is handed over, and no submit queued one meanwhile
  // (nor is one still inserting a job this pass could not see): the next
  // submits may launch their jobs themselves.
  absl::MutexLock lock(&mu_);
  if (all && backlog_gen_ == gen && backlog_inserting_ == 0) backlog_ = false;
}
}  // namespace tandem::compute::jobs
