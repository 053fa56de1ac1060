#include "train_xgboost/hyperparameters.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace tandem::train_xgboost {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::Pair;

std::string WriteTemp(const std::string& text) {
  std::string p = (std::filesystem::temp_directory_path() /
                   ("train_xgboost_hps_" + std::to_string(::getpid()) + "_" +
                    ::testing::UnitTest::GetInstance()->current_test_info()->name() + ".json"))
                      .string();
  std::ofstream(p) << text;
  return p;
}

TEST(ReadHyperparameterFile, StringsNumbersAndBooleans) {
  std::string p = WriteTemp(R"({"num_round":"10","eta":0.5,"verbose":true})");
  auto hps = ReadHyperparameterFile(p);
  std::filesystem::remove(p);
  ASSERT_TRUE(hps.ok()) << hps.status();
  EXPECT_EQ((*hps)["num_round"], "10");
  EXPECT_EQ((*hps)["eta"], "0.5");
  EXPECT_EQ((*hps)["verbose"], "true");
}

TEST(ReadHyperparameterFile, MissingFileIsEmptyMalformedIsError) {
  auto none = ReadHyperparameterFile("/nonexistent/hyperparameters.json");
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
  std::string p = WriteTemp("{not json");
  auto bad = ReadHyperparameterFile(p);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr(p));
  std::filesystem::remove(p);
  p = WriteTemp(R"({"a":{"b":1}})");
  EXPECT_THAT(std::string(ReadHyperparameterFile(p).status().message()),
              HasSubstr("hyperparameter a must be a string"));
  std::filesystem::remove(p);
}

TEST(ParseHyperparameterArgs, SageMakerStyles) {
  auto hps = ParseHyperparameterArgs({"--eta", "0.1", "--max_depth=4", "-k", "v", "--alpha", "-1"});
  ASSERT_TRUE(hps.ok()) << hps.status();
  EXPECT_EQ(*hps,
            (HyperparameterMap{{"eta", "0.1"}, {"max_depth", "4"}, {"k", "v"}, {"alpha", "-1"}}));
}

TEST(ParseHyperparameterArgs, Errors) {
  EXPECT_THAT(std::string(ParseHyperparameterArgs({"--eta"}).status().message()),
              HasSubstr("'--eta' has no value"));
  EXPECT_THAT(std::string(ParseHyperparameterArgs({"train.csv"}).status().message()),
              HasSubstr("unexpected argument 'train.csv'"));
  EXPECT_THAT(std::string(ParseHyperparameterArgs({"--=3"}).status().message()),
              HasSubstr("has no key"));
}

TEST(MakeTrainerOptions, Defaults) {
  auto o = MakeTrainerOptions({}, 0);
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->num_round, 100);
  EXPECT_EQ(o->early_stopping_rounds, 0);
  EXPECT_EQ(o->objective, "binary:logistic");
  EXPECT_EQ(o->self_test_rows, 20);
  EXPECT_EQ(o->booster_params,
            (std::vector<std::pair<std::string, std::string>>{{"objective", "binary:logistic"}}));
}

TEST(MakeTrainerOptions, SplitsTrainerKeysFromBoosterParams) {
  auto o = MakeTrainerOptions({{"num_round", "10"},
                               {"early_stopping_rounds", "3"},
                               {"objective", "reg:squarederror"},
                               {"eval_metric", "rmse, mae"},
                               {"max_depth", "4"},
                               {"sagemaker_program", "train.py"},
                               {"_tuning_objective_metric", "validation:auc"}},
                              2);
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->num_round, 10);
  EXPECT_EQ(o->early_stopping_rounds, 3);
  EXPECT_EQ(o->eval_metrics, (std::vector<std::string>{"rmse", "mae"}));
  const auto& p = o->booster_params;
  EXPECT_THAT(p, Contains(Pair("objective", "reg:squarederror")));
  EXPECT_THAT(p, Contains(Pair("nthread", "2")));
  EXPECT_THAT(p, Contains(Pair("max_depth", "4")));
  EXPECT_THAT(p, Contains(Pair("eval_metric", "rmse")));
  EXPECT_THAT(p, Contains(Pair("eval_metric", "mae")));
  EXPECT_THAT(p, Not(Contains(Pair("num_round", "10"))));
  EXPECT_THAT(p, Not(Contains(Pair("sagemaker_program", "train.py"))));
  EXPECT_THAT(p, Not(Contains(Pair("_tuning_objective_metric", "validation:auc"))));
}

TEST(MakeTrainerOptions, ExplicitNthreadWins) {
  auto o = MakeTrainerOptions({{"nthread", "1"}}, 8);
  ASSERT_TRUE(o.ok());
  EXPECT_THAT(o->booster_params, Contains(Pair("nthread", "1")));
  EXPECT_THAT(o->booster_params, Not(Contains(Pair("nthread", "8"))));
  EXPECT_EQ(o->nthread, 1);
  EXPECT_EQ(MakeTrainerOptions({}, 8)->nthread, 8);
  EXPECT_EQ(MakeTrainerOptions({}, 0)->nthread, 0);
  EXPECT_THAT(std::string(MakeTrainerOptions({{"nthread", "many"}}, 0).status().message()),
              HasSubstr("hyperparameter nthread must be an integer"));
}

TEST(MakeTrainerOptions, RejectsIllTypedTrainerKeys) {
  for (const char* bad : {"abc", "0", "-3", "1.5", ""}) {
    auto o = MakeTrainerOptions({{"num_round", bad}}, 0);
    ASSERT_FALSE(o.ok()) << bad;
    EXPECT_THAT(std::string(o.status().message()),
                HasSubstr("hyperparameter num_round must be an integer"));
  }
  EXPECT_FALSE(MakeTrainerOptions({{"early_stopping_rounds", "-1"}}, 0).ok());
  EXPECT_FALSE(MakeTrainerOptions({{"self_test_rows", "5000"}}, 0).ok());
  EXPECT_FALSE(MakeTrainerOptions({{"objective", ""}}, 0).ok());
}

TEST(MakeTrainerOptions, TrainFractionIsATrainerKeyInZeroToOne) {
  EXPECT_EQ(MakeTrainerOptions({}, 0)->train_fraction, 1.0);
  auto o = MakeTrainerOptions({{"train_fraction", "0.25"}}, 0);
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->train_fraction, 0.25);
  EXPECT_THAT(o->booster_params, Not(Contains(Pair("train_fraction", "0.25"))));
  for (const char* bad : {"0", "-0.5", "1.5", "abc", "", "0.5x", "nan"}) {
    auto b = MakeTrainerOptions({{"train_fraction", bad}}, 0);
    ASSERT_FALSE(b.ok()) << bad;
    EXPECT_THAT(std::string(b.status().message()),
                HasSubstr("hyperparameter train_fraction must be a number in (0, 1]"));
  }
}

}  // namespace
}  // namespace tandem::train_xgboost
