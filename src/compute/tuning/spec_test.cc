#include "compute/tuning/spec.h"

#include <gtest/gtest.h>

namespace tandem::compute::tuning {
namespace {

constexpr char kSpec[] = R"(
name: xgb-tune
objective: {metric: "validation:logloss", type: Minimize}
strategy: Hyperband
parameter_ranges:
  - {name: eta, type: Continuous, min: 0.01, max: 0.5, scaling: Logarithmic}
  - {name: max_depth, type: Integer, min: 2, max: 10}
  - {name: subsample, type: Continuous, min: 0.5, max: 1}
  - {name: l2, type: Continuous, min: 0.001, max: 10}
  - {name: booster, type: Categorical, values: [gbtree, dart]}
hyperband: {min_resource: 9, max_resource: 243, reduction_factor: 3, resource_param: num_round}
max_jobs: 20
max_parallel_jobs: 2
early_stopping: "Off"
seed: 7
warm_start: {parents: [old-tune]}
register: {model: churn, alias: challenger}
training_job:
  entry_point: train.sh
  metric_definitions:
    - {name: "validation:logloss", regex: 'validation-logloss:([0-9.]+)'}
)";

std::string Msg(const StatusOr<TuningSpec>& s) { return std::string(s.status().message()); }

std::string With(const std::string& find, const std::string& replace) {
  std::string s = kSpec;
  size_t at = s.find(find);
  EXPECT_NE(at, std::string::npos) << find;
  return s.replace(at, find.size(), replace);
}

TEST(TuningSpecTest, ParsesAndRoundTrips) {
  auto spec = TuningSpec::Parse(kSpec);
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->name, "xgb-tune");
  EXPECT_FALSE(spec->objective.maximize);
  EXPECT_EQ(spec->strategy, TuningStrategy::kHyperband);
  ASSERT_EQ(spec->ranges.size(), 5u);
  EXPECT_EQ(spec->ranges[0].scaling, Scaling::kLogarithmic);
  EXPECT_EQ(spec->ranges[1].type, ParamType::kInteger);
  EXPECT_EQ(spec->ranges[2].scaling, Scaling::kLinear);       // Auto, max/min < 100
  EXPECT_EQ(spec->ranges[3].scaling, Scaling::kLogarithmic);  // Auto, max/min >= 100
  EXPECT_EQ(spec->hyperband.max_resource, 243);
  EXPECT_EQ(spec->hyperband.sampler, HyperbandSampler::kBohb);  // the default
  EXPECT_EQ(spec->hyperband.min_resource, 9);
  EXPECT_EQ(spec->seed, 7u);
  EXPECT_EQ(spec->warm_start_parents, std::vector<std::string>{"old-tune"});
  ASSERT_TRUE(spec->register_best);
  EXPECT_EQ(spec->register_best->alias, "challenger");
  auto again = TuningSpec::FromJson(spec->ToJson());
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(*again, *spec);
  Json random = spec->ToJson();
  random["hyperband"]["sampler"] = "Random";
  auto asha = TuningSpec::FromJson(random);
  ASSERT_TRUE(asha.ok()) << asha.status();
  EXPECT_EQ(asha->hyperband.sampler, HyperbandSampler::kRandom);
  EXPECT_EQ(asha->ToJson()["hyperband"]["sampler"], "Random");
}

TEST(TuningSpecTest, HyperbandRules) {
  auto spec = TuningSpec::Parse(With("strategy: Hyperband", "strategy: Random"));
  ASSERT_FALSE(spec.ok());  // hyperband block with Random
  EXPECT_NE(Msg(spec).find("'hyperband' applies to strategy Hyperband only"), std::string::npos);
  std::string s = With("early_stopping: \"Off\"", "early_stopping: Auto");
  auto hb = TuningSpec::Parse(s);
  ASSERT_FALSE(hb.ok());
  EXPECT_NE(Msg(hb).find("early_stopping"), std::string::npos);
}

struct BadCase {
  std::string find, replace, expect;
};

