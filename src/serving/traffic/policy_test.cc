#include "serving/traffic/policy.h"

#include <gtest/gtest.h>

#include "serving/fleet/deployment_spec.h"

namespace tandem::serving::traffic {
namespace {

TEST(TrafficPolicyTest, ParsesShadowAndCanaryInADeploymentSpec) {
  auto s = fleet::ParseDeploymentSpec(R"(
name: fraud-api
model: fraud@champion
shadow: {model: fraud@challenger, sample: 0.5}
canary:
  model: fraud/3
  weight: 0.1
  rollback: {max_error_rate: 0.02, max_p99_ms: 50, window_seconds: 30, min_requests: 200}
)");
  ASSERT_TRUE(s.ok()) << s.status();
  ASSERT_TRUE(s->traffic.shadow.has_value());
  EXPECT_EQ(s->traffic.shadow->model, "fraud@challenger");
  EXPECT_DOUBLE_EQ(s->traffic.shadow->sample, 0.5);
  ASSERT_TRUE(s->traffic.canary.has_value());
  EXPECT_EQ(s->traffic.canary->model, "fraud/3");
  EXPECT_DOUBLE_EQ(s->traffic.canary->weight, 0.1);
  EXPECT_DOUBLE_EQ(s->traffic.canary->rollback.max_error_rate, 0.02);
  EXPECT_DOUBLE_EQ(s->traffic.canary->rollback.max_p99_ms, 50);
  EXPECT_EQ(s->traffic.canary->rollback.window_seconds, 30);
  EXPECT_EQ(s->traffic.canary->rollback.min_requests, 200);
  // Round trip, and a traffic change needs a rolling restart.
  auto again = fleet::DeploymentSpecFromJson(s->ToJson());
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->ToJson(), s->ToJson());
  EXPECT_FALSE(s->NeedsRestart(*again));
  again->traffic.canary->weight = 0.2;
  EXPECT_TRUE(s->NeedsRestart(*again));
  again->traffic = {};
  EXPECT_TRUE(s->NeedsRestart(*again));
  EXPECT_FALSE(again->ToJson().contains("shadow"));
}

TEST(TrafficPolicyTest, DefaultsWhenOnlyModelsAreGiven) {
  auto s = fleet::ParseDeploymentSpec(
      "name: a\nmodel: m@champion\nshadow: {model: m@challenger}\ncanary: {model: m@candidate}\n");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_DOUBLE_EQ(s->traffic.shadow->sample, 1.0);
  EXPECT_DOUBLE_EQ(s->traffic.canary->weight, 0.1);
  EXPECT_DOUBLE_EQ(s->traffic.canary->rollback.max_error_rate, 0.05);
  EXPECT_DOUBLE_EQ(s->traffic.canary->rollback.max_p99_ms, 0);
  EXPECT_EQ(s->traffic.canary->rollback.window_seconds, 60);
  EXPECT_EQ(s->traffic.canary->rollback.min_requests, 100);
  auto plain = fleet::ParseDeploymentSpec("name: a\nmodel: m@champion\n");
  ASSERT_TRUE(plain.ok());
  EXPECT_TRUE(plain->traffic.empty());
}

TEST(TrafficPolicyTest, RefusesBadPoliciesNamingTheField) {
  struct Case {
    const char* yaml;
    const char* needle;
  };
  const Case cases[] = {
      {"shadow: {model: m@c, sampel: 1}", "shadow.sampel"},
      {"shadow: {sample: 1}", "shadow.model"},
      {"shadow: {model: m@c, sample: 1.5}", "shadow.sample"},
      {"shadow: {model: 'bad name!'}", "shadow.model"},
      {"shadow: m@c", "shadow"},
      {"canary: {model: m/3, weight: -0.1}", "canary.weight"},
      {"canary: {model: m/3, weight: heavy}", "canary.weight"},
      {"canary: {model: m/3, weigth: 0.1}", "canary.weigth"},
      {"canary: {weight: 0.1}", "canary.model"},
      {"canary: {model: m/3, rollback: {max_error_rate: 2}}", "canary.rollback.max_error_rate"},
      {"canary: {model: m/3, rollback: {window_seconds: 0}}", "canary.rollback.window_seconds"},
      {"canary: {model: m/3, rollback: {min_requests: 0}}", "canary.rollback.min_requests"},
      {"canary: {model: m/3, rollback: {p99: 5}}", "canary.rollback.p99"},
      {"canary: {model: m/3, rollback: 5}", "canary.rollback"},
      {"canray: {model: m/3}", "canray"},
  };
  for (const Case& c : cases) {
    auto s =
        fleet::ParseDeploymentSpec(std::string("name: a\nmodel: m@champion\n") + c.yaml + "\n");
    ASSERT_FALSE(s.ok()) << c.yaml;
    EXPECT_EQ(s.status().code(), StatusCode::kInvalidArgument) << c.yaml;
    EXPECT_NE(std::string(s.status().message()).find(c.needle), std::string::npos)
        << c.yaml << " -> " << s.status();
  }
}

TEST(TrafficPolicyTest, ValidatesFlagValues) {
  TrafficPolicy p;
  p.canary = CanaryPolicy{"m/2", 1.5, {}};
  Status s = ValidateTrafficPolicy(p);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(s.message()).find("canary.weight"), std::string::npos) << s;
  p.canary->weight = 0.5;
  EXPECT_TRUE(ValidateTrafficPolicy(p).ok());
  p.canary->model = "";  // a local package given instead
  EXPECT_TRUE(ValidateTrafficPolicy(p).ok());
  p.shadow = ShadowPolicy{"no good", 1};
  EXPECT_NE(std::string(ValidateTrafficPolicy(p).message()).find("shadow.model"),
            std::string::npos);
}

TEST(TrafficPolicyTest, AppendsServeFlags) {
  TrafficPolicy p;
  std::vector<std::string> argv;
  AppendTrafficFlags(p, argv);
  EXPECT_TRUE(argv.empty());
  p.shadow = ShadowPolicy{"m@challenger", 0.5};
  p.canary = CanaryPolicy{"m/3", 0.1, {}};
  p.canary->rollback.max_p99_ms = 50;
  AppendTrafficFlags(p, argv);
  const std::vector<std::string> want = {"--shadow",
                                         "m@challenger",
                                         "--shadow-sample",
                                         "0.5",
                                         "--canary",
                                         "m/3",
                                         "--canary-weight",
                                         "0.10000000000000001",
                                         "--rollback-max-error-rate",
                                         "0.050000000000000003",
                                         "--rollback-max-p99-ms",
                                         "50",
                                         "--rollback-window-s",
                                         "60",
                                         "--rollback-min-requests",
                                         "100"};
  EXPECT_EQ(argv, want);
}

TEST(TrafficPolicyTest, TakeShareIsExactOverAnyRun) {
  for (double share : {0.0, 0.1, 0.25, 1.0 / 3, 0.5, 0.999, 1.0}) {
    uint64_t taken = 0;
    for (uint64_t n = 0; n < 4000; ++n) taken += TakeShare(n, share) ? 1 : 0;
    EXPECT_NEAR(static_cast<double>(taken), 4000 * share, 1.0) << share;
  }
  // Evenly spread: any 100 consecutive requests at 0.25 take 25 +- 1.
  for (uint64_t start = 0; start < 1000; start += 37) {
    int taken = 0;
    for (uint64_t n = start; n < start + 100; ++n) taken += TakeShare(n, 0.25) ? 1 : 0;
    EXPECT_NEAR(taken, 25, 1) << start;
  }
}

}  // namespace
}  // namespace tandem::serving::traffic
