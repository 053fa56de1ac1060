// What the trainer writes is what the runtime (serving, batch transform)
// loads: the model package reads, the XGBoost flavor loads and the shipped
// self-test passes at its stated tolerance.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "common/json.h"
#include "runtime/load_model.h"
#include "train_xgboost/data_reader.h"
#include "train_xgboost/hyperparameters.h"
#include "train_xgboost/testing/trainer_dir_test.h"
#include "train_xgboost/trainer.h"

namespace tandem::train_xgboost {
namespace {

class RuntimeCompatTest : public TrainerDirTest {
 protected:
  void Train(const HyperparameterMap& hps) {
    auto train = ReadChannel(std::string(TANDEM_EXAMPLES_DATA_DIR) + "/train.csv", "");
    ASSERT_TRUE(train.ok()) << train.status();
    auto valid = ReadChannel(std::string(TANDEM_EXAMPLES_DATA_DIR) + "/validation.csv", "");
    ASSERT_TRUE(valid.ok()) << valid.status();
    auto opts = MakeTrainerOptions(hps, 1);
    ASSERT_TRUE(opts.ok()) << opts.status();
    auto r = TrainAndSave(*opts, *train, *valid, dir_, log_);
    ASSERT_TRUE(r.ok()) << r.status();
  }
};

TEST_F(RuntimeCompatTest, BinaryModelLoadsAndPassesItsSelfTest) {
  Train({{"num_round", "10"}, {"max_depth", "4"}});
  auto model = runtime::LoadModel(dir_);
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_EQ((*model)->self_test_rows(), 20u);
  EXPECT_EQ((*model)->package().flavor, "xgboost");
  EXPECT_EQ((*model)->package().num_features, 20);
}

TEST_F(RuntimeCompatTest, MultiClassModelLoadsAndPassesItsSelfTest) {
  Train({{"num_round", "5"}, {"objective", "multi:softprob"}, {"num_class", "2"}});
  auto model = runtime::LoadModel(dir_);
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_EQ((*model)->self_test_rows(), 20u);
}

TEST_F(RuntimeCompatTest, TamperedSelfTestFailsTheLoad) {
  Train({{"num_round", "3"}});
  // Shift the first expected output by 0.01: the runtime must notice.
  std::string path = dir_ + "/self_test.jsonl";
  std::ifstream in(path);
  std::string first, rest, line;
  std::getline(in, first);
  while (std::getline(in, line)) rest += line + "\n";
  in.close();
  auto j = ParseJson(first);
  ASSERT_TRUE(j.ok()) << first;
  (*j)["output"][0] = (*j)["output"][0].get<double>() + 0.01;
  first = j->dump();
  std::ofstream(path) << first << "\n" << rest;
  auto model = runtime::LoadModel(dir_);
  ASSERT_FALSE(model.ok());
  EXPECT_EQ(model.status().code(), absl::StatusCode::kFailedPrecondition) << model.status();
  EXPECT_THAT(std::string(model.status().message()), ::testing::HasSubstr("self_test.jsonl"));
}

}  // namespace
}  // namespace tandem::train_xgboost