TEST(TuningSpecTest, RefusesBadFieldsNamingThem) {
  std::vector<BadCase> cases = {
      {"seed: 7", "seed: 7\ncolour: red", "unknown field 'colour'"},
      {"max_depth, type: Integer", "max_depth, type: Int",
       "'parameter_ranges[1].type' must be one of"},
      {"scaling: Logarithmic", "scaling: Logarithmic, scale: 2",
       "unknown field 'parameter_ranges[0].scale'"},
      {"min: 0.01, max: 0.5, scaling: Logarithmic", "min: 0, max: 0.5, scaling: Logarithmic",
       "'parameter_ranges[0].scaling' Logarithmic needs min > 0"},
      {"min: 0.5, max: 1}", "min: 0.5, max: 1, scaling: ReverseLogarithmic}",
       "'parameter_ranges[2].scaling' ReverseLogarithmic"},
      {"min: 2, max: 10", "min: 10, max: 2", "'parameter_ranges[1].min' must be <= max"},
      {"min: 2, max: 10", "min: 2.5, max: 10", "'parameter_ranges[1].min' must be an integer"},
      {"values: [gbtree, dart]", "values: []", "'parameter_ranges[4].values'"},
      {"values: [gbtree, dart]", "values: [gbtree, gbtree]",
       "'parameter_ranges[4].values[1]' repeats"},
      {"type: Minimize", "type: Lowest", "'objective.type' must be one of Maximize | Minimize"},
      {"metric: \"validation:logloss\"", "metric: \"validation:auc\"",
       "'objective.metric' validation:auc is not one of training_job.metric_definitions"},
      {"max_jobs: 20", "max_jobs: 0", "'max_jobs' must be"},
      {"max_parallel_jobs: 2", "max_parallel_jobs: two", "'max_parallel_jobs' must be"},
      {"reduction_factor: 3", "reduction_factor: 1", "'hyperband.reduction_factor'"},
      {"min_resource: 9", "min_resource: 300", "'hyperband.min_resource' must be < max_resource"},
      {"reduction_factor: 3", "reduction_factor: 3, sampler: TPE",
       "'hyperband.sampler' must be one of BOHB | Random, got 'TPE'"},
      {"resource_param: num_round", "resource_param: eta",
       "'hyperband.resource_param' eta must not also be a parameter range"},
      {"parents: [old-tune]", "parents: [old_tune]", "'warm_start.parents[0]'"},
      {"entry_point: train.sh", "entry_point: train.sh\n  resources: {cpu: 1}",
       "training_job: unknown field 'resources.cpu'"},
      {"entry_point: train.sh", "entry_point: train.sh\n  name: x",
       "'training_job.name' is set by the tuning job"},
      {"model: churn", "model: '-bad'", "register.model"},
      {"name: booster", "name: eta", "'parameter_ranges[4].name' repeats 'eta'"},
  };
  for (const auto& c : cases) {
    auto spec = TuningSpec::Parse(With(c.find, c.replace));
    ASSERT_FALSE(spec.ok()) << c.replace;
    EXPECT_EQ(spec.status().code(), StatusCode::kInvalidArgument) << c.replace;
    EXPECT_NE(Msg(spec).find(c.expect), std::string::npos) << c.replace << " -> " << Msg(spec);
  }
}

TEST(TuningSpecTest, HyperbandDefaultsToThreeRungs) {
  auto spec = TuningSpec::Parse(With("min_resource: 9, max_resource: 243", "max_resource: 27"));
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->hyperband.min_resource, 3);  // 27 / 3^2
  spec = TuningSpec::Parse(With("min_resource: 9, max_resource: 243, reduction_factor: 3",
                                "max_resource: 100, "
                                "reduction_factor: 4"));
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->hyperband.min_resource, 6);  // floor(100 / 16)
  spec = TuningSpec::Parse(With("min_resource: 9, max_resource: 243", "max_resource: 5"));
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->hyperband.min_resource, 1);  // at least 1
  spec = TuningSpec::Parse(With("min_resource: 9, max_resource: 243", "max_resource: 1"));
  ASSERT_FALSE(spec.ok());
  EXPECT_NE(Msg(spec).find("'hyperband.max_resource' must be an integer between 2"),
            std::string::npos)
      << Msg(spec);
}

TEST(TuningSpecTest, GridRefusesContinuousRanges) {
  std::string s = With("strategy: Hyperband", "strategy: Grid");
  s = s.replace(s.find("hyperband: {"), s.find("max_jobs") - s.find("hyperband: {"), "");
  auto spec = TuningSpec::Parse(s);
  ASSERT_FALSE(spec.ok());
  EXPECT_NE(Msg(spec).find("'parameter_ranges[0]' is Continuous"), std::string::npos) << Msg(spec);
}

TEST(TuningSpecTest, RequiredFields) {
  EXPECT_NE(Msg(TuningSpec::Parse("")).find("empty"), std::string::npos);
  EXPECT_NE(Msg(TuningSpec::Parse("name: x")).find("'objective' is required"), std::string::npos);
  EXPECT_NE(Msg(TuningSpec::Parse("[1, 2]")).find("mapping"), std::string::npos);
}

}  // namespace
}  // namespace tandem::compute::tuning
