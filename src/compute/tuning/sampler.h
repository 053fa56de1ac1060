// Samplers suggest the next configuration of a tuning job from the
// observations so far. They are pure and deterministic: a suggestion depends
// only on (seed, trial index, observations), so a restarted tuning job
// suggests exactly what it would have.
//
//   Random   independent uniform draws in each range's scaled unit space
//   Grid     the cartesian product of Categorical values and Integer ranges,
//            enumerated in order (last range fastest); OutOfRange once
//            exhausted; InvalidArgument for a Continuous range
//   TPE      Tree-structured Parzen Estimator (compute/tuning/tpe.h)
//
// Thread-compatible: one caller at a time.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "common/status.h"
#include "compute/tuning/space.h"
#include "compute/tuning/spec.h"

namespace tandem::compute::tuning {

class Sampler {
 public:
  virtual ~Sampler() = default;
  // The configuration of trial `index` (0-based) given the finished trials.
  virtual StatusOr<Params> Suggest(int64_t index, const std::vector<Observation>& history) = 0;
};

std::unique_ptr<Sampler> MakeRandomSampler(std::vector<ParameterRange> ranges, uint64_t seed);

// InvalidArgument naming a Continuous range, or if the grid exceeds
// `max_points` configurations.
StatusOr<std::unique_ptr<Sampler>> MakeGridSampler(std::vector<ParameterRange> ranges,
                                                   int64_t max_points = 100'000);
// Number of configurations of a grid (ranges as validated by MakeGridSampler).
int64_t GridSize(const std::vector<ParameterRange>& ranges);

// The sampler for a spec's strategy other than Hyperband (whose new
// configurations come from BohbSampler, compute/tuning/bohb.h, or at random).
StatusOr<std::unique_ptr<Sampler>> MakeSampler(const TuningSpec& spec);

}  // namespace tandem::compute::tuning
