#include "runtime/model_package.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "runtime/load_model.h"
#include "runtime/testing/xgboost_test_util.h"

namespace tandem::runtime {
namespace {

using ::testing::HasSubstr;
using testing::TempDir;
using testing::TrainSpec;
using testing::XgbModel;

std::string Message(const Status& s) { return std::string(s.message()); }

// A fresh small model per use: XGBoost handles must not outlive the library's
// own statics, so none is kept in a static.
XgbModel SmallModel() {
  TrainSpec spec;
  spec.rounds = 5;
  spec.max_depth = 3;
  return *XgbModel::Train(spec);
}

TEST(ModelPackage, MissingDirIsNotFound) {
  auto p = ReadModelPackage("/tmp/tandem-runtime-does-not-exist");
  EXPECT_EQ(p.status().code(), StatusCode::kNotFound);
}

TEST(ModelPackage, DetectsSingleJsonModelAndSelfTest) {
  TempDir dir;
  ASSERT_TRUE(SmallModel().Save(dir.File("model.json")).ok());
  dir.Write("notes.json", R"({"not": "a model"})");
  dir.Write("self_test.jsonl", "");
  auto p = ReadModelPackage(dir.path());
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_FALSE(p->has_manifest);
  EXPECT_EQ(p->flavor, "xgboost");
  EXPECT_EQ(p->model_file, dir.File("model.json"));
  EXPECT_EQ(p->self_test_file, dir.File("self_test.jsonl"));
}

TEST(ModelPackage, UnknownContentNamesDirAndFiles) {
  TempDir dir;
  dir.Write("notes.json", R"({"not": "a model"})");
  dir.Write("weights.pt", "xx");
  auto p = ReadModelPackage(dir.path());
  ASSERT_EQ(p.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(p.status()), HasSubstr(dir.path()));
  EXPECT_THAT(Message(p.status()), HasSubstr("notes.json, weights.pt"));
}

TEST(ModelPackage, EmptyDirIsInvalid) {
  TempDir dir;
  auto p = ReadModelPackage(dir.path());
  ASSERT_EQ(p.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(p.status()), HasSubstr("found: nothing"));
}

TEST(ModelPackage, SeveralModelFilesAreAmbiguous) {
  TempDir dir;
  ASSERT_TRUE(SmallModel().Save(dir.File("a.json")).ok());
  ASSERT_TRUE(SmallModel().Save(dir.File("b.ubj")).ok());
  auto p = ReadModelPackage(dir.path());
  ASSERT_EQ(p.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(p.status()), HasSubstr("a.json, b.ubj"));
}

TEST(ModelPackage, ManifestIsRead) {
  TempDir dir;
  ASSERT_TRUE(SmallModel().Save(dir.File("m.ubj")).ok());
  dir.Write("checks.jsonl", "");
  dir.Write("tandem-model.yaml", R"(flavor: xgboost
model_file: m.ubj
self_test: checks.jsonl
num_features: 20
objective: binary:logistic
signature:
  inputs: [{name: features, datatype: FP32, shape: [-1, 20]}]
  outputs: [{name: score, datatype: FP32, shape: [-1, 1]}]
)");
  auto p = ReadModelPackage(dir.path());
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_TRUE(p->has_manifest);
  EXPECT_EQ(p->model_file, dir.File("m.ubj"));
  EXPECT_EQ(p->self_test_file, dir.File("checks.jsonl"));
  EXPECT_EQ(*p->num_features, 20);
  ASSERT_EQ(p->signature.inputs.size(), 1u);
  EXPECT_EQ(p->signature.inputs[0].name, "features");
  EXPECT_EQ(p->signature.inputs[0].shape, (std::vector<int64_t>{-1, 20}));
  EXPECT_EQ(p->signature.outputs[0].name, "score");
  auto loaded = LoadModel(dir.path());
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ((*loaded)->predictor().signature().inputs[0].name, "features");
}

struct BadManifest {
  std::string yaml;
  std::string expected;  // substring of the error
  StatusCode code = StatusCode::kInvalidArgument;
};

TEST(ModelPackage, MalformedManifestsNameTheField) {
  const std::vector<BadManifest> cases = {
      {"flavor: [xgboost\n", "tandem-model.yaml"},
      {"- a\n- b\n", "is not a mapping"},
      {"flavor: xgboost\nmodel_file: 12\n", "field 'model_file'"},
      {"flavor: xgboost\nmodel_file: nope.json\n", "'nope.json'", StatusCode::kNotFound},
      {"flavor: xgboost\nmodel_file: ../model.json\n", "inside the package"},
      {"model_file: model.json\n", "field 'flavor'"},
      {"flavor: xgboost\nnum_features: twenty\n", "field 'num_features'"},
      {"flavor: xgboost\nnum_features: 3\nfeature_names: [a, b]\n", "field 'feature_names'"},
      {"flavor: xgboost\nsignature: {inputs: [{name: x, datatype: FLOAT, shape: [-1, 20]}]}\n",
       "field 'signature.inputs[0].datatype'"},
      {"flavor: xgboost\nsignature: {inputs: [{name: x, datatype: FP32, shape: 20}]}\n",
       "field 'signature.inputs[0].shape'"},
      {"flavor: xgboost\nsignature: {inputz: []}\n", "field 'signature.inputz'"},
      {"flavor: xgboost\nself_test: missing.jsonl\n", "'missing.jsonl'", StatusCode::kNotFound},
  };
  for (const BadManifest& c : cases) {
    TempDir dir;
    ASSERT_TRUE(SmallModel().Save(dir.File("model.json")).ok());
    dir.Write("tandem-model.yaml", c.yaml);
    auto p = ReadModelPackage(dir.path());
    EXPECT_EQ(p.status().code(), c.code) << c.yaml << " -> " << p.status();
    EXPECT_THAT(Message(p.status()), HasSubstr(c.expected)) << c.yaml;
  }
}

TEST(ModelPackage, ManifestDisagreeingWithModelIsRefused) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"flavor: xgboost\nnum_features: 21\n", "num_features 21"},
      {"flavor: xgboost\nsignature: {inputs: [{name: x, datatype: FP32, shape: [-1, 7]}]}\n",
       "7 features"},
      {"flavor: xgboost\nsignature: {outputs: [{name: y, datatype: FP32, shape: [-1, 3]}]}\n",
       "3 scores per row"},
  };
  for (const auto& [yaml, expected] : cases) {
    TempDir dir;
    ASSERT_TRUE(SmallModel().Save(dir.File("model.json")).ok());
    dir.Write("tandem-model.yaml", yaml);
    auto loaded = LoadModel(dir.path());
    EXPECT_EQ(loaded.status().code(), StatusCode::kInvalidArgument) << yaml;
    EXPECT_THAT(Message(loaded.status()), HasSubstr(expected));
  }
}

