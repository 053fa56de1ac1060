#include "serving/fleet/autoscaler.h"

#include <algorithm>
#include <cmath>

namespace tandem::serving::fleet {

Autoscaler::Autoscaler(AutoscalerOptions options, const Clock& clock)
    : options_(options), clock_(clock) {}

int Autoscaler::RawDesired(const AutoscalerOptions& o, int current, double observed) {
  int desired = current;
  if (current <= 0) {
    desired = observed > 0 ? 1 : 0;
  } else if (o.target > 0) {
    double ratio = observed / o.target;
    if (std::abs(ratio - 1.0) > o.tolerance) {
      desired = static_cast<int>(std::ceil(current * ratio - 1e-9));
    }
  }
  return std::clamp(desired, o.min_replicas, std::max(o.min_replicas, o.max_replicas));
}

int Autoscaler::Recommend(int current, double observed) {
  int64_t now = clock_.MonotonicMicros();
  int raw = RawDesired(options_, current, observed);
  // The first call counts the running replicas as a recent recommendation,
  // so a fresh supervisor does not scale down at once.
  if (!seeded_) {
    seeded_ = true;
    history_.emplace_back(now, current);
  }
  history_.emplace_back(now, raw);
  while (!history_.empty() && history_.front().first < now - options_.stabilization_us) {
    history_.pop_front();
  }
  int best = raw;
  for (const auto& [t, r] : history_) best = std::max(best, r);
  // Scale-up is immediate; scale-down never below the window's maximum, and
  // never above what is running now unless the raw rule asks for more.
  if (raw >= current) return raw;
  return std::min(best, current);
}

}  // namespace tandem::serving::fleet
