#include "compute/jobs/metric_parser.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace tandem::compute::jobs {
namespace {

using ::testing::HasSubstr;

MetricParser Make(const std::vector<MetricDefinition>& defs) {
  auto p = MetricParser::Create(defs);
  EXPECT_TRUE(p.ok()) << p.status();
  return *std::move(p);
}

TEST(MetricParserTest, MatchesCompleteLinesAcrossChunkSplits) {
  MetricParser p = Make({{"train:error", "Train_error=(.*?);"}});
  std::string log = "epoch 1 Train_error=0.5;\nnoise\nepoch 2 Train_error=0.25;\n";
  // Feed one byte at a time: every split point inside a line.
  std::vector<MetricSample> all;
  for (size_t i = 0; i < log.size(); ++i) {
    auto got = p.Feed(log.substr(i, 1), static_cast<int64_t>(i));
    all.insert(all.end(), got.begin(), got.end());
  }
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].name, "train:error");
  EXPECT_DOUBLE_EQ(all[0].value, 0.5);
  EXPECT_EQ(all[0].step, 0);
  EXPECT_EQ(all[0].timestamp_micros, static_cast<int64_t>(log.find('\n')));
  EXPECT_DOUBLE_EQ(all[1].value, 0.25);
  EXPECT_EQ(all[1].step, 1);
}

TEST(MetricParserTest, PartialLineWaitsForNewlineOrFinish) {
  MetricParser p = Make({{"loss", "loss=([0-9.e-]+)"}});
  EXPECT_TRUE(p.Feed("loss=0.", 1).empty());
  EXPECT_TRUE(p.Feed("75", 2).empty());
  auto got = p.Finish(3);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_DOUBLE_EQ(got[0].value, 0.75);
  EXPECT_EQ(got[0].timestamp_micros, 3);
  EXPECT_TRUE(p.Finish(4).empty());  // nothing left
}

TEST(MetricParserTest, MultipleMetricsPerLineAndPerMetricSteps) {
  MetricParser p =
      Make({{"train:auc", "train-auc:([0-9.]+)"}, {"validation:auc", "validation-auc:([0-9.]+)"}});
  auto got = p.Feed(
      "[0]\ttrain-auc:0.81\tvalidation-auc:0.79\n[1]\ttrain-auc:0.85\n"
      "[2]\ttrain-auc:0.9\tvalidation-auc:0.8\n",
      7);
  ASSERT_EQ(got.size(), 5u);
  EXPECT_EQ(got[0].name, "train:auc");
  EXPECT_EQ(got[1].name, "validation:auc");
  EXPECT_EQ(got[1].step, 0);
  EXPECT_EQ(got[2].name, "train:auc");
  EXPECT_EQ(got[2].step, 1);
  EXPECT_EQ(got[3].step, 2);
  EXPECT_EQ(got[4].name, "validation:auc");
  EXPECT_EQ(got[4].step, 1);
  EXPECT_DOUBLE_EQ(got[4].value, 0.8);
}

TEST(MetricParserTest, NumberFormatsAndNonNumericCaptures) {
  MetricParser p = Make({{"m", "m=(\\S*)"}});
  auto got = p.Feed("m=3\nm=-0.5\nm=1e-3\nm=+2\nm=.5\nm=2E+2\n", 0);
  std::vector<double> values;
  for (const auto& s : got) values.push_back(s.value);
  EXPECT_EQ(values, (std::vector<double>{3, -0.5, 1e-3, 2, 0.5, 200}));
  EXPECT_EQ(p.non_numeric_captures(), 0);
  got = p.Feed("m=abc\nm=nan\nm=inf\nm=0x10\nm=0.5,\nm=\n", 0);
  EXPECT_TRUE(got.empty());
  EXPECT_EQ(p.non_numeric_captures(), 6);
  // A match whose first group did not participate is non-numeric too.
  MetricParser q = Make({{"q", "q=(\\d+)?;"}});
  EXPECT_TRUE(q.Feed("q=;\n", 0).empty());
  EXPECT_EQ(q.non_numeric_captures(), 1);
  // Steps continue after skipped captures.
  got = p.Feed("m=7\n", 0);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].step, 6);
}

TEST(MetricParserTest, CarriageReturnEndsALine) {
  MetricParser p = Make({{"loss", "loss=([0-9.]+)"}});
  auto got = p.Feed("10% loss=0.9\r20% loss=0.8\r\n", 0);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_DOUBLE_EQ(got[1].value, 0.8);
}

TEST(MetricParserTest, VeryLongLinesAreTruncatedNotHeld) {
  MetricParser p = Make({{"a", "x=([0-9]+)"}, {"head", "^head=([0-9]+)"}});
  // A metric beyond kMaxLine is not seen; one at the start of the line is.
  std::string line = "head=1" + std::string(1 << 20, 'a') + "x=5\n";
  auto got = p.Feed(line, 0);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].name, "head");
  // The parser resynchronises on the next line.
  got = p.Feed("x=6\n", 0);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].name, "a");
}

TEST(MetricParserTest, BadDefinitionsRefused) {
  auto bad = MetricParser::Create({{"ok", "a=(\\d+)"}, {"broken", "a=(\\d+"}});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("metric_definitions[1] ('broken')"));
  auto nogroup = MetricParser::Create({{"n", "a=\\d+"}});
  EXPECT_THAT(std::string(nogroup.status().message()), HasSubstr("no capture group"));
  auto backref = MetricParser::Create({{"b", "(a)\\1"}});
  EXPECT_FALSE(backref.ok());
  std::vector<MetricDefinition> many(41, MetricDefinition{"m", "m=(\\d+)"});
  EXPECT_THAT(std::string(MetricParser::Create(many).status().message()), HasSubstr("at most 40"));
  many.pop_back();
  EXPECT_TRUE(MetricParser::Create(many).ok());
}

TEST(MetricParserTest, CatastrophicPatternOnHostileLinesFinishes) {
  // An alternation under a star, searched unanchored in a long run of 'a's
  // with no 'c': libstdc++'s std::regex (even in its polynomial mode) took
  // ~6 s per 4 KiB line on the CI machine, so these 100 lines would run far
  // past ctest's timeout; RE2 is linear in the line length.
  MetricParser p = Make({{"evil", "(?:a|aa)*c=([0-9]+)"}, {"loss", "loss=([0-9.]+)"}});
  std::string hostile(MetricParser::kMaxLine - 1, 'a');
  hostile += '\n';
  for (int i = 0; i < 100; ++i) EXPECT_TRUE(p.Feed(hostile, i).empty());
  // The parser still works afterwards, for both definitions.
  auto got = p.Feed("aaac=7 loss=0.5\n", 0);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].name, "evil");
  EXPECT_DOUBLE_EQ(got[0].value, 7);
  EXPECT_DOUBLE_EQ(got[1].value, 0.5);
}

TEST(MetricParserTest, OversizedPatternRefused) {
  auto huge = MetricParser::Create({{"h", "(x{1000}){1000}"}});
  ASSERT_FALSE(huge.ok());
  EXPECT_EQ(huge.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(huge.status().message()), HasSubstr("metric_definitions[0] ('h')"));
}

TEST(MetricParserTest, NoDefinitionsMatchesNothing) {
  MetricParser p = Make({});
  EXPECT_TRUE(p.Feed("loss=1\n", 0).empty());
  EXPECT_TRUE(p.Finish(0).empty());
}

}  // namespace
}  // namespace tandem::compute::jobs
