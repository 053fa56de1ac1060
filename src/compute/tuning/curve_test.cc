#include "compute/tuning/curve.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace tandem::compute::tuning {
namespace {

TEST(ExtrapolateLoss, GeometricCurveIsPredictedExactly) {
  // L(t) = 0.3 + 0.4 * 0.5^t, t = 1..3; at t = 10 it is 0.3 + 0.4 / 1024.
  std::vector<double> curve;
  for (int t = 1; t <= 3; ++t) curve.push_back(0.3 + 0.4 * std::pow(0.5, t));
  EXPECT_NEAR(ExtrapolateLoss(curve, 10), 0.3 + 0.4 * std::pow(0.5, 10), 1e-12);
  EXPECT_NEAR(ExtrapolateLoss(curve, 4), 0.3 + 0.4 * std::pow(0.5, 4), 1e-12);
  // Longer curves use their last three points.
  curve.insert(curve.begin(), 5.0);
  EXPECT_NEAR(ExtrapolateLoss(curve, 11), 0.3 + 0.4 * std::pow(0.5, 10), 1e-12);
}

TEST(ExtrapolateLoss, SlowCurveOvertakesFastPlateau) {
  // The reason for it: a slowly decaying curve (small learning rate, strong
  // regularisation) that is behind after 3 steps but ends lower.
  std::vector<double> fast = {0.50, 0.45, 0.44};  // q = 0.2, floor ~0.4375
  std::vector<double> slow = {0.60, 0.55, 0.51};  // q = 0.8, floor ~0.35
  EXPECT_LT(fast.back(), slow.back());
  EXPECT_GT(ExtrapolateLoss(fast, 27), ExtrapolateLoss(slow, 27));
  EXPECT_NEAR(ExtrapolateLoss(fast, 1000), 0.4375, 1e-9);
  EXPECT_NEAR(ExtrapolateLoss(slow, 1000), 0.35, 1e-9);
}

TEST(ExtrapolateLoss, NonDecayingTailsKeepTheLastLoss) {
  EXPECT_EQ(ExtrapolateLoss({0.5, 0.4}, 27), 0.4);          // too short
  EXPECT_EQ(ExtrapolateLoss({0.5, 0.4, 0.45}, 27), 0.45);   // rising
  EXPECT_EQ(ExtrapolateLoss({0.5, 0.5, 0.4}, 27), 0.4);     // flat step
  EXPECT_EQ(ExtrapolateLoss({0.5, 0.45, 0.35}, 27), 0.35);  // accelerating, q > 1
  EXPECT_EQ(ExtrapolateLoss({0.5, 0.45, 0.44}, 3), 0.44);   // target not beyond
  EXPECT_EQ(ExtrapolateLoss({0.5, NAN, 0.44}, 27), 0.44);   // non-finite point
  EXPECT_TRUE(std::isinf(ExtrapolateLoss({}, 27)));
  double inf = std::numeric_limits<double>::infinity();
  EXPECT_TRUE(std::isinf(ExtrapolateLoss({0.5, 0.4, inf}, 27)));
}

}  // namespace
}  // namespace tandem::compute::tuning
