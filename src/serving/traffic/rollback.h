// The canary's automatic rollback rule over a sliding window of candidate
// requests: fires once when, over the last `window_seconds` (by the injected
// clock), at least `min_requests` requests were seen and the error rate
// exceeds `max_error_rate` or the p99 latency exceeds `max_p99_ms` (> 0).
// The window keeps at most kMaxSamples requests (the oldest are dropped).
//
// Thread-safety: every method is thread-safe.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <string>

#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "common/json.h"
#include "serving/traffic/policy.h"

namespace tandem::serving::traffic {

struct WindowStats {
  int64_t requests = 0;
  int64_t errors = 0;
  double error_rate = 0;
  double p99_ms = 0;  // exact over the window's samples
  Json ToJson() const;
};

struct RollbackDecision {
  std::string reason;  // e.g. "error rate 0.20 > 0.05 over 120 requests in 60 s"
  WindowStats window;
};

class RollbackMonitor {
 public:
  static constexpr size_t kMaxSamples = 100'000;
  // `clock` is not owned and must outlive the monitor.
  RollbackMonitor(RollbackRule rule, Clock& clock);

  // Records one candidate request. Returns the decision the first time the
  // rule fires (never again afterwards). The error rate is checked on every
  // call; the p99 every max(16, window size / 64) calls or once a second.
  std::optional<RollbackDecision> Record(bool ok, int64_t latency_us);
  // Checks the rule now (latches like Record).
  std::optional<RollbackDecision> Evaluate();
  WindowStats Window();
  bool fired() const;
  const RollbackRule& rule() const { return rule_; }

 private:
  struct Sample {
    int64_t at_us;
    int64_t latency_us;
    bool ok;
  };
  void PruneLocked(int64_t now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  WindowStats StatsLocked(bool with_p99) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::optional<RollbackDecision> CheckLocked(bool with_p99) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const RollbackRule rule_;
  Clock& clock_;
  mutable absl::Mutex mu_;
  std::deque<Sample> samples_ ABSL_GUARDED_BY(mu_);  // oldest first
  int64_t errors_ ABSL_GUARDED_BY(mu_) = 0;          // errors among samples_
  int64_t since_p99_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t last_p99_us_ ABSL_GUARDED_BY(mu_) = 0;
  bool fired_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace tandem::serving::traffic
