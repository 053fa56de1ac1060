// Tree-structured Parzen Estimator (Bergstra et al. 2011) with the rules of
// Optuna's TPESampler:
//
//  - fewer than `startup_trials` observations: random suggestions;
//  - else observations sorted by loss are split at n_good = min(ceil(gamma *
//    n), max_good) (at least `min_good`, default 1) into good and bad (BOHB
//    sets min_good to the number of parameters + 1, its min_points_in_model,
//    so l(x) is fitted on enough points to span every dimension); a Parzen density l(x) over
//    the good and g(x) over the bad ones: a mixture, with equal weights, of
//    one kernel per observation plus a prior kernel. Numeric ranges live in
//    the unit interval of their scaling (Logarithmic ranges are modelled in
//    log space; an Integer's cell is [x, x + 1)); a numeric kernel is a
//    Gaussian truncated to [0, 1], the prior's centred with sigma 1; a
//    Categorical kernel puts 1 + 1/(m + 1) on its value and 1/(m + 1) on each
//    other (m kernels without the prior; normalised), the prior is uniform;
//  - `candidates` draws from l(x) (its bandwidths widened by
//    `bandwidth_factor`, BOHB's rule; 1 = Optuna's); the one maximising
//    l(x) / g(x) wins.
//
// Independent (default): one mixture per parameter; a kernel's bandwidth is
// the larger gap to its sorted neighbours (the prior's centre counts, the
// ends of the interval do not: the outermost points take their one inner
// gap), clipped to [1 / min(100, m + 2), 1] ("magic clip").
// Multivariate (as Optuna's multivariate=True, the BOHB paper's KDE): one
// mixture over all parameters, so a kernel keeps a good configuration's
// values together; bandwidth 0.2 * m^(-1/(d + 4)) (Scott's rule, d
// parameters), clipped the same way.
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
  int min_good = 1;  // n_good is at least this (BOHB: parameters + 1), at most n - 1
  int candidates = 24;
  bool multivariate = false;
  // Candidates are drawn from l(x) with its numeric bandwidths this many
  // times wider (at most 1), then scored on l(x) / g(x) unwidened (BOHB's
  // bandwidth_factor, 3 there); 1 = draws from l(x) itself (Optuna).
  double bandwidth_factor = 1;
  // Multivariate: bandwidths by the normal reference rule (1.06 * the
  // points' standard deviation * m^(-1/(d + 4)), at least 1e-3: BOHB's KDE)
  // instead of Scott's fixed 0.2 * m^(-1/(d + 4)).
  bool normal_reference = false;
};

std::unique_ptr<Sampler> MakeTpeSampler(std::vector<ParameterRange> ranges, uint64_t seed,
                                        TpeOptions options = {});

}  // namespace tandem::compute::tuning
