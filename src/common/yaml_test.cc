#include "common/yaml.h"

#include <string>

#include "gmock/gmock.h"
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

// Found by the job spec fuzzer: a string that is not UTF-8 became a Json
// string, and writing it (the stored spec, the hyperparameters file) threw.
TEST(YamlTest, TextThatIsNotUtf8IsRefused) {
  for (std::string bad :
       {"a: \x9c\n", "a: [x, \"\xc3\"]\n", "\xff: 1\n", "a: \xed\xa0\x80\n", "a: \xc0\xaf\n"}) {
    auto j = ParseYaml(bad);
    ASSERT_FALSE(j.ok()) << bad;
    EXPECT_EQ(j.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(j.status().message().find("UTF-8"), std::string::npos) << j.status();
  }
  auto ok = ParseYaml("a: h\xc3\xa9llo \xf0\x9f\x99\x82\n");
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ((*ok)["a"], "h\xc3\xa9llo \xf0\x9f\x99\x82");
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

TEST(JsonTest, MalformedJsonNamesThePosition) {
  auto j = ParseJson("{\"a\": 1,,}");
  ASSERT_FALSE(j.ok());
  EXPECT_THAT(std::string(j.status().message()), ::testing::HasSubstr("malformed JSON"));
  EXPECT_THAT(std::string(j.status().message()), ::testing::HasSubstr("column 9"));
}

// Brackets nested `levels` deep around `inner`.
std::string Nested(int levels, std::string_view inner = "1") {
  return std::string(levels, '[') + std::string(inner) + std::string(levels, ']');
}

TEST(JsonTest, NestingDepthIsLimited) {
  auto ok = ParseJson(Nested(kMaxJsonDepth));
  ASSERT_TRUE(ok.ok()) << ok.status();
  auto deep = ParseJson(Nested(kMaxJsonDepth + 1));
  ASSERT_FALSE(deep.ok());
  EXPECT_EQ(deep.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(deep.status().message()), ::testing::HasSubstr("nested deeper than 64"));
  // A million levels (an 2 MB body) stops at the limit; objects count too.
  EXPECT_EQ(ParseJson(Nested(1'000'000)).status().code(), StatusCode::kInvalidArgument);
  std::string objects;
  for (int i = 0; i < 100; ++i) objects += "{\"a\":";
  objects += "1" + std::string(100, '}');
  EXPECT_EQ(ParseJson(objects).status().code(), StatusCode::kInvalidArgument);
  // Brackets inside strings are not nesting.
  EXPECT_TRUE(ParseJson("[\"" + std::string(1000, '[') + "\"]").ok());
}

TEST(YamlTest, DeepNestingNamesTheLimit) {
  // Within yaml-cpp's own recursion guard: our converter's limit.
  auto shallow = ParseYaml(Nested(kMaxJsonDepth + 1));
  ASSERT_FALSE(shallow.ok());
  EXPECT_THAT(std::string(shallow.status().message()), ::testing::HasSubstr("nested deeper than 64"));
  // Beyond it (a hostile 100,000 brackets, or flow and block nesting):
  // refused by yaml-cpp's guard, reported as the same limit, not "bad file".
  std::string block = "a:\n";
  for (int i = 1; i < 3000; ++i) block += std::string(i, ' ') + "b:\n";
  for (const std::string& doc : {std::string(100'000, '['), Nested(5000), block}) {
    auto j = ParseYaml(doc);
    ASSERT_FALSE(j.ok());
    EXPECT_EQ(j.status().code(), StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(j.status().message()), ::testing::HasSubstr("nested deeper than 64"));
    EXPECT_THAT(std::string(j.status().message()), ::testing::Not(::testing::HasSubstr("bad file")));
  }
}

TEST(YamlTest, BillionLaughsIsRefused) {
  std::string doc = "a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n";
  for (int i = 1; i < 9; ++i) {
    std::string prev = "*a" + std::to_string(i - 1);
    doc += "a" + std::to_string(i) + ": &a" + std::to_string(i) + " [";
    for (int k = 0; k < 10; ++k) doc += (k ? ", " : "") + prev;
    doc += "]\n";
  }
  ASSERT_LT(doc.size(), 1024u);  // 10^9 nodes from under 1 KiB
  auto j = ParseYaml(doc);
  ASSERT_FALSE(j.ok());
  EXPECT_EQ(j.status().code(), StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(j.status().message()), ::testing::HasSubstr("aliases"));
  // Modest use of aliases is fine.
  auto small = ParseYaml("base: &b {cpu: 1, mem: 2}\njob1: *b\njob2: *b\n");
  ASSERT_TRUE(small.ok()) << small.status();
  EXPECT_EQ((*small)["job2"]["mem"], 2);
}

TEST(YamlTest, LargeAliasFreeDocumentIsAccepted) {
  // More nodes than kMaxYamlNodes, but no more than bytes: accepted.
  std::string doc = "[";
  for (uint64_t i = 0; i < kMaxYamlNodes + 10; ++i) doc += i ? ",1" : "1";
  doc += "]";
  auto j = ParseYaml(doc);
  ASSERT_TRUE(j.ok()) << j.status();
  EXPECT_EQ(j->size(), kMaxYamlNodes + 10);
}

TEST(YamlTest, NestingDepthIsLimited) {
  EXPECT_TRUE(ParseYaml(Nested(kMaxJsonDepth)).ok());
  auto deep = ParseYaml(Nested(kMaxJsonDepth + 1));
  ASSERT_FALSE(deep.ok());
  EXPECT_EQ(deep.status().code(), StatusCode::kInvalidArgument);
  // Far deeper than any limit: an error, not a stack overflow.
  EXPECT_FALSE(ParseYaml(Nested(100'000)).ok());
}

}  // namespace
}  // namespace tandem
