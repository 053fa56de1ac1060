#include "compute/jobs/spec_cache.h"

#include <gtest/gtest.h>

namespace tandem::compute::jobs {
namespace {

constexpr char kSpec[] =
    R"json({"name":"a","entry_point":"train.py",
            "metric_definitions":[{"name":"loss","regex":"loss=([0-9.]+)"}],
            "hyperparameters":{"lr":0.1}})json";

TEST(SpecCacheTest, ParsesATextOnceAndReturnsTheSameSpec) {
  SpecCache cache;
  auto first = cache.Parse(kSpec);
  ASSERT_TRUE(first.ok()) << first.status();
  auto second = cache.Parse(kSpec);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(cache.parses(), 1);
  EXPECT_EQ(first->ToJson(), second->ToJson());
  EXPECT_EQ(second->name, "a");
  ASSERT_EQ(second->metric_definitions.size(), 1u);
  EXPECT_EQ(second->metric_definitions[0].regex, "loss=([0-9.]+)");
  // Another text is parsed on its own.
  auto other = cache.Parse(R"({"name":"b","entry_point":"train.py"})");
  ASSERT_TRUE(other.ok()) << other.status();
  EXPECT_EQ(other->name, "b");
  EXPECT_EQ(cache.parses(), 2);
}

TEST(SpecCacheTest, ErrorsAreReturnedEveryTimeAndNotCached) {
  SpecCache cache;
  for (int i = 0; i < 2; ++i) {
    auto bad = cache.Parse(
        R"json({"name":"a","entry_point":"x","metric_definitions":[{"name":"m","regex":"("}]})json");
    EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument) << bad.status();
    EXPECT_EQ(cache.Parse("not json").status().code(), StatusCode::kInvalidArgument);
  }
  EXPECT_EQ(cache.parses(), 0);
}

TEST(SpecCacheTest, IsClearedWhenFullAndStillAnswers) {
  SpecCache cache(/*max_entries=*/2);
  for (int round = 0; round < 2; ++round) {
    for (const char* name : {"a", "b", "c"}) {
      auto s = cache.Parse(std::string(R"({"entry_point":"x","name":")") + name + "\"}");
      ASSERT_TRUE(s.ok()) << s.status();
      EXPECT_EQ(s->name, name);
    }
  }
  // 3 texts over a capacity of 2: each round parses what the clear dropped.
  EXPECT_GT(cache.parses(), 3);
}

}  // namespace
}  // namespace tandem::compute::jobs
