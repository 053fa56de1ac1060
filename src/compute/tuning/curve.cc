#include "compute/tuning/curve.h"

#include <cmath>
#include <limits>

namespace tandem::compute::tuning {

double ExtrapolateLoss(const std::vector<double>& curve, int64_t target) {
  if (curve.empty()) return std::numeric_limits<double>::infinity();
  const double last = curve.back();
  const int64_t n = static_cast<int64_t>(curve.size());
  if (n < 3 || target <= n || !std::isfinite(last)) return last;
  const double l1 = curve[n - 3], l2 = curve[n - 2], l3 = last;
  if (!std::isfinite(l1) || !std::isfinite(l2)) return last;
  const double d1 = l2 - l1, d2 = l3 - l2;
  // Decaying: both steps lower the loss, the second by less.
  if (!(d1 < 0 && d2 < 0)) return last;
  const double q = d2 / d1;
  if (!(q > 0 && q < 1)) return last;
  // Sum of the remaining steps: d2 * (q + q^2 + ... + q^(target - n)).
  const double k = static_cast<double>(target - n);
  return l3 + d2 * q * (1 - std::pow(q, k)) / (1 - q);
}

}  // namespace tandem::compute::tuning
