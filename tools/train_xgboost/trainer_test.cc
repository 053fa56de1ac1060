#include "train_xgboost/trainer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cstdint>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>

#include "common/json.h"
#include "common/yaml.h"
#include "train_xgboost/testing/trainer_dir_test.h"

namespace tandem::train_xgboost {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

// A separable toy problem: label = f0 > 0, with a missing value in f1.
Dataset Toy(size_t rows, bool flip = false) {
  Dataset d;
  d.num_rows = rows;
  d.num_features = 3;
  for (size_t i = 0; i < rows; ++i) {
    float f0 = static_cast<float>(i % 7) - 3.0f;
    d.features.push_back(f0);
    d.features.push_back(i % 5 == 0 ? std::numeric_limits<float>::quiet_NaN()
                                    : static_cast<float>(i % 3));
    d.features.push_back(static_cast<float>(i) / rows);
    d.labels.push_back((f0 > 0) != flip ? 1.0f : 0.0f);
  }
  return d;
}

class TrainerTest : public TrainerDirTest {
 protected:
  static std::string Read(const std::string& p) {
    std::ifstream in(p);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
  }
};

TEST_F(TrainerTest, WritesModelSelfTestAndMetadata) {
  auto opts = MakeTrainerOptions({{"num_round", "4"},
                                  {"eval_metric", "logloss,auc"},
                                  {"self_test_rows", "5"},
                                  {"nthread", "1"}},
                                 0);
  ASSERT_TRUE(opts.ok());
  auto r = TrainAndSave(*opts, Toy(100), Toy(30), dir_ + "/model", log_);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->rounds, 4);
  EXPECT_EQ(r->self_test_rows, 5u);
  EXPECT_EQ(r->outputs_per_row, 1u);
  std::string log = Log();
  EXPECT_THAT(log, StartsWith("[0]\ttrain-logloss:"));
  // The Python package's format: 5 decimals per value.
  EXPECT_THAT(log, ::testing::ContainsRegex("^\\[0\\]\ttrain-logloss:[0-9]\\.[0-9]{5}\t"
                                            "train-auc:[0-9]\\.[0-9]{5}\tvalidation-logloss:"
                                            "[0-9]\\.[0-9]{5}\tvalidation-auc:[0-9]\\.[0-9]{5}\n"));
  EXPECT_THAT(log, HasSubstr("\tvalidation-auc:"));
  EXPECT_THAT(log, HasSubstr("\n[3]\ttrain-logloss:"));

  EXPECT_TRUE(std::filesystem::exists(dir_ + "/model/model.json"));
  std::istringstream lines(Read(dir_ + "/model/self_test.jsonl"));
  std::string line;
  int count = 0, nulls = 0;
  while (std::getline(lines, line)) {
    auto j = ParseJson(line);
    ASSERT_TRUE(j.ok()) << line;
    ASSERT_EQ((*j)["input"].size(), 3u);
    ASSERT_EQ((*j)["output"].size(), 1u);
    double p = (*j)["output"][0].get<double>();
    EXPECT_GT(p, 0.0);
    EXPECT_LT(p, 1.0);
    EXPECT_EQ((*j)["tolerance"].get<double>(), 1e-6);
    nulls += (*j)["input"][1].is_null();
    ++count;
  }
  EXPECT_EQ(count, 5);
  EXPECT_GT(nulls, 0);  // row 0 has f1 missing

  auto meta = ReadYamlFile(dir_ + "/model/tandem-model.yaml");
  ASSERT_TRUE(meta.ok()) << meta.status();
  EXPECT_EQ((*meta)["flavor"], "xgboost");
  EXPECT_EQ((*meta)["model_file"], "model.json");
  EXPECT_EQ((*meta)["objective"], "binary:logistic");
  EXPECT_EQ((*meta)["num_features"], 3);
  EXPECT_EQ((*meta)["self_test"], "self_test.jsonl");
  EXPECT_EQ((*meta)["signature"]["inputs"][0]["shape"], Json::array({-1, 3}));
  EXPECT_EQ((*meta)["signature"]["outputs"][0]["shape"], Json::array({-1, 1}));
}

TEST_F(TrainerTest, EarlyStoppingCutsBackToBestRound) {
  // Validation labels are inverted, so validation logloss is best at round 0.
  auto opts = MakeTrainerOptions(
      {{"num_round", "50"}, {"early_stopping_rounds", "2"}, {"eval_metric", "logloss"}}, 1);
  ASSERT_TRUE(opts.ok());
  auto r = TrainAndSave(*opts, Toy(100), Toy(30, /*flip=*/true), dir_, log_);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->best_iteration, 0);
  EXPECT_EQ(r->rounds, 1);
  std::string log = Log();
  EXPECT_THAT(log, HasSubstr("\n[2]\t"));
  EXPECT_THAT(log, Not(HasSubstr("\n[3]\t")));
  EXPECT_THAT(log, HasSubstr("Stopping. Best iteration: [0]"));
}

