// Learning-curve extrapolation for promotion decisions. A boosting or
// gradient-descent loss curve decays roughly geometrically towards a floor:
//   L(t) ~= L_inf + a * q^t,  0 < q < 1.
// Three equally spaced points determine (L_inf, a, q); ExtrapolateLoss uses the
// last three points of `curve` (losses at consecutive steps 1..n) to predict
// the loss at step `target` (> n). Where the tail is not a decaying geometric
// curve (fewer than 3 points, a flat or rising tail, q outside (0, 1), a
// non-finite loss) it returns the last loss unchanged, so the prediction
// never ranks a configuration better than a plateaued curve says.
#pragma once

#include <cstdint>
#include <vector>

namespace tandem::compute::tuning {

double ExtrapolateLoss(const std::vector<double>& curve, int64_t target);

}  // namespace tandem::compute::tuning
