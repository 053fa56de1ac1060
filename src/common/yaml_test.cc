#include "common/yaml.h"

#include "gtest/gtest.h"

namespace tandem {
namespace {

TEST(YamlTest, ScalarsBecomeTypedJson) {
  auto j = ParseYaml("a: 1\nb: 2.5\nc: true\nd: hello\ne: '7'\nf: [1, x]\ng: {h: null}\n");
  ASSERT_TRUE(j.ok()) << j.status();
  EXPECT_EQ((*j)["a"], 1);
  EXPECT_EQ((*j)["b"], 2.5);
  EXPECT_EQ((*j)["c"], true);
  EXPECT_EQ((*j)["d"], "hello");
  EXPECT_EQ((*j)["e"], "7");
  EXPECT_EQ((*j)["f"][1], "x");
  EXPECT_TRUE((*j)["g"]["h"].is_null());
}

TEST(YamlTest, MalformedYamlNamesLine) {
  auto j = ParseYaml("a: 1\nb: [unclosed\n");
  ASSERT_FALSE(j.ok());
  EXPECT_EQ(j.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(j.status().message().find("line"), std::string::npos);
}

TEST(YamlTest, JsonIsYaml) {
  auto j = ParseYaml(R"({"x": [1, 2], "y": "z"})");
  ASSERT_TRUE(j.ok());
  EXPECT_EQ((*j)["x"][1], 2);
}

TEST(YamlTest, RoundTripsThroughToYaml) {
  Json v = {{"name", "m"}, {"versions", {1, 2}}, {"tags", {{"k", "v"}}}};
  auto back = ParseYaml(ToYaml(v));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, v);
}

TEST(JsonTest, MalformedJsonIsInvalidArgument) {
  auto j = ParseJson("{\"a\": ");
  ASSERT_FALSE(j.ok());
  EXPECT_EQ(j.status().code(), StatusCode::kInvalidArgument);
  Json obj = {{"n", "x"}};
  EXPECT_EQ(GetString(obj, "missing").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(GetIntOr(obj, "n", 1).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(*GetIntOr(obj, "absent", 5), 5);
}

}  // namespace
}  // namespace tandem