TEST_F(TrainerTest, MultiClassOutputsOneColumnPerClass) {
  Dataset d = Toy(60);
  for (size_t i = 0; i < d.num_rows; ++i) d.labels[i] = static_cast<float>(i % 3);
  auto opts = MakeTrainerOptions(
      {{"num_round", "2"}, {"objective", "multi:softprob"}, {"num_class", "3"}}, 1);
  ASSERT_TRUE(opts.ok());
  auto r = TrainAndSave(*opts, d, std::nullopt, dir_, log_);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->outputs_per_row, 3u);
  auto meta = ReadYamlFile(dir_ + "/tandem-model.yaml");
  ASSERT_TRUE(meta.ok());
  EXPECT_EQ((*meta)["signature"]["outputs"][0]["shape"], Json::array({-1, 3}));
}

TEST_F(TrainerTest, XGBoostRejectionsAreInvalidArgument) {
  auto opts = MakeTrainerOptions({{"num_round", "2"}, {"max_depth", "deep"}}, 1);
  ASSERT_TRUE(opts.ok());
  auto r = TrainAndSave(*opts, Toy(50), std::nullopt, dir_, log_);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("max_depth"));
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/model.json"));

  opts = MakeTrainerOptions({{"num_round", "2"}, {"objective", "binary:nonsense"}}, 1);
  r = TrainAndSave(*opts, Toy(50), std::nullopt, dir_, log_);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("binary:nonsense"));

  Dataset bad_labels = Toy(50);
  bad_labels.labels[3] = 7;
  opts = MakeTrainerOptions({{"num_round", "2"}}, 1);
  r = TrainAndSave(*opts, bad_labels, std::nullopt, dir_, log_);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("label"));
}

TEST_F(TrainerTest, InputMismatchesAreInvalidArgument) {
  auto opts = MakeTrainerOptions({{"num_round", "2"}}, 1);
  Dataset narrow = Toy(20);
  narrow.Widen(4);  // CSV-like data of another width
  auto r = TrainAndSave(*opts, Toy(50), narrow, dir_, log_);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(std::string(r.status().message()),
              HasSubstr("validation channel has 4 features but the train channel has 3"));

  opts = MakeTrainerOptions({{"num_round", "2"}, {"early_stopping_rounds", "1"}}, 1);
  r = TrainAndSave(*opts, Toy(50), std::nullopt, dir_, log_);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("needs a validation channel"));
}

TEST_F(TrainerTest, LibSvmValidationIsWidenedToTrainWidth) {
  auto opts = MakeTrainerOptions({{"num_round", "2"}}, 1);
  Dataset valid = Toy(20);
  valid.variable_width = true;
  Dataset train = Toy(50);
  train.Widen(5);
  auto r = TrainAndSave(*opts, train, valid, dir_, log_);
  ASSERT_TRUE(r.ok()) << r.status();
  auto meta = ReadYamlFile(dir_ + "/tandem-model.yaml");
  EXPECT_EQ((*meta)["num_features"], 5);
}

StatusOr<TrainerOptions> CheckpointOptions(int rounds, const std::string& dir, int interval = 10) {
  auto opts = MakeTrainerOptions({{"num_round", std::to_string(rounds)},
                                  {"eval_metric", "logloss"},
                                  {"self_test_rows", "5"},
                                  {"nthread", "1"},
                                  {"checkpoint_interval", std::to_string(interval)}},
                                 0);
  if (opts.ok()) opts->checkpoint_dir = dir;
  return opts;
}

