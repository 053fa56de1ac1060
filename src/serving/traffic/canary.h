// Canary traffic: a weight splits live requests between the primary and a
// candidate version, deterministically (request n goes to the candidate iff
// TakeShare(n, weight)), with per-variant metrics (requests, errors, latency)
// and the automatic rollback rule on the candidate's requests. When the rule
// fires the weight becomes 0 (100% primary) and the reason is kept.
//
// Thread-safety: every method is thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>

#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "common/json.h"
#include "serving/engine/metrics.h"
#include "serving/traffic/policy.h"
#include "serving/traffic/rollback.h"

namespace tandem::serving::traffic {

enum class Variant { kPrimary = 0, kCandidate = 1 };
std::string_view VariantName(Variant v);  // "primary" | "candidate"

struct VariantMetrics {
  VariantMetrics();
  std::atomic<uint64_t> requests{0};
  std::atomic<uint64_t> errors{0};
  engine::Histogram latency_seconds;
};

class CanarySplit {
 public:
  // `clock` (for the rollback window) is not owned and must outlive it.
  CanarySplit(CanaryPolicy policy, Clock& clock);

  // The variant for the next request (counts nothing yet).
  Variant Choose();
  // Records a finished request. For the candidate, feeds the rollback rule;
  // returns its decision the one time it fires (the weight is 0 by then).
  std::optional<RollbackDecision> Record(Variant v, bool ok, int64_t latency_us);

  double weight() const { return weight_.load(std::memory_order_relaxed); }
  // Sets the weight by hand (clamped to 0..1). Does not re-arm a rollback
  // rule that already fired.
  void SetWeight(double weight);
  bool rolled_back() const;
  std::string rollback_reason() const;
  const VariantMetrics& metrics(Variant v) const { return metrics_[static_cast<int>(v)]; }
  const CanaryPolicy& policy() const { return policy_; }

  Json Stats();
  // Prometheus families tandem_canary_* labelled with `labels` and variant.
  void Render(std::string& out, const std::string& labels) const;

 private:
  const CanaryPolicy policy_;
  std::atomic<double> weight_;
  std::atomic<uint64_t> counter_{0};
  VariantMetrics metrics_[2];
  RollbackMonitor monitor_;
  mutable absl::Mutex mu_;
  std::string reason_ ABSL_GUARDED_BY(mu_);  // non-empty once rolled back
  int64_t rolled_back_at_us_ ABSL_GUARDED_BY(mu_) = 0;
  Clock& clock_;
};

}  // namespace tandem::serving::traffic
