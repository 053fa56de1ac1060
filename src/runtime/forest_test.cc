#include "runtime/forest.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <sstream>

#include "runtime/testing/xgboost_test_util.h"

namespace tandem::runtime {
namespace {

using ::testing::HasSubstr;

// One stump: feature 1 < 0.5 -> leaf -1, else leaf 2; missing goes left.
Json Stump() {
  return Json::parse(R"({
    "tree_param": {"num_nodes": "3", "num_feature": "3", "size_leaf_vector": "0"},
    "left_children": [1, -1, -1], "right_children": [2, -1, -1],
    "split_indices": [1, 0, 0], "split_conditions": [0.5, -1.0, 2.0],
    "default_left": [1, 0, 0], "split_type": [0, 0, 0]})");
}

Json Model(std::vector<Json> trees, std::string objective = "reg:squarederror",
           std::string base_score = "5E-1", int num_class = 0) {
  Json info = Json::array();
  for (size_t i = 0; i < trees.size(); ++i) info.push_back(num_class > 1 ? int(i) % num_class : 0);
  return Json{{"learner",
               {{"learner_model_param",
                 {{"base_score", base_score},
                  {"num_class", std::to_string(num_class)},
                  {"num_feature", "3"},
                  {"num_target", "1"}}},
                {"objective", {{"name", objective}}},
                {"feature_names", Json::array({"a", "b", "c"})},
                {"gradient_booster",
                 {{"name", "gbtree"},
                  {"model",
                   {{"gbtree_model_param",
                     {{"num_trees", std::to_string(trees.size())}, {"size_leaf_vector", "0"}}},
                    {"tree_info", info},
                    {"trees", trees}}}}}}}};
}

float PredictOne(const Forest& f, std::vector<float> row) {
  float out = 0;
  f.Predict(row.data(), 1, row.size(), &out);
  return out;
}

TEST(Forest, SplitsMissingAndAbsentColumns) {
  auto f = Forest::FromXGBoostModel(Model({Stump()}));
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->num_trees(), 1u);
  EXPECT_EQ(f->num_features(), 3);
  EXPECT_EQ(f->feature_names(), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_FLOAT_EQ(PredictOne(*f, {0, 0.4999f, 0}), -0.5f);
  EXPECT_FLOAT_EQ(PredictOne(*f, {0, 0.5f, 0}), 2.5f);  // equal goes right
  EXPECT_FLOAT_EQ(PredictOne(*f, {0, NAN, 0}), -0.5f);  // default left
  EXPECT_FLOAT_EQ(PredictOne(*f, {0}), -0.5f);          // absent column = missing

  Json right = Stump();
  right["default_left"] = Json::array({0, 0, 0});
  auto g = Forest::FromXGBoostModel(Model({right}));
  ASSERT_TRUE(g.ok());
  EXPECT_FLOAT_EQ(PredictOne(*g, {0, NAN, 0}), 2.5f);
}

TEST(Forest, TransformsAndMargins) {
  auto f = Forest::FromXGBoostModel(Model({Stump(), Stump()}, "binary:logistic", "2E-1"));
  ASSERT_TRUE(f.ok());
  const float margin = -std::log(1.0f / 0.2f - 1.0f) + 4.0f;
  EXPECT_FLOAT_EQ(f->base_margin(), -std::log(4.0f));
  EXPECT_NEAR(PredictOne(*f, {0, 1, 0}), 1 / (1 + std::exp(-margin)), 1e-7);
  std::vector<float> row = {0, 1, 0};
  float m = 0;
  f->Predict(row.data(), 1, 3, &m, /*output_margin=*/true);
  EXPECT_FLOAT_EQ(m, margin);

  auto soft =
      Forest::FromXGBoostModel(Model({Stump(), Stump(), Stump()}, "multi:softprob", "5E-1", 3));
  ASSERT_TRUE(soft.ok()) << soft.status();
  EXPECT_EQ(soft->num_outputs(), 3);
  std::vector<float> out(3);
  soft->Predict(row.data(), 1, 3, out.data());
  EXPECT_NEAR(out[0] + out[1] + out[2], 1.0f, 1e-6);
  EXPECT_NEAR(out[0], 1.0f / 3, 1e-6);
}

void ExpectRefused(const Json& model, const std::string& expected) {
  auto f = Forest::FromXGBoostModel(model);
  ASSERT_EQ(f.status().code(), StatusCode::kInvalidArgument) << expected;
  EXPECT_THAT(std::string(f.status().message()), HasSubstr(expected));
}

TEST(Forest, RefusesWhatItCannotReproduce) {
  ExpectRefused(Model({Stump()}, "binary:hinge"),
                "objective 'binary:hinge' is not supported by the native evaluator");
  ExpectRefused(Model({Stump()}, "rank:pairwise"),
                "objective 'rank:pairwise' is not supported by the native evaluator");
  Json cat = Stump();
  cat["split_type"] = Json::array({1, 0, 0});
  ExpectRefused(Model({cat}), "categorical splits");
  Json cycle = Stump();
  cycle["left_children"] = Json::array({1, 0, -1});
  cycle["right_children"] = Json::array({2, 2, -1});
  ExpectRefused(Model({cycle}), "invalid child");
  Json far = Stump();
  far["right_children"] = Json::array({7, -1, -1});
  ExpectRefused(Model({far}), "invalid child 7");
  Json wide = Stump();
  wide["split_indices"] = Json::array({5, 0, 0});
  ExpectRefused(Model({wide}), "splits on feature 5");
  Json short_arrays = Stump();
  short_arrays["split_conditions"] = Json::array({0.5});
  ExpectRefused(Model({short_arrays}), "split_conditions");
  Json multi_target = Model({Stump()});
  multi_target["learner"]["learner_model_param"]["num_target"] = "2";
  ExpectRefused(multi_target, "multi-target");
  Json linear = Model({Stump()});
  linear["learner"]["gradient_booster"] = {{"name", "gblinear"}, {"model", Json::object()}};
  ExpectRefused(linear, "booster 'gblinear'");
  ExpectRefused(Model({Stump()}, "binary:logistic", "1.5"), "base_score");
  Json bad_group = Model({Stump()}, "multi:softprob", "5E-1", 3);
  bad_group["learner"]["gradient_booster"]["model"]["tree_info"] = Json::array({3});
  ExpectRefused(bad_group, "tree_info[0]");
  ExpectRefused(Json::object(), "learner is missing");
}

// The AVX-512 kernels replace a missing value by -inf (default left) or +inf
// (default right); that is exact only if no default-left split compares
// against -inf or NaN. Such a forest keeps the AVX2 kernel; an infinite
// threshold elsewhere is fine.
TEST(ForestKernels, InfiniteThresholdsStayExact) {
  const bool avx512 = __builtin_cpu_supports("avx512f");
  for (const char* threshold : {"-Infinity", "Infinity"}) {
    for (int default_left : {0, 1}) {
      SCOPED_TRACE(std::string(threshold) + " default_left " + std::to_string(default_left));
      Json stump = Stump();
      stump["split_conditions"][0] = threshold[0] == '-' ? -INFINITY : INFINITY;
      stump["default_left"] = Json::array({default_left, 0, 0});
      auto f = Forest::FromXGBoostModel(Model({stump}));
      ASSERT_TRUE(f.ok()) << f.status();
      const bool exact = !(threshold[0] == '-' && default_left);
      EXPECT_EQ(f->kernel() == Forest::Kernel::kAvx512, avx512 && exact);
      const float left = -0.5f, right = 2.5f;
      const bool below_inf = threshold[0] != '-';  // finite x < +inf goes left
      for (Forest::Kernel k :
           {Forest::Kernel::kScalar, Forest::Kernel::kAvx2, Forest::Kernel::kAvx512}) {
        if (!f->SetKernel(k)) continue;
        EXPECT_FLOAT_EQ(PredictOne(*f, {0, 3.0f, 0}), below_inf ? left : right);
        EXPECT_FLOAT_EQ(PredictOne(*f, {0, -INFINITY, 0}), below_inf ? left : right);
        EXPECT_FLOAT_EQ(PredictOne(*f, {0, INFINITY, 0}), right);
        EXPECT_FLOAT_EQ(PredictOne(*f, {0, NAN, 0}), default_left ? left : right);
        // A full AVX-512 block of the same rows.
        std::vector<float> rows, out(64);
        for (int r = 0; r < 64; ++r) rows.insert(rows.end(), {0, r % 2 ? NAN : 3.0f, 0});
        f->Predict(rows.data(), 64, 3, out.data());
        for (int r = 0; r < 64; ++r) {
          EXPECT_FLOAT_EQ(out[r], r % 2 ? (default_left ? left : right) : (below_inf ? left : right))
              << "row " << r;
        }
      }
    }
  }
}

struct KernelCase {
  std::string objective;
  int num_class;
  int max_depth;
  double missing;
};

// Random XGBoost forests (shallow, the benchmark's depth 6, the deepest flat
// layout and deeper than it; binary and multi-class; few and many missing
// values, so both default directions are taken) scored in batches of 1..203
// rows (full AVX2 and AVX-512 vectors, blocks and leftovers), from rows
// exactly as wide as the model and wider: the scalar, AVX2 and AVX-512
// kernels give bit-identical outputs, and all match XGBoost.
TEST(ForestKernels, AllKernelsAgreeWithEachOtherAndXGBoost) {
  const bool avx2 = __builtin_cpu_supports("avx2");
  const bool avx512 = __builtin_cpu_supports("avx512f");
  if (!avx2) std::fprintf(stderr, "no AVX2 on this CPU: checking the scalar kernel only\n");
  if (!avx512) std::fprintf(stderr, "no AVX-512 on this CPU: not checking that kernel\n");
  const std::vector<KernelCase> cases = {
      {"binary:logistic", 0, 1, 0.1},  {"binary:logistic", 0, 2, 0.3},
      {"binary:logistic", 0, 3, 0.1},  {"reg:squarederror", 0, 4, 0.2},
      {"binary:logistic", 0, 6, 0.1},  {"binary:logistic", 0, 6, 0.5},
      {"reg:squarederror", 0, 7, 0.3}, {"reg:squarederror", 0, 8, 0.3},
      {"multi:softprob", 3, 5, 0.2},   {"multi:softprob", 4, 6, 0.1},
      {"binary:logistic", 0, 10, 0.1}};
  unsigned seed = 11;
  for (const KernelCase& c : cases) {
    SCOPED_TRACE(c.objective + " depth " + std::to_string(c.max_depth));
    testing::TrainSpec spec;
    spec.objective = c.objective;
    spec.num_class = c.num_class;
    spec.max_depth = c.max_depth;
    spec.rounds = 30;
    spec.missing = c.missing;
    spec.seed = ++seed;
    auto model = testing::XgbModel::Train(spec);
    ASSERT_TRUE(model.ok()) << model.status();
    testing::TempDir dir;
    ASSERT_TRUE(model->Save(dir.File("model.json")).ok());
    std::ifstream in(dir.File("model.json"));
    std::stringstream text;
    text << in.rdbuf();
    auto forest = Forest::FromXGBoostModel(Json::parse(text.str()));
    ASSERT_TRUE(forest.ok()) << forest.status();
    const bool flat = c.max_depth <= 8;
    const bool flat512 = c.max_depth <= 6 && avx512;
    EXPECT_EQ(forest->kernel(), flat512        ? Forest::Kernel::kAvx512
                                : flat && avx2 ? Forest::Kernel::kAvx2
                                               : Forest::Kernel::kScalar);
    EXPECT_EQ(forest->SetKernel(Forest::Kernel::kAvx2), flat && avx2);
    EXPECT_EQ(forest->SetKernel(Forest::Kernel::kAvx512), flat512);

    const size_t n_rows = 203;
    const size_t features = static_cast<size_t>(spec.num_features);
    std::vector<float> rows = testing::RandomRows(n_rows, spec.num_features, c.missing, seed * 7);
    rows[5 * features + 1] = INFINITY;  // infinities compare like any number
    rows[6 * features + 2] = -INFINITY;
    rows[7 * features + 3] = -INFINITY;
    rows[8 * features + 3] = INFINITY;
    const size_t outs = static_cast<size_t>(forest->num_outputs());
    auto expected = model->PredictDense(rows.data(), n_rows, features);
    ASSERT_TRUE(expected.ok()) << expected.status();
    // The same rows with 3 extra columns (ignored by the model).
    const size_t wide_cols = features + 3;
    std::vector<float> wide(n_rows * wide_cols, 99.0f);
    for (size_t r = 0; r < n_rows; ++r) {
      std::copy(&rows[r * features], &rows[(r + 1) * features], &wide[r * wide_cols]);
    }
    for (size_t cols : {features, wide_cols}) {
      const std::vector<float>& input = cols == features ? rows : wide;
      for (size_t batch : {size_t{1}, size_t{7}, size_t{8}, size_t{15}, size_t{16}, size_t{17},
                           size_t{64}, size_t{100}, size_t{203}}) {
        auto run = [&](Forest::Kernel kernel, std::vector<float>* out) {
          out->assign(n_rows * outs, -1.0f);
          if (!forest->SetKernel(kernel)) return false;
          for (size_t r = 0; r < n_rows; r += batch) {
            const size_t n = std::min(batch, n_rows - r);
            forest->Predict(&input[r * cols], n, cols, &(*out)[r * outs]);
          }
          return true;
        };
        std::vector<float> scalar, vector;
        ASSERT_TRUE(run(Forest::Kernel::kScalar, &scalar));
        for (Forest::Kernel kernel : {Forest::Kernel::kAvx2, Forest::Kernel::kAvx512}) {
          if (!run(kernel, &vector)) continue;
          for (size_t i = 0; i < scalar.size(); ++i) {
            ASSERT_EQ(scalar[i], vector[i]) << "kernel " << static_cast<int>(kernel) << " batch "
                                            << batch << " cols " << cols << " output " << i;
          }
        }
        for (size_t i = 0; i < scalar.size(); ++i) {
          ASSERT_NEAR(scalar[i], (*expected)[i], 1e-6) << "batch " << batch << " output " << i;
        }
      }
    }
  }
}

}  // namespace
}  // namespace tandem::runtime
