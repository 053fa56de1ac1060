// Tree-structured Parzen Estimator (Bergstra et al. 2011), independent per
// parameter as Optuna's default TPESampler:
//
//  - fewer than `startup_trials` observations: random suggestions;
//  - else observations sorted by loss are split at n_good = min(ceil(gamma *
//    n), 25) (at least 1) into good and bad; per parameter, a Parzen density
//    l(x) over the good and g(x) over the bad ones: for Integer/Continuous a
//    mixture of Gaussians truncated to the unit interval of the range's
//    scaling (so Logarithmic ranges are modelled in log space), one per point
//    plus a wide prior, bandwidth the larger gap to a neighbour clipped to
//    [1 / min(100, n + 1), 1]; for Categorical, smoothed frequencies;
//  - `candidates` draws from l(x); the one maximising l(x) / g(x) wins.
//
// Deterministic for (seed, trial index, observations).
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "compute/tuning/sampler.h"

namespace tandem::compute::tuning {

struct TpeOptions {
  int startup_trials = 10;
  double gamma = 0.1;
  int max_good = 25;
  int candidates = 24;
};

std::unique_ptr<Sampler> MakeTpeSampler(std::vector<ParameterRange> ranges, uint64_t seed,
                                        TpeOptions options = {});

}  // namespace tandem::compute::tuning
