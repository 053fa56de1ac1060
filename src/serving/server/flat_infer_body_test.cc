#include "serving/server/flat_infer_body.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>

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
           R"({"model": "m", "features": [1] ,})",
           R"({, "model": "m", "features": [1]})",
           R"({"model": "m" "features": [1]})",
           R"({"model": "m", "features": [1 2]})",
           R"({"model": "m", "features": [01]})",  // not JSON numbers
           R"({"model": "m", "features": [1.]})",
           R"({"model": "m", "features": [.5]})",
           R"({"model": "m", "features": [+1]})",
           R"({"model": "m", "features": [1e]})",
           R"({"model": "m", "features": [-]})",
           R"({"model": "m", "features": [NaN]})",
           R"({"model": "m", "features": [Infinity]})",
           R"({"model": "m", "features": [nul]})",
           R"({"model": "m", "features": [truex]})",
           R"({"model": "m", "features": [1e400]})",  // out of double's range
           R"({"model": "m", "features": [1e-400]})",
           R"({"model": "m\u0031", "features": [1]})",  // escapes: the general parser
           R"({"mod\u0065l": "m", "features": [1]})",
           "{\"model\": \"m\xc3\xa9\", \"features\": [1]}",  // non-ASCII
           "{\"model\": \"m\x01\", \"features\": [1]}",      // a control character
           R"({"model": "m", "version": 18446744073709551616, "features": [1]})",
           R"({"model": "m", "version": true, "features": [1]})",
           R"({"model": "m", "version": "1", "version": "2", "features": [1]})",
           R"({"model": "m", "features": [1]}})",
           R"({"model": "m", "features": [1]}{})",
       }) {
    EXPECT_FALSE(ParseFlatInferBody(body).has_value()) << body;
  }
}

// What the general path makes of a body of this shape (a JSON document).
FlatInferBody Reference(const std::string& body) {
  Json j = Json::parse(body);
  FlatInferBody r;
  r.model = j["model"].get<std::string>();
  if (j.contains("version")) {
    r.version = j["version"].is_string() ? j["version"].get<std::string>() : j["version"].dump();
  }
  for (const Json& v : j["features"]) {
    r.features.push_back(v.is_null()      ? NAN
                         : v.is_boolean() ? (v.get<bool>() ? 1.0f : 0.0f)
                                          : static_cast<float>(v.get<double>()));
  }
  return r;
}

TEST(FlatInferBodyTest, SameRowsAsTheDocumentPathForManyNumberSpellings) {
  std::mt19937_64 rng(42);
  const char* formats[] = {"%g", "%.17g", "%e", "%.3E", "%.0f", "%.9f", "%a"};
  std::uniform_real_distribution<double> mag(-45, 40);
  const char* spaces[] = {"", " ", "\n", " \t\r\n "};
  int checked = 0;
  for (int n = 0; n < 2000; ++n) {
    std::string features;
    const int width = static_cast<int>(rng() % 30);
    for (int i = 0; i < width; ++i) {
      if (i > 0) features += std::string(",") + spaces[rng() % 4];
      char buf[64];
      const uint64_t kind = rng() % 10;
      if (kind == 0) {
        snprintf(buf, sizeof(buf), "%lld", static_cast<long long>(rng()));  // int64
      } else if (kind == 1) {
        snprintf(buf, sizeof(buf), "%llu", static_cast<unsigned long long>(rng()));
      } else if (kind == 2) {
        snprintf(buf, sizeof(buf), "%s", rng() % 2 ? "-0" : "0");
      } else if (kind == 3) {
        snprintf(buf, sizeof(buf), "%s", rng() % 3 == 0 ? "null" : rng() % 2 ? "true" : "false");
      } else if (kind == 4) {
        snprintf(buf, sizeof(buf), "%s",
                 rng() % 2 ? "99999999999999999999999" : "-9223372036854775809");
      } else {
        const double v = (rng() % 2 ? -1 : 1) * std::pow(10.0, mag(rng));
        const char* f = formats[rng() % 7];
        if (std::strcmp(f, "%a") == 0) f = "%.12g";  // hex floats are not JSON
        snprintf(buf, sizeof(buf), f, v);
      }
      features += buf;
    }
    std::string body = std::string("{") + spaces[rng() % 4] + "\"features\":" + spaces[rng() % 4] +
                       "[" + features + "]," + "\"model\": \"m-" + std::to_string(n) + "\"";
    if (rng() % 3 == 0)
      body += rng() % 2 ? ", \"version\": " + std::to_string(n) : ", \"version\": \"v\"";
    body += std::string(spaces[rng() % 4]) + "}" + spaces[rng() % 4];
    const FlatInferBody want = Reference(body);
    auto got = ParseFlatInferBody(body);
    ASSERT_TRUE(got.has_value()) << body;
    EXPECT_EQ(got->model, want.model);
    EXPECT_EQ(got->version, want.version);
    ASSERT_EQ(got->features.size(), want.features.size()) << body;
    for (size_t i = 0; i < want.features.size(); ++i) {
      // Bit for bit: NaN for null, the sign of zero, the rounding.
      EXPECT_EQ(std::memcmp(&got->features[i], &want.features[i], sizeof(float)), 0)
          << body << " [" << i << "]: " << got->features[i] << " vs " << want.features[i];
    }
    ++checked;
  }
  EXPECT_EQ(checked, 2000);
}

}  // namespace
}  // namespace tandem::serving::server
