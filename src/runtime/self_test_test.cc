#include "runtime/self_test.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "runtime/load_model.h"
#include "runtime/testing/xgboost_test_util.h"

namespace tandem::runtime {
namespace {

using ::testing::HasSubstr;

std::string Message(const Status& s) { return std::string(s.message()); }

TEST(SelfTest, Parses) {
  auto cases = ParseSelfTest(
      "{\"input\": [1, null, 2.5], \"output\": [0.25]}\n\n"
      "{\"input\": [3], \"output\": [0.1, 0.9], \"tolerance\": 1e-6}\n",
      "t.jsonl");
  ASSERT_TRUE(cases.ok()) << cases.status();
  ASSERT_EQ(cases->size(), 2u);
  EXPECT_EQ((*cases)[0].line, 1);
  EXPECT_TRUE(std::isnan((*cases)[0].input[1]));
  EXPECT_EQ((*cases)[0].tolerance, kDefaultSelfTestTolerance);
  EXPECT_EQ((*cases)[1].line, 3);
  EXPECT_EQ((*cases)[1].output.size(), 2u);
  EXPECT_EQ((*cases)[1].tolerance, 1e-6);
}

TEST(SelfTest, MalformedLinesNamed) {
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"{\"input\": [1], \"output\": [1]}\n{oops\n", "line 2"},
      {"[1, 2]\n", "not a JSON object"},
      {"{\"output\": [1]}\n", "'input'"},
      {"{\"input\": [\"a\"], \"output\": [1]}\n", "'input'"},
      {"{\"input\": [1], \"output\": []}\n", "'output'"},
      {"{\"input\": [1], \"output\": [1], \"tolerance\": -1}\n", "'tolerance'"},
  };
  for (const auto& [text, expected] : bad) {
    auto cases = ParseSelfTest(text, "t.jsonl");
    EXPECT_EQ(cases.status().code(), StatusCode::kInvalidArgument) << text;
    EXPECT_THAT(Message(cases.status()), HasSubstr(expected)) << text;
    EXPECT_THAT(Message(cases.status()), HasSubstr("t.jsonl"));
  }
}

// A package with a self-test written from XGBoost's own predictions.
class SelfTestLoad : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::TrainSpec spec;
    spec.objective = "multi:softprob";
    spec.num_class = 3;
    spec.rounds = 10;
    auto model = testing::XgbModel::Train(spec);
    ASSERT_TRUE(model.ok()) << model.status();
    ASSERT_TRUE(model->Save(dir_.File("model.json")).ok());
    const std::vector<float> rows = testing::RandomRows(8, 20, 0.2, 21);
    auto ref = model->PredictDense(rows.data(), 8, 20);
    ASSERT_TRUE(ref.ok());
    for (size_t r = 0; r < 8; ++r) {
      std::vector<std::string> in, out;
      for (size_t f = 0; f < 20; ++f) {
        float v = rows[r * 20 + f];
        in.push_back(std::isnan(v) ? "null" : absl::StrFormat("%.9g", v));
      }
      for (size_t k = 0; k < 3; ++k) out.push_back(absl::StrFormat("%.9g", (*ref)[r * 3 + k]));
      lines_.push_back(absl::StrCat("{\"input\":[", absl::StrJoin(in, ","), "],\"output\":[",
                                    absl::StrJoin(out, ","), "],\"tolerance\":1e-6}"));
    }
  }
  void WriteSelfTest() { dir_.Write("self_test.jsonl", absl::StrJoin(lines_, "\n") + "\n"); }

  testing::TempDir dir_;
  std::vector<std::string> lines_;
};

TEST_F(SelfTestLoad, PassingSelfTestLoads) {
  WriteSelfTest();
  auto loaded = LoadModel(dir_.path());
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ((*loaded)->self_test_rows(), 8u);
}

TEST_F(SelfTestLoad, OneWrongExpectedValueFailsTheLoadNamingTheRow) {
  const std::string key = "\"output\":[";
  size_t at = lines_[3].find(key) + key.size();
  lines_[3].replace(at, lines_[3].find(',', at) - at, "7.5");  // not a probability
  WriteSelfTest();
  auto loaded = LoadModel(dir_.path());
  ASSERT_EQ(loaded.status().code(), StatusCode::kFailedPrecondition) << loaded.status();
  EXPECT_THAT(Message(loaded.status()), HasSubstr("row 3 (line 4)"));
  EXPECT_THAT(Message(loaded.status()), HasSubstr("output[0]"));
  EXPECT_THAT(Message(loaded.status()), HasSubstr("failed its self-test"));
}

TEST_F(SelfTestLoad, WrongOutputCountFails) {
  lines_[0] = R"({"input": [1, 2], "output": [0.5]})";
  WriteSelfTest();
  auto loaded = LoadModel(dir_.path());
  ASSERT_EQ(loaded.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(Message(loaded.status()), HasSubstr("row 0"));
  EXPECT_THAT(Message(loaded.status()), HasSubstr("expects 1 outputs"));
}

TEST_F(SelfTestLoad, MalformedSelfTestFailsTheLoad) {
  lines_[5] = "not json";
  WriteSelfTest();
  auto loaded = LoadModel(dir_.path());
  ASSERT_EQ(loaded.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(loaded.status()), HasSubstr("line 6"));
}

}  // namespace
}  // namespace tandem::runtime
