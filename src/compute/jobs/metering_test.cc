#include "compute/jobs/metering.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/yaml.h"

namespace tandem::compute::jobs {
namespace {

using ::testing::HasSubstr;

PriceTable Parse(const std::string& yaml) {
  auto j = ParseYaml(yaml);
  EXPECT_TRUE(j.ok()) << j.status();
  auto t = PriceTable::FromJson((*j)["pricing"]);
  EXPECT_TRUE(t.ok()) << t.status();
  return *t;
}

TEST(MeteringTest, DefaultsWhenAbsent) {
  auto t = PriceTable::FromJson(Json());
  ASSERT_TRUE(t.ok());
  EXPECT_DOUBLE_EQ(t->For("anyone").cpu_hour, 0.04048);
  EXPECT_DOUBLE_EQ(t->For("anyone").memory_gb_hour, 0.004445);
}

TEST(MeteringTest, TeamOverridesInheritDefaults) {
  PriceTable t = Parse(
      "pricing:\n  default: {cpu_hour: 0.048, memory_gb_hour: 0.0053}\n"
      "  teams:\n    research: {cpu_hour: 0.03}\n");
  EXPECT_DOUBLE_EQ(t.For("research").cpu_hour, 0.03);
  EXPECT_DOUBLE_EQ(t.For("research").memory_gb_hour, 0.0053);
  EXPECT_DOUBLE_EQ(t.For("growth").cpu_hour, 0.048);
  auto again = PriceTable::FromJson(t.ToJson());
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->teams, t.teams);
  EXPECT_EQ(again->defaults, t.defaults);
}

TEST(MeteringTest, InvalidSectionsNameTheKey) {
  struct Case {
    const char* yaml;
    const char* message;
  };
  for (const Case& c : {
           Case{"pricing: {defaults: {}}", "unknown field 'pricing.defaults'"},
           Case{"pricing: {default: {gpu_hour: 1}}", "unknown field 'pricing.default.gpu_hour'"},
           Case{"pricing: {default: {cpu_hour: -1}}", "'pricing.default.cpu_hour' must be"},
           Case{"pricing: {default: {cpu_hour: cheap}}", "'pricing.default.cpu_hour' must be"},
           Case{"pricing: {teams: {research: {memory_gb_hour: -0.1}}}",
                "'pricing.teams.research.memory_gb_hour'"},
           Case{"pricing: {teams: {Research: {}}}", "'pricing.teams.Research'"},
           Case{"pricing: {teams: [a]}", "'pricing.teams' must be a mapping"},
           Case{"pricing: 3", "'pricing' must be a mapping"},
       }) {
    auto j = ParseYaml(c.yaml);
    ASSERT_TRUE(j.ok()) << c.yaml;
    auto t = PriceTable::FromJson((*j)["pricing"]);
    ASSERT_FALSE(t.ok()) << c.yaml;
    EXPECT_EQ(t.status().code(), StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(t.status().message()), HasSubstr(c.message)) << c.yaml;
  }
}

TEST(MeteringTest, CostByRequestedResourcesTimesWall) {
  PriceTable t = Parse("pricing: {default: {cpu_hour: 3.6, memory_gb_hour: 0.36}}");
  // 2 cpus × 100 s = 200 cpu-s → 0.2; 2 GiB × 100 s = 200 GiB-s → 0.02.
  EXPECT_DOUBLE_EQ(Cost(t, "x", 50, 100, 0, 2, 2048), 0.22);
  // Measured CPU above the reservation is billed.
  EXPECT_DOUBLE_EQ(Cost(t, "x", 300, 100, 0, 2, 2048), 0.32);
  // memory_mb 0: peak RSS (1 GiB) × wall.
  EXPECT_DOUBLE_EQ(Cost(t, "x", 0, 100, int64_t{1} << 30, 1, 0), 0.11);
  // Nothing ran: nothing billed; bad inputs count as 0.
  EXPECT_DOUBLE_EQ(Cost(t, "x", 0, 0, 0, 4, 4096), 0.0);
  EXPECT_DOUBLE_EQ(Cost(t, "x", -5, -1, -1, -2, -3), 0.0);
}

TEST(MeteringTest, CostRoundedToMicros) {
  PriceTable t = Parse("pricing: {default: {cpu_hour: 0.04048, memory_gb_hour: 0.004445}}");
  double c = Cost(t, "x", 1.0, 1.0, 0, 1, 1024);
  // 0.04048/3600 + 0.004445/3600 = 0.00001248 → 0.000012
  EXPECT_DOUBLE_EQ(c, 0.000012);
  EXPECT_DOUBLE_EQ(Cost(t, "x", 0, 3600, 0, 1, 1024), 0.044925);
}

TEST(MeteringTest, TeamRatesApply) {
  PriceTable t = Parse("pricing: {teams: {research: {cpu_hour: 0, memory_gb_hour: 0}}}");
  EXPECT_DOUBLE_EQ(Cost(t, "research", 10, 3600, 0, 4, 4096), 0.0);
  EXPECT_GT(Cost(t, "growth", 10, 3600, 0, 4, 4096), 0.0);
}

}  // namespace
}  // namespace tandem::compute::jobs
