// A hyperparameter tuning job spec (YAML or JSON), modelled on SageMaker's
// automatic model tuning (CreateHyperParameterTuningJob):
//
//   name: churn-tune
//   objective: {metric: "validation:logloss", type: Minimize}
//   strategy: Bayesian            # Random | Grid | Bayesian (TPE) | Hyperband
//   parameter_ranges:
//     - {name: eta, type: Continuous, min: 0.01, max: 0.5, scaling: Logarithmic}
//     - {name: max_depth, type: Integer, min: 2, max: 10}
//     - {name: booster, type: Categorical, values: [gbtree, dart]}
//   hyperband: {min_resource: 9, max_resource: 243, reduction_factor: 3,
//               resource_param: num_round,       # strategy Hyperband only
//               sampler: BOHB}                   # BOHB | Random (new configurations)
//   max_jobs: 30
//   max_parallel_jobs: 3
//   early_stopping: Auto          # Off | Auto (median stopping rule)
//   seed: 42
//   warm_start: {parents: [churn-tune-1]}
//   register: {model: churn, alias: challenger}   # the best trial's model
//   training_job: {...}           # a job spec (compute/jobs/spec.h) without `name`
//
// Validation (FromJson): every error is InvalidArgument naming the field's
// full path ("unknown field 'parameter_ranges[1].scale'", "'max_jobs' must
// be an integer between 1 and 500, got a string"); errors inside the job
// template are prefixed "training_job: ".
//   name         as a job name (1..63 of [A-Za-z0-9-]); optional (assigned)
//   objective    metric must be one of training_job.metric_definitions
//   ranges       1..30, unique names, not the resource_param; Integer/Continuous
//                need min < max (Integer may have min == max); Logarithmic needs
//                min > 0; ReverseLogarithmic is Continuous only with
//                0 <= min < max < 1; Categorical 1..30 scalar values.
//                Auto scaling = Logarithmic when min > 0 and max/min >= 100,
//                else Linear (resolved at parse time).
//   Hyperband    1 <= min_resource < max_resource (max_resource >= 2; min_resource
//                default max_resource / reduction_factor^2, at least 1: three
//                rungs, e.g. 3, 9, 27), reduction_factor 2..10 (default 3),
//                resource_param a hyperparameter name (default num_round),
//                sampler BOHB (default: compute/tuning/bohb.h) | Random (ASHA)
//   max_jobs 1..500, max_parallel_jobs 1..100, seed 0..2^31-1 (default 0)
//   warm_start.parents 1..5 tuning job names
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/json.h"
#include "common/status.h"
#include "compute/jobs/spec.h"

namespace tandem::compute::tuning {

enum class ParamType { kInteger, kContinuous, kCategorical };
enum class Scaling { kAuto, kLinear, kLogarithmic, kReverseLogarithmic };
enum class TuningStrategy { kRandom, kGrid, kBayesian, kHyperband };

std::string_view ParamTypeName(ParamType t);
std::string_view ScalingName(Scaling s);
std::string_view TuningStrategyName(TuningStrategy s);

struct ParameterRange {
  std::string name;
  ParamType type = ParamType::kContinuous;
  double min = 0, max = 1;             // Integer / Continuous
  Scaling scaling = Scaling::kLinear;  // never kAuto after parsing
  std::vector<Json> values;            // Categorical: scalars
  bool operator==(const ParameterRange&) const = default;
};

struct TuningObjective {
  std::string metric;
  bool maximize = false;
  bool operator==(const TuningObjective&) const = default;
};

// How strategy Hyperband samples new configurations.
enum class HyperbandSampler { kBohb, kRandom };

struct HyperbandSpec {
  int64_t min_resource = 1;  // parsed default: max_resource / reduction_factor^2
  int64_t max_resource = 81;
  int reduction_factor = 3;
  std::string resource_param = "num_round";
  HyperbandSampler sampler = HyperbandSampler::kBohb;
  bool operator==(const HyperbandSpec&) const = default;
};

struct TuningSpec {
  std::string name;
  TuningObjective objective;
  TuningStrategy strategy = TuningStrategy::kBayesian;
  std::vector<ParameterRange> ranges;
  HyperbandSpec hyperband;  // used by kHyperband only
  int max_jobs = 10;
  int max_parallel_jobs = 1;
  bool early_stopping = false;  // Auto: the median stopping rule
  uint64_t seed = 0;
  std::vector<std::string> warm_start_parents;
  std::optional<jobs::RegisterSpec> register_best;  // key `register`
  jobs::JobSpec training_job;                       // the template; name and register are ignored

  bool operator==(const TuningSpec&) const = default;

  Json ToJson() const;  // FromJson(ToJson()) == *this
  static StatusOr<TuningSpec> FromJson(const Json& j);
  static StatusOr<TuningSpec> Parse(std::string_view text);  // YAML or JSON
};

// The checkpoint prefix (jobs::CheckpointSpec::key_prefix) of the training
// jobs of configuration `config`: every Hyperband trial of a configuration
// shares it, so a promotion from r to eta*r resources resumes from what the
// configuration already trained. `<training_job.checkpoint.key_prefix>/config-<n>`
// when the template names a prefix, else for Hyperband the team's own
// `teams/<team>/tuning/<tuning name>/config-<n>`; nullopt otherwise (other
// strategies without a template prefix: no checkpoints).
std::optional<std::string> TrialCheckpointPrefix(const TuningSpec& spec,
                                                 const std::string& tuning_name, int64_t config);

}  // namespace tandem::compute::tuning