TEST_F(TrainerTest, ResumesFromItsCheckpointAndMatchesAnUninterruptedRun) {
  const std::string ckpt = dir_ + "/ckpt";
  auto three = CheckpointOptions(3, ckpt);
  ASSERT_TRUE(three.ok());
  ASSERT_TRUE(TrainAndSave(*three, Toy(100), Toy(30), dir_ + "/m3", log_).ok());
  ASSERT_TRUE(std::filesystem::exists(ckpt + "/" + kCheckpointFile));
  EXPECT_FALSE(std::filesystem::exists(ckpt + "/xgboost-checkpoint.tmp.json"));

  std::FILE* resumed_log = std::tmpfile();
  auto six = CheckpointOptions(6, ckpt);
  auto r = TrainAndSave(*six, Toy(100), Toy(30), dir_ + "/m6", resumed_log);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->rounds, 6);
  std::rewind(resumed_log);
  std::string text;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), resumed_log)) > 0) text.append(buf, n);
  std::fclose(resumed_log);
  EXPECT_THAT(text, HasSubstr("at round 3"));
  EXPECT_THAT(text, Not(HasSubstr("[2]\t")));  // rounds 0-2 are not trained again
  EXPECT_THAT(text, HasSubstr("[5]\t"));

  // The same model as six rounds in one go.
  auto fresh = CheckpointOptions(6, "");
  ASSERT_TRUE(TrainAndSave(*fresh, Toy(100), Toy(30), dir_ + "/fresh", log_).ok());
  EXPECT_EQ(Read(dir_ + "/m6/self_test.jsonl"), Read(dir_ + "/fresh/self_test.jsonl"));
}

TEST_F(TrainerTest, CheckpointIsWrittenEveryIntervalAndAtTheEnd) {
  const std::string ckpt = dir_ + "/ckpt";
  auto opts = CheckpointOptions(5, ckpt, /*interval=*/2);
  ASSERT_TRUE(opts.ok());
  ASSERT_TRUE(TrainAndSave(*opts, Toy(100), Toy(30), dir_ + "/m", log_).ok());
  auto saved = ParseJson(Read(ckpt + "/" + kCheckpointFile));
  ASSERT_TRUE(saved.ok());
  // Five trees in the final checkpoint.
  EXPECT_EQ((*saved)["learner"]["gradient_booster"]["model"]["trees"].size(), 5u);
  // Nothing left to train: the restored model's metrics are printed, the
  // longer checkpoint is cut back when fewer rounds are asked for.
  auto same = CheckpointOptions(5, ckpt);
  std::FILE* again = std::tmpfile();
  auto r = TrainAndSave(*same, Toy(100), Toy(30), dir_ + "/again", again);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->rounds, 5);
  std::fclose(again);
  auto shorter = CheckpointOptions(2, ckpt);
  auto cut = TrainAndSave(*shorter, Toy(100), Toy(30), dir_ + "/cut", log_);
  ASSERT_TRUE(cut.ok()) << cut.status();
  EXPECT_EQ(cut->rounds, 2);
  auto model = ParseJson(Read(dir_ + "/cut/model.json"));
  ASSERT_TRUE(model.ok());
  EXPECT_EQ((*model)["learner"]["gradient_booster"]["model"]["trees"].size(), 2u);
  // The longer checkpoint is kept: the next run may ask for more rounds.
  auto kept = ParseJson(Read(ckpt + "/" + kCheckpointFile));
  ASSERT_TRUE(kept.ok());
  EXPECT_EQ((*kept)["learner"]["gradient_booster"]["model"]["trees"].size(), 5u);
}

TEST_F(TrainerTest, ModelIsTheFinalCheckpointUnlessEarlyStoppingCutsIt) {
  // Serialised once, written twice: the same bytes.
  const std::string ckpt = dir_ + "/ckpt";
  auto opts = CheckpointOptions(4, ckpt);
  ASSERT_TRUE(opts.ok());
  ASSERT_TRUE(TrainAndSave(*opts, Toy(100), Toy(30), dir_ + "/m", log_).ok());
  const std::string model = Read(dir_ + "/m/model.json");
  ASSERT_FALSE(model.empty());
  EXPECT_EQ(model, Read(ckpt + "/" + kCheckpointFile));
  auto parsed = ParseJson(model);
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ((*parsed)["learner"]["gradient_booster"]["model"]["trees"].size(), 4u);

  // Early stopping on a validation set the model cannot fit (labels flipped):
  // the checkpoint keeps every round, the model only those up to the best one.
  const std::string ckpt2 = dir_ + "/ckpt2";
  auto stopping = CheckpointOptions(30, ckpt2);
  ASSERT_TRUE(stopping.ok());
  stopping->early_stopping_rounds = 2;
  auto r = TrainAndSave(*stopping, Toy(100), Toy(30, /*flip=*/true), dir_ + "/es", log_);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_GE(r->best_iteration, 0);
  auto kept = ParseJson(Read(ckpt2 + "/" + kCheckpointFile));
  auto cut = ParseJson(Read(dir_ + "/es/model.json"));
  ASSERT_TRUE(kept.ok() && cut.ok());
  const size_t kept_trees = (*kept)["learner"]["gradient_booster"]["model"]["trees"].size();
  const size_t cut_trees = (*cut)["learner"]["gradient_booster"]["model"]["trees"].size();
  EXPECT_EQ(cut_trees, static_cast<size_t>(r->rounds));
  EXPECT_LT(cut_trees, kept_trees);
  EXPECT_EQ((*cut)["learner"]["attributes"]["best_iteration"],
            std::to_string(r->best_iteration));
}