TEST(FlavorRegistry, CustomFlavorAndUnknownFlavor) {
  FlavorRegistry registry = BuiltinFlavors();
  int calls = 0;
  ASSERT_TRUE(registry
                  .Register("echo",
                            [&](const ModelPackage& p) -> StatusOr<std::unique_ptr<Predictor>> {
                              ++calls;
                              return UnimplementedError("echo loader reached for " + p.model_file);
                            })
                  .ok());
  EXPECT_EQ(registry
                .Register("echo",
                          [](const ModelPackage&) {
                            return StatusOr<std::unique_ptr<Predictor>>(UnimplementedError(""));
                          })
                .code(),
            StatusCode::kAlreadyExists);
  EXPECT_EQ(registry.flavors(), (std::vector<std::string>{"echo", "plugin", "python", "xgboost"}));

  TempDir dir;
  dir.Write("handler.py", "");
  dir.Write("tandem-model.yaml", "flavor: echo\nmodel_file: handler.py\n");
  auto loaded = LoadModel(dir.path(), registry);
  EXPECT_EQ(loaded.status().code(), StatusCode::kUnimplemented);
  EXPECT_EQ(calls, 1);

  dir.Write("tandem-model.yaml", "flavor: onnx\nmodel_file: handler.py\n");
  loaded = LoadModel(dir.path(), registry);
  EXPECT_EQ(loaded.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(loaded.status()), HasSubstr("unknown model flavor 'onnx'"));
}

}  // namespace
}  // namespace tandem::runtime
