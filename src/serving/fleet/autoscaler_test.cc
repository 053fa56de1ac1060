#include "serving/fleet/autoscaler.h"

#include <gtest/gtest.h>

namespace tandem::serving::fleet {
namespace {

AutoscalerOptions Opts() {
  AutoscalerOptions o;
  o.min_replicas = 1;
  o.max_replicas = 10;
  o.target = 4;
  o.tolerance = 0.1;
  o.stabilization_us = 300'000'000;
  return o;
}

TEST(AutoscalerTest, RawRuleIsCeilOfRatioClamped) {
  AutoscalerOptions o = Opts();
  EXPECT_EQ(Autoscaler::RawDesired(o, 2, 8), 4);    // 2 * 8/4
  EXPECT_EQ(Autoscaler::RawDesired(o, 3, 5), 4);    // ceil(3.75)
  EXPECT_EQ(Autoscaler::RawDesired(o, 4, 1), 1);    // 4 * 0.25
  EXPECT_EQ(Autoscaler::RawDesired(o, 4, 0), 1);    // clamped to min
  EXPECT_EQ(Autoscaler::RawDesired(o, 8, 40), 10);  // clamped to max
  EXPECT_EQ(Autoscaler::RawDesired(o, 4, 2), 2);
}

TEST(AutoscalerTest, ToleranceKeepsCount) {
  AutoscalerOptions o = Opts();
  EXPECT_EQ(Autoscaler::RawDesired(o, 5, 4.3), 5);  // ratio 1.075 within 0.1
  EXPECT_EQ(Autoscaler::RawDesired(o, 5, 3.7), 5);  // ratio 0.925
  EXPECT_EQ(Autoscaler::RawDesired(o, 5, 4.5), 6);  // ratio 1.125 -> ceil(5.625)
}

TEST(AutoscalerTest, ScaleUpIsImmediateScaleDownStabilized) {
  FakeClock clock(0);
  Autoscaler a(Opts(), clock);
  EXPECT_EQ(a.Recommend(2, 8), 4);
  clock.Advance(10'000'000);
  // Load drops: raw says 1, but 4 was recommended within the window.
  EXPECT_EQ(a.Recommend(4, 1), 4);
  clock.Advance(200'000'000);
  EXPECT_EQ(a.Recommend(4, 1), 4);
  clock.Advance(100'000'001);  // the 4 is now older than 300 s
  EXPECT_EQ(a.Recommend(4, 1), 1);
}

TEST(AutoscalerTest, FlappingLoadDoesNotFlapReplicas) {
  FakeClock clock(0);
  Autoscaler a(Opts(), clock);
  int n = 4;
  for (int i = 0; i < 20; ++i) {
    double observed = (i % 2 == 0) ? 2.0 : 4.0;  // alternate half and full load
    n = a.Recommend(n, observed);
    EXPECT_EQ(n, 4) << "step " << i;
    clock.Advance(15'000'000);
  }
}

TEST(AutoscalerTest, ZeroReplicasWithLoadStartsOne) {
  AutoscalerOptions o = Opts();
  o.min_replicas = 0;
  EXPECT_EQ(Autoscaler::RawDesired(o, 0, 3), 1);
  EXPECT_EQ(Autoscaler::RawDesired(o, 0, 0), 0);
}

}  // namespace
}  // namespace tandem::serving::fleet
