// The HPA rule for one deployment: desired = ceil(current * observed / target)
// clamped to [min, max], unchanged while |observed/target - 1| <= tolerance,
// and scale-down stabilized: the result is the highest recommendation seen
// within the last `stabilization_us` (scale-up applies at once).
//
// Thread-safety: not thread-safe; one supervisor loop owns it.
#pragma once

#include <cstdint>
#include <deque>
#include <utility>

#include "common/clock.h"

namespace tandem::serving::fleet {

struct AutoscalerOptions {
  int min_replicas = 1;
  int max_replicas = 1;
  double target = 1;  // in-flight requests per replica (> 0)
  double tolerance = 0.1;
  int64_t stabilization_us = 300'000'000;
};

class Autoscaler {
 public:
  // `clock` must outlive the autoscaler.
  Autoscaler(AutoscalerOptions options, const Clock& clock);

  // The replica count to run given `current` replicas whose mean in-flight
  // requests per replica is `observed`.
  int Recommend(int current, double observed);

  // The raw HPA rule without stabilization (exposed for tests).
  static int RawDesired(const AutoscalerOptions& o, int current, double observed);

 private:
  AutoscalerOptions options_;
  const Clock& clock_;
  std::deque<std::pair<int64_t, int>> history_;
  bool seeded_ = false;  // (time, raw recommendation)
};

}  // namespace tandem::serving::fleet
