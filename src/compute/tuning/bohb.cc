#include "compute/tuning/bohb.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <utility>

namespace tandem::compute::tuning {

BohbSampler::BohbSampler(std::vector<ParameterRange> ranges, uint64_t seed, BohbOptions options)
    : ranges_(std::move(ranges)), seed_(seed), o_(options) {
  const int dims = static_cast<int>(ranges_.size());
  if (o_.tpe.min_good <= 0) o_.tpe.min_good = dims + 1;
  if (o_.min_points <= 0) o_.min_points = o_.tpe.min_good + dims + 1;
  random_ = MakeRandomSampler(ranges_, seed_);
  tpe_ = MakeTpeSampler(ranges_, seed_, o_.tpe);
}

int BohbSampler::ModelRung(int64_t config,
                           const std::vector<std::vector<Observation>>& by_rung) const {
  // Its own stream (seed, config), apart from the samplers' draws.
  Rng coin(seed_ ^ 0xB0B5EEDULL, static_cast<uint64_t>(config));
  if (coin.Uniform() < o_.random_fraction) return -1;
  if (o_.pool_rungs) {
    std::set<Params> configs;
    int top = -1;
    for (int k = 0; k < static_cast<int>(by_rung.size()); ++k) {
      for (const auto& x : by_rung[k]) {
        if (!std::isfinite(x.loss)) continue;
        configs.insert(x.params);
        top = k;
      }
    }
    return static_cast<int>(configs.size()) >= o_.min_points ? top : -1;
  }
  for (int k = static_cast<int>(by_rung.size()) - 1; k >= 0; --k) {
    int finite = 0;
    for (const auto& x : by_rung[k]) finite += std::isfinite(x.loss) ? 1 : 0;
    if (finite >= o_.min_points) return k;
  }
  return -1;
}

Params BohbSampler::LatinHypercubePoint(int64_t config) const {
  const uint64_t n = static_cast<uint64_t>(o_.initial_design);
  Rng jitter(seed_ ^ 0x1A71'4C0BULL, static_cast<uint64_t>(config));
  Params p;
  for (size_t j = 0; j < ranges_.size(); ++j) {
    // Parameter j's strata, shuffled (Fisher-Yates) by its own stream.
    Rng shuffle(seed_ ^ 0x57A7'A000ULL, j);
    std::vector<uint64_t> strata(n);
    for (uint64_t i = 0; i < n; ++i) strata[i] = i;
    for (uint64_t i = n; i > 1; --i) std::swap(strata[i - 1], strata[shuffle.Below(i)]);
    double u = (static_cast<double>(strata[static_cast<size_t>(config)]) + jitter.Uniform()) /
               static_cast<double>(n);
    p[ranges_[j].name] = FromUnit(ranges_[j], std::min(u, 1.0));
  }
  return p;
}

StatusOr<Params> BohbSampler::Suggest(int64_t config,
                                      const std::vector<std::vector<Observation>>& by_rung) {
  int k = ModelRung(config, by_rung);
  if (k < 0 && config >= 0 && config < o_.initial_design) return LatinHypercubePoint(config);
  if (k < 0) return random_->Suggest(config, {});
  if (!o_.pool_rungs) return tpe_->Suggest(config, by_rung[k]);
  // Each configuration at the highest rung it reached, ranked (rung
  // descending, loss ascending); the TPE sees the rank as the loss.
  std::map<Params, std::pair<int, double>> reached;
  for (int r = 0; r < static_cast<int>(by_rung.size()); ++r) {
    for (const auto& x : by_rung[r]) {
      if (std::isfinite(x.loss)) reached[x.params] = {r, x.loss};
    }
  }
  std::vector<std::pair<std::pair<int, double>, const Params*>> order;
  for (const auto& [params, at] : reached) order.push_back({{-at.first, at.second}, &params});
  std::stable_sort(order.begin(), order.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<Observation> ranked;
  for (size_t i = 0; i < order.size(); ++i) {
    ranked.push_back({*order[i].second, static_cast<double>(i)});
  }
  return tpe_->Suggest(config, ranked);
}

}  // namespace tandem::compute::tuning
