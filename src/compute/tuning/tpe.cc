#include "compute/tuning/tpe.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

namespace tandem::compute::tuning {
namespace {

constexpr double kLogSqrt2Pi = 0.91893853320467274178;

double Phi(double z) { return 0.5 * std::erfc(-z / std::sqrt(2.0)); }

// One coordinate of the unit cube: numeric (k == 0) or a Categorical with k
// values (coordinate (i + 0.5) / k for value i).
struct Dim {
  size_t k = 0;
};

size_t CategoryOf(const Dim& d, double u) {
  return std::min(d.k - 1, static_cast<size_t>(std::max(0.0, u) * static_cast<double>(d.k)));
}

// Equal-weight mixture of product kernels over `dims`; the last kernel is the
// prior. `points[i][j]` is observation i's coordinate j.
class Mixture {
 public:
  // normal_reference (multivariate only): each dimension's bandwidth is
  // 1.06 * the points' standard deviation * m^(-1/(d + 4)) (statsmodels'
  // normal reference rule, BOHB's KDE), at least 1e-3, instead of Scott's
  // fixed 0.2 * m^(-1/(d + 4)) with the magic clip.
  Mixture(std::vector<Dim> dims, const std::vector<std::vector<double>>& points, bool multivariate,
          bool normal_reference = false)
      : dims_(std::move(dims)) {
    size_t m = points.size(), kernels = m + 1, d = dims_.size();
    mu_.assign(kernels, std::vector<double>(d, 0.5));
    sigma_.assign(kernels, std::vector<double>(d, 1.0));
    log_z_.assign(kernels, std::vector<double>(d, 0.0));
    log_p_.assign(kernels, std::vector<std::vector<double>>(d));
    for (size_t i = 0; i < m; ++i) mu_[i] = points[i];
    double min_sigma = 1.0 / std::min(100.0, static_cast<double>(kernels) + 1);
    double scott = 0.2 * std::pow(static_cast<double>(std::max<size_t>(m, 1)),
                                  -1.0 / (static_cast<double>(d) + 4));
    for (size_t j = 0; j < d; ++j) {
      if (dims_[j].k > 0) {
        SetCategorical(j, m);
        continue;
      }
      double floor = min_sigma;
      if (multivariate && normal_reference) {
        double mean = 0, var = 0;
        for (size_t i = 0; i < m; ++i) mean += mu_[i][j] / static_cast<double>(m);
        for (size_t i = 0; i < m; ++i) var += (mu_[i][j] - mean) * (mu_[i][j] - mean);
        double sd = m > 0 ? std::sqrt(var / static_cast<double>(m)) : 1.0;
        for (size_t i = 0; i < m; ++i) sigma_[i][j] = 1.06 * sd * scott / 0.2;
        floor = 1e-3;
      } else if (multivariate) {
        for (size_t i = 0; i < m; ++i) sigma_[i][j] = scott;
      } else {
        SetNeighbourBandwidths(j);
      }
      for (size_t i = 0; i < kernels; ++i) {
        sigma_[i][j] = i == m ? 1.0 : std::clamp(sigma_[i][j], floor, 1.0);
        double mu = mu_[i][j], s = sigma_[i][j];
        log_z_[i][j] = std::log(std::max(Phi((1 - mu) / s) - Phi(-mu / s), 1e-300));
      }
    }
  }

  // A draw from the mixture, its numeric kernels `widen` times as wide
  // (BOHB's bandwidth_factor; 1 = the mixture itself).
  std::vector<double> Sample(Rng& rng, double widen = 1) const {
    size_t i = rng.Below(mu_.size());
    std::vector<double> x(dims_.size());
    for (size_t j = 0; j < dims_.size(); ++j) {
      if (dims_[j].k > 0) {
        double u = rng.Uniform(), acc = 0;
        size_t pick = dims_[j].k - 1;
        for (size_t c = 0; c < dims_[j].k; ++c) {
          acc += std::exp(log_p_[i][j][c]);
          if (u < acc) {
            pick = c;
            break;
          }
        }
        x[j] = (static_cast<double>(pick) + 0.5) / static_cast<double>(dims_[j].k);
        continue;
      }
      x[j] = std::clamp(mu_[i][j], 0.0, 1.0);
      for (int tries = 0; tries < 100; ++tries) {
        double v = mu_[i][j] + std::min(1.0, widen * sigma_[i][j]) * rng.Normal();
        if (v >= 0 && v <= 1) {
          x[j] = v;
          break;
        }
      }
    }
    return x;
  }

  double LogPdf(const std::vector<double>& x) const {
    std::vector<double> terms(mu_.size(), 0.0);
    for (size_t i = 0; i < mu_.size(); ++i) {
      for (size_t j = 0; j < dims_.size(); ++j) {
        if (dims_[j].k > 0) {
          terms[i] += log_p_[i][j][CategoryOf(dims_[j], x[j])];
          continue;
        }
        double z = (x[j] - mu_[i][j]) / sigma_[i][j];
        terms[i] += -0.5 * z * z - kLogSqrt2Pi - std::log(sigma_[i][j]) - log_z_[i][j];
      }
    }
    double top = *std::max_element(terms.begin(), terms.end());
    if (!std::isfinite(top)) return top;
    double s = 0;
    for (double t : terms) s += std::exp(t - top);
    return top + std::log(s) - std::log(static_cast<double>(terms.size()));
  }

