#include "compute/tuning/asha.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace tandem::compute::tuning {

Asha::Asha(int64_t min_resource, int64_t max_resource, int eta, int min_results)
    : eta_(std::max(2, eta)), min_results_(static_cast<size_t>(std::max(eta_, min_results))) {
  min_resource = std::max<int64_t>(1, min_resource);
  max_resource = std::max(min_resource, max_resource);
  int64_t r = min_resource;
  while (r * eta_ <= max_resource && r < max_resource) {
    resources_.push_back(r);
    r *= eta_;
  }
  if (resources_.empty()) resources_.push_back(min_resource);
  // The last rung is max_resource itself: 9,27,81,243 for (9, 243, 3);
  // 10,30,100 for (10, 100, 3).
  resources_.push_back(max_resource);
  results_.resize(resources_.size());
}

void Asha::Report(int64_t config, int rung, double loss) {
  if (rung < 0 || rung >= num_rungs()) return;
  if (std::isnan(loss)) loss = std::numeric_limits<double>::infinity();
  results_[rung].push_back({loss, config});
}

std::optional<Promotion> Asha::NextPromotion() {
  for (int k = top_rung() - 1; k >= 0; --k) {
    if (results_[k].size() < min_results_) continue;
    auto sorted = results_[k];
    std::stable_sort(sorted.begin(), sorted.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    size_t top = sorted.size() / static_cast<size_t>(eta_);
    for (size_t i = 0; i < top; ++i) {
      if (!std::isfinite(sorted[i].first)) break;
      if (promoted_.count({k, sorted[i].second}) != 0) continue;
      promoted_.insert({k, sorted[i].second});
      return Promotion{sorted[i].second, k + 1};
    }
  }
  return std::nullopt;
}

void MedianStoppingRule::AddCompleted(const std::vector<double>& curve) {
  std::vector<double> avg;
  double sum = 0;
  for (size_t t = 0; t < curve.size(); ++t) {
    sum += curve[t];
    avg.push_back(sum / static_cast<double>(t + 1));
  }
  running_avg_.push_back(std::move(avg));
}

bool MedianStoppingRule::ShouldStop(const std::vector<double>& curve) const {
  if (curve.empty()) return false;
  size_t t = curve.size() - 1;
  if (static_cast<int64_t>(t) < o_.warmup_steps) return false;
  std::vector<double> at_t;
  for (const auto& avg : running_avg_) {
    if (avg.size() > t) at_t.push_back(avg[t]);
  }
  if (static_cast<int>(at_t.size()) < std::max(1, o_.min_completed)) return false;
  std::sort(at_t.begin(), at_t.end());
  size_t n = at_t.size();
  double median = n % 2 == 1 ? at_t[n / 2] : 0.5 * (at_t[n / 2 - 1] + at_t[n / 2]);
  double best = *std::min_element(curve.begin(), curve.end());
  return best > median;
}

}  // namespace tandem::compute::tuning
