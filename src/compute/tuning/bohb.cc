#include "compute/tuning/bohb.h"

#include <cmath>

namespace tandem::compute::tuning {

BohbSampler::BohbSampler(std::vector<ParameterRange> ranges, uint64_t seed, BohbOptions options)
    : ranges_(std::move(ranges)), seed_(seed), o_(options) {
  if (o_.min_points <= 0) o_.min_points = static_cast<int>(ranges_.size()) + 2;
  random_ = MakeRandomSampler(ranges_, seed_);
  tpe_ = MakeTpeSampler(ranges_, seed_, o_.tpe);
}

int BohbSampler::ModelRung(int64_t config,
                           const std::vector<std::vector<Observation>>& by_rung) const {
  // Its own stream (seed, config), apart from the samplers' draws.
  Rng coin(seed_ ^ 0xB0B5EEDULL, static_cast<uint64_t>(config));
  if (coin.Uniform() < o_.random_fraction) return -1;
  for (int k = static_cast<int>(by_rung.size()) - 1; k >= 0; --k) {
    int finite = 0;
    for (const auto& x : by_rung[k]) finite += std::isfinite(x.loss) ? 1 : 0;
    if (finite >= o_.min_points) return k;
  }
  return -1;
}

StatusOr<Params> BohbSampler::Suggest(int64_t config,
                                      const std::vector<std::vector<Observation>>& by_rung) {
  int k = ModelRung(config, by_rung);
  if (k < 0) return random_->Suggest(config, {});
  return tpe_->Suggest(config, by_rung[k]);
}

}  // namespace tandem::compute::tuning
