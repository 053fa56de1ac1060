#include "runtime/python_flavor.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/testing/run_tool.h"
#include "runtime/load_model.h"
#include "runtime/testing/xgboost_test_util.h"

namespace tandem::runtime {
namespace {

using ::testing::HasSubstr;
namespace fs = std::filesystem;

using Dir = testing::TempDir;

std::string Message(const Status& s) { return std::string(s.message()); }

// y = [x0 + x1, x0 * x1]; test_data() expects `expected_first`.
std::string Handler(const std::string& expected_first) {
  return R"(
import numpy as np
def load(model_dir):
    return None
def preprocess(features):
    return np.nan_to_num(features)
def predict(model, features):
    return np.stack([features[:, 0] + features[:, 1], features[:, 0] * features[:, 1]], axis=1)
def test_data():
    return [[1, 2], [3, None]], [[)" +
         expected_first + R"(, 2], [3, 0]]
)";
}

constexpr char kManifest[] = "flavor: python\nhandler: handler.py\npython: {workers: 2}\n";

TEST(PythonFlavor, LoadsSelfTestsAndPredicts) {
  Dir dir;
  dir.Write("handler.py", Handler("3"));
  dir.Write("tandem-model.yaml", kManifest);
  auto model = LoadModel(dir.path());
  ASSERT_TRUE(model.ok()) << model.status();
  const Predictor& p = (*model)->predictor();
  EXPECT_EQ(p.flavor(), "python");
  EXPECT_EQ(p.num_features(), 2);  // from test_data()
  EXPECT_EQ(p.num_outputs(), 2);
  EXPECT_EQ(p.signature().outputs[0].shape, (std::vector<int64_t>{-1, 2}));
  float rows[] = {2, 5, 4};  // the second row has one column: padded with NaN
  float out[4];
  ASSERT_TRUE(p.Predict(rows, 1, 2, out).ok());
  EXPECT_EQ(out[0], 7);
  EXPECT_EQ(out[1], 10);
  ASSERT_TRUE(p.Predict(rows + 2, 1, 1, out).ok());
  EXPECT_EQ(out[0], 4);
  EXPECT_EQ(out[1], 0);
  EXPECT_EQ(p.Predict(rows, 1, 3, out).code(), StatusCode::kInvalidArgument);
}

TEST(PythonFlavor, WrongTestDataRefusesTheModel) {
  Dir dir;
  dir.Write("handler.py", Handler("4"));
  dir.Write("tandem-model.yaml", kManifest);
  auto model = LoadModel(dir.path());
  EXPECT_EQ(model.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(Message(model.status()), HasSubstr("test_data()"));
  EXPECT_THAT(Message(model.status()), HasSubstr("output[0] = 3 but expected 4"));
}

TEST(PythonFlavor, ManifestErrorsNameTheField) {
  Dir dir;
  dir.Write("tandem-model.yaml", "flavor: python\n");
  EXPECT_THAT(Message(LoadModel(dir.path()).status()), HasSubstr("field 'handler' is required"));
  dir.Write("tandem-model.yaml", "flavor: python\nhandler: nope.py\n");
  EXPECT_EQ(LoadModel(dir.path()).status().code(), StatusCode::kNotFound);
  dir.Write("handler.py", Handler("3"));
  dir.Write("tandem-model.yaml", "flavor: python\nhandler: handler.py\npython: {workrs: 2}\n");
  EXPECT_THAT(Message(LoadModel(dir.path()).status()), HasSubstr("'python.workrs'"));
  dir.Write("tandem-model.yaml",
            "flavor: python\nhandler: handler.py\nnum_features: 3\n"
            "signature: {inputs: [{name: x, datatype: FP32, shape: [-1, 2]}]}\n");
  EXPECT_THAT(Message(LoadModel(dir.path()).status()), HasSubstr("signature input shape has 2"));
}

TEST(PythonFlavor, UndeclaredWidthIsAnError) {
  Dir dir;
  dir.Write("handler.py", "def load(d):\n    return 0\ndef predict(m, f):\n    return f\n");
  dir.Write("tandem-model.yaml", "flavor: python\nhandler: handler.py\n");
  auto model = LoadModel(dir.path());
  EXPECT_EQ(model.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(model.status()), HasSubstr("set num_features"));
}

// The scikit-learn example, trained by its unchanged script, served through
// its handler: scores equal scikit-learn's own predict_proba.
TEST(PythonFlavor, ServesTheSklearnExampleLikeSklearn) {
  const std::string src = TANDEM_SOURCE_DIR;
  Dir dir;
  const std::string model_dir = dir.path() + "/model";
  fs::create_directories(model_dir);
  ::tandem::testing::ToolOptions in_example;
  in_example.env = {"SM_MODEL_DIR=" + model_dir, "SM_CHANNEL_TRAIN=../data/train.csv",
                    "OMP_NUM_THREADS=1"};
  in_example.cwd = src + "/examples/sklearn-train";
  auto train = ::tandem::testing::RunTool(
      {"/usr/bin/python3", "train.py", "--n-estimators", "10", "--max-depth", "4"}, in_example);
  ASSERT_TRUE(train.ok()) << train.status();
  ASSERT_TRUE(train->exit.ok()) << "training failed (" << train->exit.ToString() << "):\n"
                                << train->out;
  for (const auto& e : fs::directory_iterator(src + "/examples/sklearn-train/serving")) {
    fs::copy_file(e.path(), model_dir + "/" + e.path().filename().string());
  }
  // sklearn's own scores for the first 64 validation rows (as float32).
  const std::string expect = dir.path() + "/expected.txt";
  const std::string script = dir.Write("expect.py", R"(
import sys, joblib, numpy as np
data = np.genfromtxt(sys.argv[1], delimiter=",", filling_values=np.nan)[:64]
x = data[:, 1:].astype(np.float32)
np.savetxt(sys.argv[3], x, fmt="%.9g")
p = joblib.load(sys.argv[2]).predict_proba(x)[:, 1].astype(np.float32)
np.savetxt(sys.argv[4], p, fmt="%.9g")
)");
  const std::string rows_file = dir.path() + "/rows.txt";
  auto scored =
      ::tandem::testing::RunTool({"/usr/bin/python3", script, src + "/examples/data/validation.csv",
                                  model_dir + "/model.joblib", rows_file, expect});
  ASSERT_TRUE(scored.ok()) << scored.status();
  ASSERT_TRUE(scored->exit.ok()) << scored->exit.ToString() << "\n" << scored->out;
  std::vector<float> rows, expected;
  std::ifstream rin(rows_file), ein(expect);
  for (std::string tok; rin >> tok;) rows.push_back(std::strtof(tok.c_str(), nullptr));
  for (std::string tok; ein >> tok;) expected.push_back(std::strtof(tok.c_str(), nullptr));
  ASSERT_EQ(expected.size(), 64u);
  ASSERT_EQ(rows.size(), 64u * 20);

  auto model = LoadModel(model_dir);
  ASSERT_TRUE(model.ok()) << model.status();
  const Predictor& p = (*model)->predictor();
  EXPECT_EQ(p.num_features(), 20);
  EXPECT_EQ(p.num_outputs(), 1);
  EXPECT_EQ(p.feature_names().size(), 20u);
  std::vector<float> got(64);
  ASSERT_TRUE(p.Predict(rows.data(), 64, 20, got.data()).ok());
  int missing = 0;
  for (size_t i = 0; i < 64; ++i) {
    EXPECT_EQ(got[i], expected[i]) << "row " << i;
    for (int c = 0; c < 20; ++c) missing += std::isnan(rows[i * 20 + c]);
  }
  EXPECT_GT(missing, 0);  // the missing-value path is exercised
}

}  // namespace
}  // namespace tandem::runtime
