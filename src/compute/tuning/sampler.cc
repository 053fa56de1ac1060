#include "compute/tuning/sampler.h"

#include "compute/tuning/tpe.h"

namespace tandem::compute::tuning {
namespace {

class RandomSampler : public Sampler {
 public:
  RandomSampler(std::vector<ParameterRange> ranges, uint64_t seed)
      : ranges_(std::move(ranges)), seed_(seed) {}

  StatusOr<Params> Suggest(int64_t index, const std::vector<Observation>&) override {
    Rng rng(seed_, static_cast<uint64_t>(index));
    Params p;
    for (const auto& r : ranges_) p[r.name] = FromUnit(r, rng.Uniform());
    return p;
  }

 private:
  std::vector<ParameterRange> ranges_;
  uint64_t seed_;
};

int64_t Points(const ParameterRange& r) {
  return r.type == ParamType::kCategorical ? static_cast<int64_t>(r.values.size())
                                           : static_cast<int64_t>(r.max - r.min) + 1;
}

class GridSampler : public Sampler {
 public:
  explicit GridSampler(std::vector<ParameterRange> ranges) : ranges_(std::move(ranges)) {}

  StatusOr<Params> Suggest(int64_t index, const std::vector<Observation>&) override {
    if (index < 0 || index >= GridSize(ranges_)) {
      return OutOfRangeError("the grid has " + std::to_string(GridSize(ranges_)) +
                             " configurations; all were suggested");
    }
    Params p;
    for (size_t i = ranges_.size(); i-- > 0;) {
      const ParameterRange& r = ranges_[i];
      int64_t n = Points(r), k = index % n;
      index /= n;
      p[r.name] =
          r.type == ParamType::kCategorical ? r.values[k] : Json(static_cast<int64_t>(r.min) + k);
    }
    return p;
  }

 private:
  std::vector<ParameterRange> ranges_;
};

}  // namespace

std::unique_ptr<Sampler> MakeRandomSampler(std::vector<ParameterRange> ranges, uint64_t seed) {
  return std::make_unique<RandomSampler>(std::move(ranges), seed);
}

int64_t GridSize(const std::vector<ParameterRange>& ranges) {
  int64_t n = 1;
  for (const auto& r : ranges) n *= Points(r);
  return n;
}

StatusOr<std::unique_ptr<Sampler>> MakeGridSampler(std::vector<ParameterRange> ranges,
                                                   int64_t max_points) {
  int64_t n = 1;
  for (const auto& r : ranges) {
    if (r.type == ParamType::kContinuous) {
      return InvalidArgumentError("parameter range '" + r.name +
                                  "' is Continuous: a grid needs Integer or Categorical ranges");
    }
    n *= Points(r);
    if (n > max_points) {
      return InvalidArgumentError("the grid has more than " + std::to_string(max_points) +
                                  " configurations (at range '" + r.name + "')");
    }
  }
  std::unique_ptr<Sampler> s = std::make_unique<GridSampler>(std::move(ranges));
  return s;
}

StatusOr<std::unique_ptr<Sampler>> MakeSampler(const TuningSpec& spec) {
  switch (spec.strategy) {
    case TuningStrategy::kGrid:
      return MakeGridSampler(spec.ranges);
    case TuningStrategy::kBayesian:
      return MakeTpeSampler(spec.ranges, spec.seed);
    default:
      return MakeRandomSampler(spec.ranges, spec.seed);
  }
}

}  // namespace tandem::compute::tuning
