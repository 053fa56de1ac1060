#include "compute/tuning/asha.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace tandem::compute::tuning {
namespace {

TEST(AshaTest, RungResources) {
  Asha a(9, 243, 3);
  ASSERT_EQ(a.num_rungs(), 4);
  EXPECT_EQ(a.resource(0), 9);
  EXPECT_EQ(a.resource(3), 243);
  Asha b(10, 100, 3);
  ASSERT_EQ(b.num_rungs(), 3);
  EXPECT_EQ(b.resource(1), 30);
  EXPECT_EQ(b.resource(2), 100);
  Asha c(1, 2, 3);
  ASSERT_EQ(c.num_rungs(), 2);
  EXPECT_EQ(c.resource(0), 1);
}

TEST(AshaTest, MinResultsHoldsPromotionsUntilTheRungIsPopulated) {
  Asha a(1, 9, 3, /*min_results=*/6);
  for (int c = 0; c < 5; ++c) a.Report(c, 0, 0.1 * (5 - c));  // config 4 best
  EXPECT_FALSE(a.NextPromotion()) << "5 results < 6: no promotion yet";
  a.Report(5, 0, 0.9);
  auto p = a.NextPromotion();
  ASSERT_TRUE(p);
  EXPECT_EQ(p->config, 4);
  p = a.NextPromotion();  // 6 results: top 2
  ASSERT_TRUE(p);
  EXPECT_EQ(p->config, 3);
  EXPECT_FALSE(a.NextPromotion());
  // Below eta it means eta: plain ASHA.
  Asha b(1, 9, 3, /*min_results=*/1);
  b.Report(0, 0, 0.5);
  b.Report(1, 0, 0.4);
  EXPECT_FALSE(b.NextPromotion());
  b.Report(2, 0, 0.6);
  EXPECT_EQ(b.NextPromotion()->config, 1);
}

TEST(AshaTest, PromotesTopThirdAsynchronously) {
  Asha a(1, 9, 3);  // rungs 1, 3, 9
  // Two results at rung 0: floor(2/3) = 0 promotable -> start new configs.
  a.Report(0, 0, 0.5);
  a.Report(1, 0, 0.9);
  EXPECT_FALSE(a.NextPromotion());
  // A third result: the best of three (config 0) goes up at once, without
  // waiting for any fuller rung.
  a.Report(2, 0, 0.7);
  auto p = a.NextPromotion();
  ASSERT_TRUE(p);
  EXPECT_EQ(p->config, 0);
  EXPECT_EQ(p->rung, 1);
  EXPECT_FALSE(a.NextPromotion());  // not offered twice
  // Config 3 beats config 0 at rung 0: it is the top 1 of 4 and not promoted
  // yet, so it goes up too (ASHA compares against the current rung only).
  a.Report(3, 0, 0.1);
  p = a.NextPromotion();
  ASSERT_TRUE(p);
  EXPECT_EQ(p->config, 3);
  EXPECT_EQ(p->rung, 1);
  // Six results, two slots (3 and 0), both taken.
  a.Report(4, 0, 0.95);
  a.Report(5, 0, 0.99);
  EXPECT_FALSE(a.NextPromotion());
  // Rung 1 gets a third result: its best climbs to the top rung first
  // (higher rungs before lower ones).
  a.Report(0, 1, 0.4);
  a.Report(3, 1, 0.05);
  a.Report(7, 0, 0.2);
  a.Report(8, 0, 0.3);
  a.Report(9, 0, 0.8);  // 9 results at rung 0 -> 3 slots: 3, 7, 8 (0 is 4th now)
  EXPECT_EQ(a.NextPromotion()->config, 7);  // rung 1 has 2 results: no slot yet
  a.Report(7, 1, 0.6);
  p = a.NextPromotion();
  ASSERT_TRUE(p);
  EXPECT_EQ(p->config, 3);
  EXPECT_EQ(p->rung, 2);
  p = a.NextPromotion();
  ASSERT_TRUE(p);
  EXPECT_EQ(p->config, 8);
  EXPECT_EQ(p->rung, 1);
  EXPECT_FALSE(a.NextPromotion());  // config 9 and the rest are halted
  a.Report(3, 2, 0.01);             // the top rung is never promoted from
  EXPECT_FALSE(a.NextPromotion());
}

TEST(AshaTest, FailuresAreNeverPromotedAndStateRebuilds) {
  Asha a(1, 4, 2);  // rungs 1, 2, 4
  a.Report(0, 0, std::numeric_limits<double>::infinity());
  a.Report(1, 0, std::nan(""));
  EXPECT_FALSE(a.NextPromotion());
  Asha b(1, 4, 2);
  b.Report(0, 0, 0.3);
  b.Report(1, 0, 0.2);
  b.MarkPromoted(1, 0);  // as replayed from persisted trials
  EXPECT_FALSE(b.NextPromotion());
}

TEST(MedianStoppingRuleTest, StopsWorseThanMedianOfRunningAverages) {
  MedianStoppingRule rule({.min_completed = 3, .warmup_steps = 1});
  std::vector<double> curve = {5, 5, 5};
  EXPECT_FALSE(rule.ShouldStop(curve));  // no completed trials yet
  rule.AddCompleted({1, 1, 1});
  rule.AddCompleted({2, 2, 2});
  EXPECT_FALSE(rule.ShouldStop(curve));  // two < min_completed
  rule.AddCompleted({4, 2, 0});          // running averages 4, 3, 2
  // At step 1 the running averages are 1, 2, 3: median 2.
  EXPECT_FALSE(rule.ShouldStop({5}));  // warm-up step 0
  EXPECT_TRUE(rule.ShouldStop({5, 2.5}));
  EXPECT_FALSE(rule.ShouldStop({5, 2.0}));  // equal to the median: keeps going
  EXPECT_FALSE(rule.ShouldStop({1.5, 9}));  // best so far counts, not the latest
  // Step 3: no completed trial got there.
  EXPECT_FALSE(rule.ShouldStop({9, 9, 9, 9}));
}

}  // namespace
}  // namespace tandem::compute::tuning
