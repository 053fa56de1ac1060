#include "compute/tuning/tpe.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

namespace tandem::compute::tuning {
namespace {

constexpr double kLogSqrt2Pi = 0.91893853320467274178;

double Phi(double z) { return 0.5 * std::erfc(-z / std::sqrt(2.0)); }

double LogSumExp(const std::vector<double>& v) {
  double m = *std::max_element(v.begin(), v.end());
  if (!std::isfinite(m)) return m;
  double s = 0;
  for (double x : v) s += std::exp(x - m);
  return m + std::log(s);
}

// A mixture of Gaussians truncated to [0, 1] with equal weights.
class Parzen {
 public:
  explicit Parzen(std::vector<double> points) {
    mu_ = std::move(points);
    mu_.push_back(0.5);  // the prior
    size_t n = mu_.size();
    std::vector<size_t> order(n);
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(),
                     [&](size_t a, size_t b) { return mu_[a] < mu_[b]; });
    double min_sigma = 1.0 / std::min(100.0, static_cast<double>(n));
    sigma_.assign(n, 1.0);
    for (size_t k = 0; k < n; ++k) {
      size_t i = order[k];
      double left = k == 0 ? mu_[i] : mu_[i] - mu_[order[k - 1]];
      double right = k + 1 == n ? 1 - mu_[i] : mu_[order[k + 1]] - mu_[i];
      sigma_[i] = std::clamp(std::max(left, right), min_sigma, 1.0);
    }
    sigma_.back() = 1.0;
    for (size_t i = 0; i < n; ++i) {
      double z = Phi((1 - mu_[i]) / sigma_[i]) - Phi((0 - mu_[i]) / sigma_[i]);
      log_norm_.push_back(std::log(std::max(z, 1e-300)) + std::log(static_cast<double>(n)));
    }
  }

  double Sample(Rng& rng) const {
    size_t i = rng.Below(mu_.size());
    for (int tries = 0; tries < 100; ++tries) {
      double x = mu_[i] + sigma_[i] * rng.Normal();
      if (x >= 0 && x <= 1) return x;
    }
    return std::clamp(mu_[i], 0.0, 1.0);
  }

  double LogPdf(double x) const {
    std::vector<double> terms(mu_.size());
    for (size_t i = 0; i < mu_.size(); ++i) {
      double z = (x - mu_[i]) / sigma_[i];
      terms[i] = -0.5 * z * z - kLogSqrt2Pi - std::log(sigma_[i]) - log_norm_[i];
    }
    return LogSumExp(terms);
  }

 private:
  std::vector<double> mu_, sigma_, log_norm_;
};

class TpeSampler : public Sampler {
 public:
  TpeSampler(std::vector<ParameterRange> ranges, uint64_t seed, TpeOptions o)
      : ranges_(std::move(ranges)), seed_(seed), o_(o) {}

  StatusOr<Params> Suggest(int64_t index, const std::vector<Observation>& history) override {
    Rng rng(seed_, static_cast<uint64_t>(index));
    std::vector<const Observation*> obs;
    for (const auto& h : history) {
      if (std::isfinite(h.loss)) obs.push_back(&h);
    }
    Params p;
    if (static_cast<int>(obs.size()) < o_.startup_trials) {
      for (const auto& r : ranges_) p[r.name] = FromUnit(r, rng.Uniform());
      return p;
    }
    std::stable_sort(obs.begin(), obs.end(),
                     [](const Observation* a, const Observation* b) { return a->loss < b->loss; });
    size_t n_good = static_cast<size_t>(std::ceil(o_.gamma * static_cast<double>(obs.size())));
    n_good = std::clamp<size_t>(n_good, 1, static_cast<size_t>(o_.max_good));
    for (const auto& r : ranges_) {
      std::vector<double> good, bad;
      for (size_t i = 0; i < obs.size(); ++i) {
        auto it = obs[i]->params.find(r.name);
        if (it == obs[i]->params.end()) continue;
        double u = ToUnit(r, it->second);
        if (u < 0) continue;
        (i < n_good ? good : bad).push_back(u);
      }
      p[r.name] = r.type == ParamType::kCategorical ? SuggestCategorical(r, good, bad, rng)
                                                    : SuggestNumeric(r, good, bad, rng);
    }
    return p;
  }

 private:
  Json SuggestNumeric(const ParameterRange& r, std::vector<double> good, std::vector<double> bad,
                      Rng& rng) const {
    Parzen l(std::move(good)), g(std::move(bad));
    double best_u = 0, best_score = -std::numeric_limits<double>::infinity();
    for (int c = 0; c < o_.candidates; ++c) {
      double u = l.Sample(rng);
      double score = l.LogPdf(u) - g.LogPdf(u);
      if (score > best_score) best_score = score, best_u = u;
    }
    return FromUnit(r, best_u);
  }

  Json SuggestCategorical(const ParameterRange& r, const std::vector<double>& good,
                          const std::vector<double>& bad, Rng& rng) const {
    size_t k = r.values.size();
    auto weights = [&](const std::vector<double>& pts) {
      std::vector<double> w(k, 1.0 / static_cast<double>(k));  // prior weight 1 in total
      for (double u : pts) w[std::min(k - 1, static_cast<size_t>(u * k))] += 1;
      double total = std::accumulate(w.begin(), w.end(), 0.0);
      for (double& x : w) x /= total;
      return w;
    };
    std::vector<double> l = weights(good), g = weights(bad);
    size_t best = 0;
    double best_score = -std::numeric_limits<double>::infinity();
    for (int c = 0; c < o_.candidates; ++c) {
      double u = rng.Uniform(), acc = 0;
      size_t pick = k - 1;
      for (size_t i = 0; i < k; ++i) {
        acc += l[i];
        if (u < acc) {
          pick = i;
          break;
        }
      }
      double score = std::log(l[pick]) - std::log(g[pick]);
      if (score > best_score) best_score = score, best = pick;
    }
    return r.values[best];
  }

  std::vector<ParameterRange> ranges_;
  uint64_t seed_;
  TpeOptions o_;
};

}  // namespace

std::unique_ptr<Sampler> MakeTpeSampler(std::vector<ParameterRange> ranges, uint64_t seed,
                                        TpeOptions options) {
  return std::make_unique<TpeSampler>(std::move(ranges), seed, options);
}

}  // namespace tandem::compute::tuning
