#include "serving/server/flat_infer_body.h"

#include <gtest/gtest.h>

#include <cmath>

#include "common/json.h"

namespace tandem::serving::server {
namespace {

TEST(FlatInferBodyTest, OneRowOfNumbersNullsAndBooleans) {
  auto b = ParseFlatInferBody(
      R"({"model": "fraud", "features": [0.5, -1, 3e2, null, true, false, 18446744073709551615]})");
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(b->model, "fraud");
  EXPECT_EQ(b->version, "");
  ASSERT_EQ(b->features.size(), 7u);
  EXPECT_EQ(b->features[0], 0.5f);
  EXPECT_EQ(b->features[1], -1.0f);
  EXPECT_EQ(b->features[2], 300.0f);
  EXPECT_TRUE(std::isnan(b->features[3]));
  EXPECT_EQ(b->features[4], 1.0f);
  EXPECT_EQ(b->features[5], 0.0f);
  EXPECT_EQ(b->features[6], static_cast<float>(18446744073709551615.0));
}

TEST(FlatInferBodyTest, ValuesConvertAsTheDocumentPathDoes) {
  // Through double, then float: the same float as Json's get<double>().
  const char* body = R"({"features": [0.1, 16777217, 1.0000001192092896, -7.5e-39], "model": "m"})";
  auto b = ParseFlatInferBody(body);
  ASSERT_TRUE(b.has_value());
  Json j = Json::parse(body);
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(b->features[i], static_cast<float>(j["features"][i].get<double>())) << i;
  }
}

TEST(FlatInferBodyTest, VersionAsStringOrInteger) {
  auto s = ParseFlatInferBody(R"({"model": "m", "version": "3", "features": [1]})");
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->version, "3");
  auto i = ParseFlatInferBody(R"({"version": 12, "model": "m", "features": []})");
  ASSERT_TRUE(i.has_value());
  EXPECT_EQ(i->version, "12");
  EXPECT_TRUE(i->features.empty());  // the caller refuses the width
}

TEST(FlatInferBodyTest, EverythingElseIsLeftToTheGeneralParser) {
  for (const char* body : {
           "",
           "[]",
           "{}",
           R"({"model": "m"})",                                 // no features
           R"({"features": [1]})",                              // no model
           R"({"model": 3, "features": [1]})",                  // model not a string
           R"({"model": "m", "features": [[1, 2], [3, 4]]})",   // a matrix
           R"({"model": "m", "features": {"a": 1}})",           // named features
           R"({"model": "m", "features": [{"a": 1}]})",         // rows of names
           R"({"model": "m", "features": ["1"]})",              // a string feature
           R"({"model": "m", "features": 1})",                  // not a list
           R"({"model": "m", "features": [1], "id": 7})",       // another key
           R"({"model": "m", "model": "n", "features": [1]})",  // a duplicate key
           R"({"model": "m", "features": [1], "features": [2]})",
           R"({"model": "m", "version": 1.5, "features": [1]})",  // a fractional version
           R"({"model": "m", "version": null, "features": [1]})",
           R"({"model": "m", "features": [1,]})",  // malformed
           R"({"model": "m", "features": [1]} trailing)",
           R"({"model": "m", "features": [1])",
       }) {
    EXPECT_FALSE(ParseFlatInferBody(body).has_value()) << body;
  }
}

}  // namespace
}  // namespace tandem::serving::server
