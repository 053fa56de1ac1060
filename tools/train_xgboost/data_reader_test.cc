#include "train_xgboost/data_reader.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "common/testing/temp_dir.h"

namespace tandem::train_xgboost {
namespace {

using ::testing::HasSubstr;

using tandem::testing::TempDir;

TEST(ParseCsv, LabelFirstNoHeaderEmptyFieldsAreMissing) {
  auto d = ParseCsv("1,0.5,,3\r\n0, -2 ,4,nan\n\n", "t.csv");
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->num_rows, 2u);
  EXPECT_EQ(d->num_features, 3u);
  EXPECT_EQ(d->labels, (std::vector<float>{1, 0}));
  EXPECT_FLOAT_EQ(d->Row(0)[0], 0.5f);
  EXPECT_TRUE(std::isnan(d->Row(0)[1]));
  EXPECT_FLOAT_EQ(d->Row(0)[2], 3.0f);
  EXPECT_FLOAT_EQ(d->Row(1)[0], -2.0f);
  EXPECT_TRUE(std::isnan(d->Row(1)[2]));
  EXPECT_FALSE(d->variable_width);
}

TEST(ParseCsv, TrailingEmptyFieldIsMissing) {
  auto d = ParseCsv("1,2,\n", "t.csv");
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->num_features, 2u);
  EXPECT_TRUE(std::isnan(d->Row(0)[1]));
}

TEST(ParseCsv, RejectsHeaderRow) {
  auto d = ParseCsv("label,f0,f1\n1,2,3\n", "t.csv");
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(d.status().message()), HasSubstr("t.csv:1: looks like a header"));
}

TEST(ParseCsv, RejectsRaggedRowsWithLineNumber) {
  auto d = ParseCsv("1,2,3\n0,1\n", "t.csv");
  ASSERT_FALSE(d.ok());
  EXPECT_THAT(std::string(d.status().message()),
              HasSubstr("t.csv:2: expected 3 fields (label + features), found 2"));
}

TEST(ParseCsv, RejectsNonNumbersAndInfinities) {
  auto d = ParseCsv("1,2,3\n0,abc,1\n", "t.csv");
  ASSERT_FALSE(d.ok());
  EXPECT_THAT(std::string(d.status().message()), HasSubstr("t.csv:2: column 2: 'abc'"));
  d = ParseCsv("1,inf,3\n", "t.csv");
  ASSERT_FALSE(d.ok());
  EXPECT_THAT(std::string(d.status().message()), HasSubstr("column 2: 'inf'"));
}

TEST(ParseCsv, RejectsMissingLabelAndLabelOnlyRows) {
  auto d = ParseCsv("1,2\n,3\n", "t.csv");
  ASSERT_FALSE(d.ok());
  EXPECT_THAT(std::string(d.status().message()), HasSubstr("t.csv:2: column 1: label ''"));
  d = ParseCsv("1\n0\n", "t.csv");
  ASSERT_FALSE(d.ok());
  EXPECT_THAT(std::string(d.status().message()), HasSubstr("at least one feature"));
}

TEST(ParseLibSvm, ZeroBasedIndicesAbsentIsMissing) {
  auto d = ParseLibSvm("1 0:0.5 2:0\n0 1:-1 qid:3 # comment\n# only a comment\n", "t.libsvm");
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->num_rows, 2u);
  EXPECT_EQ(d->num_features, 3u);
  EXPECT_TRUE(d->variable_width);
  EXPECT_FLOAT_EQ(d->Row(0)[0], 0.5f);
  EXPECT_TRUE(std::isnan(d->Row(0)[1]));
  EXPECT_FLOAT_EQ(d->Row(0)[2], 0.0f);
  EXPECT_TRUE(std::isnan(d->Row(1)[0]));
  EXPECT_FLOAT_EQ(d->Row(1)[1], -1.0f);
}

TEST(ParseLibSvm, RejectsBadTokens) {
  EXPECT_THAT(std::string(ParseLibSvm("1 3\n", "t").status().message()),
              HasSubstr("t:1: '3' is not an index:value pair"));
  EXPECT_THAT(std::string(ParseLibSvm("1 0:1\n1 -1:2\n", "t").status().message()),
              HasSubstr("t:2: '-1:2': the index"));
  EXPECT_THAT(std::string(ParseLibSvm("1 0:x\n", "t").status().message()),
              HasSubstr("the value is not a finite number"));
  EXPECT_THAT(std::string(ParseLibSvm("1 99999999:1\n", "t").status().message()),
              HasSubstr("feature index too large"));
  EXPECT_THAT(std::string(ParseLibSvm("yes 0:1\n", "t").status().message()),
              HasSubstr("label 'yes'"));
}

TEST(FormatOf, ContentTypeWinsOverExtension) {
  EXPECT_EQ(*FormatOf("a.csv", ""), DataFormat::kCsv);
  EXPECT_EQ(*FormatOf("a.LIBSVM", ""), DataFormat::kLibSvm);
  EXPECT_EQ(*FormatOf("a.svm", ""), DataFormat::kLibSvm);
  EXPECT_EQ(*FormatOf("a.data", "text/csv; label_size=1"), DataFormat::kCsv);
  EXPECT_EQ(*FormatOf("a.csv", "text/libsvm"), DataFormat::kLibSvm);
  EXPECT_EQ(*FormatOf("a.csv", "application/octet-stream"), DataFormat::kCsv);
  EXPECT_THAT(std::string(FormatOf("a.parquet", "").status().message()),
              HasSubstr("cannot tell the format of a.parquet"));
  EXPECT_THAT(std::string(FormatOf("a.csv", "application/x-parquet").status().message()),
              HasSubstr("unsupported content type 'application/x-parquet'"));
}

TEST(ReadChannel, FileAndDirectory) {
  TempDir dir;
  std::string one = dir.Write("a.csv", "1,1,2\n");
  dir.Write("b.csv", "0,3,\n");
  dir.Write("_SUCCESS", "");
  dir.Write(".hidden", "junk");
  auto d = ReadChannel(one, "");
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->num_rows, 1u);
  d = ReadChannel(dir.path(), "");
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->num_rows, 2u);
  EXPECT_EQ(d->labels, (std::vector<float>{1, 0}));
  EXPECT_TRUE(std::isnan(d->Row(1)[1]));
}

TEST(ReadChannel, LibSvmFilesOfDifferentWidthsAreWidened) {
  TempDir dir;
  dir.Write("a.libsvm", "1 0:1\n");
  dir.Write("b.libsvm", "0 3:2\n");
  auto d = ReadChannel(dir.path(), "");
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->num_features, 4u);
  EXPECT_FLOAT_EQ(d->Row(0)[0], 1.0f);
  EXPECT_TRUE(std::isnan(d->Row(0)[3]));
  EXPECT_FLOAT_EQ(d->Row(1)[3], 2.0f);
}

TEST(ReadChannel, Errors) {
  TempDir dir;
  auto missing = ReadChannel(dir.path() + "/nope", "");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr("/nope does not exist"));
  EXPECT_THAT(std::string(ReadChannel(dir.path(), "").status().message()), HasSubstr("no files"));
  dir.Write("empty.csv", "\n");
  EXPECT_THAT(std::string(ReadChannel(dir.path(), "").status().message()),
              HasSubstr("no data rows"));
  dir.Write("x.csv", "1,2,3\n");
  dir.Write("y.csv", "1,2\n");
  EXPECT_THAT(std::string(ReadChannel(dir.path(), "").status().message()),
              HasSubstr("y.csv has 1 features, expected 2"));
}

}  // namespace
}  // namespace tandem::train_xgboost
