#include "runtime/xgboost_flavor.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <thread>

#include "runtime/load_model.h"
#include "runtime/testing/xgboost_test_util.h"

namespace tandem::runtime {
namespace {

using ::testing::HasSubstr;
using testing::RandomRows;
using testing::TempDir;
using testing::TrainSpec;
using testing::XgbModel;

constexpr size_t kRows = 1000;

float MaxAbsDiff(const std::vector<float>& a, const std::vector<float>& b) {
  EXPECT_EQ(a.size(), b.size());
  float worst = 0;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) {
    worst = std::max(worst, std::fabs(a[i] - b[i]));
    if (std::isnan(a[i]) != std::isnan(b[i])) return INFINITY;
  }
  return worst;
}

struct Case {
  std::string name;
  TrainSpec spec;
  int outputs;
};

class ParityTest : public ::testing::TestWithParam<Case> {};

TEST_P(ParityTest, NativeMatchesXGBoost) {
  const Case& c = GetParam();
  auto model = XgbModel::Train(c.spec);
  ASSERT_TRUE(model.ok()) << model.status();
  TempDir dir;
  ASSERT_TRUE(model->Save(dir.File("model.json")).ok());
  auto loaded = LoadModel(dir.path());
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  const Predictor& p = (*loaded)->predictor();
  EXPECT_EQ(p.num_features(), c.spec.num_features);
  EXPECT_EQ(p.num_outputs(), c.outputs);
  EXPECT_EQ(p.flavor(), "xgboost");

  // Fresh rows (10% NaN) plus rows with whole columns missing.
  std::vector<float> rows = RandomRows(kRows, c.spec.num_features, 0.1, 99);
  for (size_t r = 0; r < 50; ++r) {
    for (int f = 0; f < c.spec.num_features; f += 2) rows[r * c.spec.num_features + f] = NAN;
  }
  std::vector<float> native(kRows * c.outputs);
  ASSERT_TRUE(p.Predict(rows.data(), kRows, c.spec.num_features, native.data()).ok());
  auto dense = model->PredictDense(rows.data(), kRows, c.spec.num_features);
  ASSERT_TRUE(dense.ok()) << dense.status();
  EXPECT_LE(MaxAbsDiff(native, *dense), 1e-6f);
  auto dmatrix = model->PredictDMatrix(rows.data(), kRows, c.spec.num_features);
  ASSERT_TRUE(dmatrix.ok()) << dmatrix.status();
  EXPECT_LE(MaxAbsDiff(native, *dmatrix), 1e-6f);

  // Single-row calls agree with the batch.
  std::vector<float> one(c.outputs);
  for (size_t r = 0; r < 100; ++r) {
    ASSERT_TRUE(p.Predict(&rows[r * c.spec.num_features], 1, c.spec.num_features, one.data()).ok());
    for (int k = 0; k < c.outputs; ++k) EXPECT_EQ(one[k], native[r * c.outputs + k]);
  }

  // Narrower rows: the absent columns are missing, as NaN columns are.
  const size_t narrow = c.spec.num_features - 5;
  std::vector<float> cut(kRows * narrow), padded = rows;
  for (size_t r = 0; r < kRows; ++r) {
    for (size_t f = 0; f < static_cast<size_t>(c.spec.num_features); ++f) {
      if (f < narrow)
        cut[r * narrow + f] = rows[r * c.spec.num_features + f];
      else
        padded[r * c.spec.num_features + f] = NAN;
    }
  }
  ASSERT_TRUE(p.Predict(cut.data(), kRows, narrow, native.data()).ok());
  auto padded_ref = model->PredictDense(padded.data(), kRows, c.spec.num_features);
  ASSERT_TRUE(padded_ref.ok());
  EXPECT_LE(MaxAbsDiff(native, *padded_ref), 1e-6f);

  // Wider rows are refused.
  std::vector<float> wide(c.spec.num_features + 1, 0.0f);
  EXPECT_EQ(p.Predict(wide.data(), 1, wide.size(), one.data()).code(),
            StatusCode::kInvalidArgument);
}

TrainSpec Spec(std::string objective, int num_class = 0,
               std::vector<std::pair<std::string, std::string>> params = {}, int rounds = 80) {
  TrainSpec s;
  s.objective = std::move(objective);
  s.num_class = num_class;
  s.params = std::move(params);
  s.rounds = rounds;
  return s;
}

INSTANTIATE_TEST_SUITE_P(
    Objectives, ParityTest,
    ::testing::Values(
        Case{"binary_logistic", Spec("binary:logistic"), 1},
        Case{"reg_squarederror", Spec("reg:squarederror"), 1},
        Case{"multi_softprob", Spec("multi:softprob", 3, {}, 50), 3},
        Case{"binary_base_score", Spec("binary:logistic", 0, {{"base_score", "0.3"}}), 1},
        Case{"reg_base_score", Spec("reg:squarederror", 0, {{"base_score", "10.5"}}), 1},
        Case{"multi_softmax", Spec("multi:softmax", 3, {}, 30), 1},
        Case{"binary_logitraw", Spec("binary:logitraw", 0, {{"base_score", "0.3"}}, 30), 1},
        Case{"reg_logistic", Spec("reg:logistic", 0, {{"base_score", "0.2"}}, 30), 1},
        Case{"count_poisson", Spec("count:poisson", 0, {}, 30), 1},
        Case{"random_forest",
             Spec("binary:logistic", 0,
                  {{"num_parallel_tree", "4"}, {"subsample", "0.8"}, {"colsample_bynode", "0.8"}},
                  10),
             1},
        Case{"dart_no_drop",
             Spec("binary:logistic", 0, {{"booster", "dart"}, {"rate_drop", "0"}}, 20), 1}),
    [](const auto& info) { return info.param.name; });

TEST(XGBoostFlavor, EarlyStoppedModelUsesAllTreesLikeXGBoost) {
  auto model = XgbModel::Train(Spec("binary:logistic", 0, {}, 60));
  ASSERT_TRUE(model.ok());
  ASSERT_TRUE(model->SetAttr("best_iteration", "29").ok());
  ASSERT_TRUE(model->SetAttr("best_ntree_limit", "30").ok());
  TempDir dir;
  ASSERT_TRUE(model->Save(dir.File("model.json")).ok());
  auto forest = CompileXGBoostModelFile(dir.File("model.json"));
  ASSERT_TRUE(forest.ok()) << forest.status();
  EXPECT_EQ(forest->num_trees(), 60u);
  auto loaded = LoadModel(dir.path());
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  std::vector<float> rows = RandomRows(200, 20, 0.1, 5), native(200);
  ASSERT_TRUE((*loaded)->predictor().Predict(rows.data(), 200, 20, native.data()).ok());
  auto ref = model->PredictDense(rows.data(), 200, 20);
  ASSERT_TRUE(ref.ok());
  EXPECT_LE(MaxAbsDiff(native, *ref), 1e-6f);
}

TEST(XGBoostFlavor, RefusesGblinear) {
  auto model = XgbModel::Train(Spec("reg:squarederror", 0, {{"booster", "gblinear"}}, 5));
  ASSERT_TRUE(model.ok()) << model.status();
  TempDir dir;
  ASSERT_TRUE(model->Save(dir.File("model.json")).ok());
  auto loaded = LoadModel(dir.path());
  ASSERT_EQ(loaded.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(loaded.status().message()), HasSubstr("booster 'gblinear'"));
}

TEST(XGBoostFlavor, RefusesRankingObjective) {
  TrainSpec spec = Spec("rank:pairwise", 0, {}, 5);
  auto model = XgbModel::Train(spec);
  ASSERT_TRUE(model.ok()) << model.status();
  TempDir dir;
  ASSERT_TRUE(model->Save(dir.File("model.ubj")).ok());
  auto loaded = LoadModel(dir.path());
  ASSERT_EQ(loaded.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(loaded.status().message()),
              HasSubstr("objective 'rank:pairwise' is not supported by the native evaluator"));
}

TEST(XGBoostFlavor, RefusesDartWithTreeWeights) {
  auto model = XgbModel::Train(Spec(
      "binary:logistic", 0, {{"booster", "dart"}, {"rate_drop", "0.5"}, {"skip_drop", "0"}}, 10));
  ASSERT_TRUE(model.ok()) << model.status();
  TempDir dir;
  ASSERT_TRUE(model->Save(dir.File("model.json")).ok());
  auto loaded = LoadModel(dir.path());
  ASSERT_EQ(loaded.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(loaded.status().message()), HasSubstr("dart"));
}

TEST(XGBoostFlavor, AllFileFormatsLoadTheSameModel) {
  auto model = XgbModel::Train(Spec("binary:logistic", 0, {}, 20));
  ASSERT_TRUE(model.ok());
  std::vector<float> rows = RandomRows(100, 20, 0.1, 3);
  auto ref = model->PredictDense(rows.data(), 100, 20);
  ASSERT_TRUE(ref.ok());
  for (const char* name : {"model.json", "model.ubj", "model.bin", "xgboost-model"}) {
    TempDir dir;
    ASSERT_TRUE(model->Save(dir.File(name)).ok());
    auto loaded = LoadModel(dir.path());
    ASSERT_TRUE(loaded.ok()) << name << ": " << loaded.status();
    EXPECT_EQ((*loaded)->package().model_file, dir.File(name));
    std::vector<float> out(100);
    ASSERT_TRUE((*loaded)->predictor().Predict(rows.data(), 100, 20, out.data()).ok());
    EXPECT_LE(MaxAbsDiff(out, *ref), 1e-6f) << name;
  }
}

TEST(XGBoostFlavor, UnreadableModelFileNamed) {
  TempDir dir;
  dir.Write("model.bin", "this is not a model");
  auto loaded = LoadModel(dir.path());
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(loaded.status().message()), HasSubstr(dir.File("model.bin")));
}

TEST(XGBoostFlavor, ConcurrentPredictionsAreIdentical) {
  auto model = XgbModel::Train(Spec("multi:softprob", 3, {}, 30));
  ASSERT_TRUE(model.ok());
  TempDir dir;
  ASSERT_TRUE(model->Save(dir.File("model.json")).ok());
  auto loaded = LoadModel(dir.path());
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  const Predictor& p = (*loaded)->predictor();
  const std::vector<float> rows = RandomRows(500, 20, 0.1, 11);
  std::vector<float> expected(500 * 3);
  ASSERT_TRUE(p.Predict(rows.data(), 500, 20, expected.data()).ok());
  std::vector<std::vector<float>> results(4, std::vector<float>(500 * 3));
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int rep = 0; rep < 20; ++rep) {
        for (size_t r = 0; r < 500; ++r) {
          (void)p.Predict(&rows[r * 20], 1, 20, &results[t][r * 3]);
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < 4; ++t) EXPECT_EQ(results[t], expected) << "thread " << t;
}

}  // namespace
}  // namespace tandem::runtime