TEST_F(TrainerTest, DamagedCheckpointIsIgnored) {
  const std::string ckpt = dir_ + "/ckpt";
  std::filesystem::create_directories(ckpt);
  std::ofstream(ckpt + "/" + kCheckpointFile) << "{not a model";
  auto opts = CheckpointOptions(3, ckpt);
  ASSERT_TRUE(opts.ok());
  auto r = TrainAndSave(*opts, Toy(100), Toy(30), dir_ + "/m", log_);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->rounds, 3);
  EXPECT_THAT(Log(), HasSubstr("ignoring checkpoint"));
  EXPECT_THAT(Log(), HasSubstr("[0]\t"));
}

TEST_F(TrainerTest, CheckpointKeysAreNotBoosterParameters) {
  auto opts = MakeTrainerOptions({{"checkpoint_dir", "/x"}, {"checkpoint_interval", "3"}}, 0);
  ASSERT_TRUE(opts.ok());
  EXPECT_EQ(opts->checkpoint_dir, "/x");
  EXPECT_EQ(opts->checkpoint_interval, 3);
  for (const auto& [k, v] : opts->booster_params) EXPECT_NE(k.rfind("checkpoint", 0), 0u) << k;
  EXPECT_FALSE(MakeTrainerOptions({{"checkpoint_interval", "0"}}, 0).ok());
}

// The features' bit patterns (NaN == NaN).
std::vector<uint32_t> Bits(const Dataset& d) {
  std::vector<uint32_t> b;
  for (float f : d.features) b.push_back(std::bit_cast<uint32_t>(f));
  return b;
}

TEST(SampleRows, KeepsAFixedNestedSubsetInOrder) {
  Dataset all = Toy(90);
  EXPECT_EQ(Bits(SampleRows(all, 1.0)), Bits(all));
  Dataset third = SampleRows(all, 1.0 / 3);
  Dataset ninth = SampleRows(all, 1.0 / 9);
  EXPECT_EQ(third.num_rows, 30u);
  EXPECT_EQ(ninth.num_rows, 10u);
  EXPECT_EQ(third.labels.size(), 30u);
  EXPECT_EQ(third.features.size(), 30u * 3);
  EXPECT_EQ(Bits(SampleRows(all, 1.0 / 3)), Bits(third));  // the same every run
  // Rows are whole rows of `all` (feature 2 is i / rows, unique per row), in
  // order, and the ninth's rows are among the third's.
  auto index_of = [](const Dataset& d, size_t r) { return std::lround(d.Row(r)[2] * 90); };
  std::vector<long> third_rows, ninth_rows;
  for (size_t r = 0; r < third.num_rows; ++r) {
    third_rows.push_back(index_of(third, r));
    EXPECT_EQ(third.labels[r], all.labels[static_cast<size_t>(third_rows.back())]);
  }
  for (size_t r = 0; r < ninth.num_rows; ++r) ninth_rows.push_back(index_of(ninth, r));
  EXPECT_TRUE(std::is_sorted(third_rows.begin(), third_rows.end()));
  EXPECT_TRUE(std::includes(third_rows.begin(), third_rows.end(), ninth_rows.begin(),
                            ninth_rows.end()));
  EXPECT_NE(third_rows.back() - third_rows.front(), 29);  // not just the first 30
  EXPECT_EQ(SampleRows(Toy(5), 0.001).num_rows, 1u);     // at least one row
}

TEST_F(TrainerTest, TrainFractionTrainsOnFewerRows) {
  auto full = MakeTrainerOptions({{"num_round", "3"}, {"self_test_rows", "5"}}, 1);
  auto part = MakeTrainerOptions(
      {{"num_round", "3"}, {"self_test_rows", "5"}, {"train_fraction", "0.2"}}, 1);
  ASSERT_TRUE(full.ok() && part.ok());
  ASSERT_TRUE(TrainAndSave(*full, Toy(200, true), Toy(30), dir_ + "/full", log_).ok());
  ASSERT_TRUE(TrainAndSave(*part, Toy(200, true), Toy(30), dir_ + "/part", log_).ok());
  // Same validation rows, different training rows: different predictions.
  EXPECT_NE(Read(dir_ + "/full/self_test.jsonl"), Read(dir_ + "/part/self_test.jsonl"));
}

}  // namespace
}  // namespace tandem::train_xgboost
