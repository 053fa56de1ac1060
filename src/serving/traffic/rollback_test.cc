#include "serving/traffic/rollback.h"

#include <gtest/gtest.h>

#include "serving/traffic/canary.h"

namespace tandem::serving::traffic {
namespace {

RollbackRule Rule(double max_error_rate, double max_p99_ms, int64_t window_s, int64_t min_req) {
  RollbackRule r;
  r.max_error_rate = max_error_rate;
  r.max_p99_ms = max_p99_ms;
  r.window_seconds = window_s;
  r.min_requests = min_req;
  return r;
}

TEST(RollbackMonitorTest, FiresOnErrorRateOnlyOnceMinRequestsAreSeen) {
  FakeClock clock;
  RollbackMonitor m(Rule(0.05, 0, 60, 100), clock);
  // 10% errors, but below min_requests: no decision.
  for (int i = 0; i < 99; ++i) {
    EXPECT_FALSE(m.Record(i % 10 != 0, 1000).has_value()) << i;
    clock.Advance(10'000);
  }
  auto d = m.Record(true, 1000);  // the 100th request
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->window.requests, 100);
  EXPECT_EQ(d->window.errors, 10);
  EXPECT_NE(d->reason.find("error rate 0.1 > max_error_rate 0.05"), std::string::npos) << d->reason;
  EXPECT_TRUE(m.fired());
  // Latched: never fires again.
  EXPECT_FALSE(m.Record(false, 1000).has_value());
  EXPECT_FALSE(m.Evaluate().has_value());
}

TEST(RollbackMonitorTest, HealthyCandidateNeverFires) {
  FakeClock clock;
  RollbackMonitor m(Rule(0.05, 50, 60, 100), clock);
  for (int i = 0; i < 5000; ++i) {
    // 4% errors, p99 well under 50 ms.
    ASSERT_FALSE(m.Record(i % 25 != 0, i % 100 == 0 ? 40'000 : 2'000).has_value()) << i;
    clock.Advance(5'000);
  }
  EXPECT_FALSE(m.Evaluate().has_value());
  EXPECT_FALSE(m.fired());
}

TEST(RollbackMonitorTest, FiresOnP99) {
  FakeClock clock;
  RollbackMonitor m(Rule(1.0, 50, 60, 100), clock);
  std::optional<RollbackDecision> d;
  int n = 0;
  // 5% of requests take 80 ms: p99 = 80 ms > 50 ms.
  while (!d && n < 1000) {
    d = m.Record(true, n % 20 == 0 ? 80'000 : 1'000);
    ++n;
    clock.Advance(1'000);
  }
  ASSERT_TRUE(d.has_value());
  EXPECT_GE(n, 100);
  EXPECT_LE(n, 100 + 16);  // p99 checked at least every 16 requests
  EXPECT_DOUBLE_EQ(d->window.p99_ms, 80);
  EXPECT_NE(d->reason.find("p99 80 ms > max_p99_ms 50"), std::string::npos) << d->reason;
}

TEST(RollbackMonitorTest, OldFailuresLeaveTheWindow) {
  FakeClock clock;
  RollbackMonitor m(Rule(0.05, 0, 60, 100), clock);
  // 50 failures, then 61 s pass: they are out of the window.
  for (int i = 0; i < 50; ++i) EXPECT_FALSE(m.Record(false, 1000).has_value());
  clock.AdvanceSeconds(61);
  EXPECT_EQ(m.Window().requests, 0);
  for (int i = 0; i < 200; ++i) {
    ASSERT_FALSE(m.Record(true, 1000).has_value()) << i;
    clock.Advance(100'000);
  }
  WindowStats w = m.Window();
  EXPECT_EQ(w.errors, 0);
  // Only the last 60 s of the 20 s... all 200 were within 20 s.
  EXPECT_EQ(w.requests, 200);
  // Now failures within the window trip it.
  std::optional<RollbackDecision> d;
  for (int i = 0; i < 20 && !d; ++i) d = m.Record(false, 1000);
  ASSERT_TRUE(d.has_value());
  EXPECT_GT(d->window.error_rate, 0.05);
}

TEST(CanarySplitTest, WeightSplitsDeterministically) {
  FakeClock clock;
  CanarySplit c(CanaryPolicy{"m@candidate", 0.25, {}}, clock);
  int candidate = 0;
  for (int i = 0; i < 4000; ++i) {
    Variant v = c.Choose();
    candidate += v == Variant::kCandidate ? 1 : 0;
    ASSERT_FALSE(c.Record(v, true, 1000).has_value());
  }
  EXPECT_EQ(candidate, 1000);
  EXPECT_EQ(c.metrics(Variant::kCandidate).requests.load(), 1000u);
  EXPECT_EQ(c.metrics(Variant::kPrimary).requests.load(), 3000u);
  std::string text;
  c.Render(text, "model=\"m\"");
  EXPECT_NE(text.find("tandem_canary_requests_total{model=\"m\",variant=\"candidate\"} 1000"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("tandem_canary_requests_total{model=\"m\",variant=\"primary\"} 3000"),
            std::string::npos);
}

TEST(CanarySplitTest, RollbackSetsTheWeightToZeroAndKeepsTheReason) {
  FakeClock clock;
  CanarySplit c(CanaryPolicy{"m@candidate", 0.5, Rule(0.05, 0, 60, 20)}, clock);
  std::optional<RollbackDecision> fired;
  int decisions = 0;
  for (int i = 0; i < 200; ++i) {
    Variant v = c.Choose();
    // The candidate always fails; the primary never does.
    auto d = c.Record(v, v == Variant::kPrimary, 1000);
    if (d) {
      ++decisions;
      fired = d;
    }
    clock.Advance(1000);
  }
  ASSERT_TRUE(fired.has_value());
  EXPECT_EQ(decisions, 1);
  EXPECT_EQ(c.weight(), 0);
  EXPECT_TRUE(c.rolled_back());
  EXPECT_EQ(c.rollback_reason(), fired->reason);
  // 20 candidate requests triggered it; none after.
  EXPECT_EQ(c.metrics(Variant::kCandidate).requests.load(), 20u);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(c.Choose(), Variant::kPrimary);
  Json stats = c.Stats();
  EXPECT_EQ(stats["rolled_back"], true);
  EXPECT_EQ(stats["weight"], 0.0);
  EXPECT_EQ(stats["configured_weight"], 0.5);
}

}  // namespace
}  // namespace tandem::serving::traffic