 private:
  // Optuna's univariate rule: the larger gap to a sorted neighbour (the
  // prior's centre included); the outermost points take their inner gap.
  void SetNeighbourBandwidths(size_t j) {
    size_t n = mu_.size();
    std::vector<size_t> order(n);
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(),
                     [&](size_t a, size_t b) { return mu_[a][j] < mu_[b][j]; });
    for (size_t r = 0; r < n; ++r) {
      double at = mu_[order[r]][j];
      double left = r == 0 ? at : at - mu_[order[r - 1]][j];
      double right = r + 1 == n ? 1 - at : mu_[order[r + 1]][j] - at;
      double s = std::max(left, right);
      if (n >= 2 && r == 0) s = right;
      if (n >= 2 && r + 1 == n) s = left;
      sigma_[order[r]][j] = s;
    }
  }

  void SetCategorical(size_t j, size_t m) {
    size_t k = dims_[j].k;
    double base = 1.0 / static_cast<double>(m + 1);
    for (size_t i = 0; i <= m; ++i) {
      std::vector<double> w(k, base);
      if (i < m) w[CategoryOf(dims_[j], mu_[i][j])] += 1;
      double total = std::accumulate(w.begin(), w.end(), 0.0);
      for (double& v : w) v = std::log(v / total);
      log_p_[i][j] = std::move(w);
    }
  }

  std::vector<Dim> dims_;
  std::vector<std::vector<double>> mu_, sigma_, log_z_;  // [kernel][dim]
  std::vector<std::vector<std::vector<double>>> log_p_;  // [kernel][dim][category]
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
    if (static_cast<int>(obs.size()) < std::max(o_.startup_trials, 1)) {
      for (const auto& r : ranges_) p[r.name] = FromUnit(r, rng.Uniform());
      return p;
    }
    std::stable_sort(obs.begin(), obs.end(),
                     [](const Observation* a, const Observation* b) { return a->loss < b->loss; });
    size_t n_good = static_cast<size_t>(std::ceil(o_.gamma * static_cast<double>(obs.size())));
    n_good = std::clamp<size_t>(n_good, 1, static_cast<size_t>(std::max(o_.max_good, 1)));
    if (o_.min_good > 1 && obs.size() >= 2) {
      // At least min_good good ones, and at least one bad one.
      n_good = std::max(n_good, std::min(static_cast<size_t>(o_.min_good), obs.size() - 1));
    }
    // Unit coordinates; an observation lacking a parameter (or holding a
    // value outside a Categorical's list) is left out of the models that
    // need it.
    std::vector<std::vector<double>> unit(obs.size(), std::vector<double>(ranges_.size(), -1));
    for (size_t i = 0; i < obs.size(); ++i) {
      for (size_t j = 0; j < ranges_.size(); ++j) {
        auto it = obs[i]->params.find(ranges_[j].name);
        if (it != obs[i]->params.end()) unit[i][j] = ToUnit(ranges_[j], it->second);
      }
    }
    std::vector<double> best;
    if (o_.multivariate) {
      std::vector<size_t> all(ranges_.size());
      std::iota(all.begin(), all.end(), 0);
      best = SuggestJoint(all, unit, n_good, rng);
    } else {
      best.resize(ranges_.size());
      for (size_t j = 0; j < ranges_.size(); ++j) best[j] = SuggestJoint({j}, unit, n_good, rng)[0];
    }
    for (size_t j = 0; j < ranges_.size(); ++j) p[ranges_[j].name] = FromUnit(ranges_[j], best[j]);
    return p;
  }

 private:
  // The best of `candidates` draws from l over the coordinates `cols`.
  std::vector<double> SuggestJoint(const std::vector<size_t>& cols,
                                   const std::vector<std::vector<double>>& unit, size_t n_good,
                                   Rng& rng) const {
    std::vector<Dim> dims;
    for (size_t j : cols) {
      dims.push_back({ranges_[j].type == ParamType::kCategorical ? ranges_[j].values.size() : 0});
    }
    std::vector<std::vector<double>> good, bad;
    for (size_t i = 0; i < unit.size(); ++i) {
      std::vector<double> x;
      for (size_t j : cols) x.push_back(unit[i][j]);
      if (std::any_of(x.begin(), x.end(), [](double v) { return v < 0; })) continue;
      (i < n_good ? good : bad).push_back(std::move(x));
    }
    Mixture l(dims, good, o_.multivariate, o_.normal_reference),
        g(dims, bad, o_.multivariate, o_.normal_reference);
    std::vector<double> best;
    double best_score = -std::numeric_limits<double>::infinity();
    for (int c = 0; c < std::max(o_.candidates, 1); ++c) {
      std::vector<double> x = l.Sample(rng, std::max(1.0, o_.bandwidth_factor));
      double score = l.LogPdf(x) - g.LogPdf(x);
      if (best.empty() || score > best_score) best_score = score, best = std::move(x);
    }
    return best;
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
