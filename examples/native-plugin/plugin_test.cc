// The "plugin" flavor end to end: model packages shipping the example linear
// plugin (and two broken ones) loaded through runtime::LoadModel.
#include "tandem/plugin.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "runtime/load_model.h"
#include "runtime/plugin_flavor.h"

namespace tandem::runtime {
namespace {

using ::testing::HasSubstr;
namespace fs = std::filesystem;

class Package {
 public:
  // A package holding a copy of `library` as libplugin.so.
  explicit Package(const std::string& library) {
    std::string tmpl = (fs::temp_directory_path() / "tandem-plugin-XXXXXX").string();
    dir_ = ::mkdtemp(tmpl.data());
    fs::copy_file(library, dir_ + "/libplugin.so");
  }
  ~Package() {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  void Write(const std::string& name, const std::string& text) const {
    std::ofstream(dir_ + "/" + name) << text;
  }
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
};

std::string Message(const Status& s) { return std::string(s.message()); }

constexpr char kManifest[] = "flavor: plugin\nlibrary: libplugin.so\n";

TEST(NativePlugin, LinearPluginLoadsAndPredicts) {
  Package p(LINEAR_PLUGIN);
  p.Write("weights.txt", "0.5  1 -2 0.25\n");
  p.Write("tandem-model.yaml", std::string(kManifest) + "feature_names: [a, b, c]\n");
  p.Write("self_test.jsonl", R"({"input": [1, 1, 4], "output": [0.5]})"
                             "\n");
  auto model = LoadModel(p.dir());
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_EQ((*model)->self_test_rows(), 1u);
  const Predictor& m = (*model)->predictor();
  EXPECT_EQ(m.flavor(), "plugin");
  EXPECT_EQ(m.num_features(), 3);
  EXPECT_EQ(m.num_outputs(), 1);
  EXPECT_EQ(m.signature().inputs[0].shape, (std::vector<int64_t>{-1, 3}));
  float rows[] = {2, 1, 0, NAN, NAN, 8};
  float out[2];
  ASSERT_TRUE(m.Predict(rows, 2, 3, out).ok());
  EXPECT_FLOAT_EQ(out[0], 0.5f + 2 - 2);
  EXPECT_FLOAT_EQ(out[1], 0.5f + 2);
  ASSERT_TRUE(m.Predict(rows, 1, 2, out).ok());  // the missing third column counts as NaN
  EXPECT_FLOAT_EQ(out[0], 0.5f);
  EXPECT_EQ(m.Predict(rows, 1, 4, out).code(), StatusCode::kInvalidArgument);
}

TEST(NativePlugin, ConfigReachesThePlugin) {
  Package p(LINEAR_PLUGIN);
  p.Write("weights.txt", "0 1\n");
  p.Write("tandem-model.yaml", std::string(kManifest) + "config: {link: logistic}\n");
  auto model = LoadModel(p.dir());
  ASSERT_TRUE(model.ok()) << model.status();
  float x = 0, y = 0;
  ASSERT_TRUE((*model)->predictor().Predict(&x, 1, 1, &y).ok());
  EXPECT_FLOAT_EQ(y, 0.5f);
  p.Write("tandem-model.yaml", std::string(kManifest) + "config: {link: probit}\n");
  auto bad = LoadModel(p.dir());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(bad.status()), HasSubstr("config.link must be identity or logistic"));
}

TEST(NativePlugin, PluginErrorsArePropagated) {
  Package p(LINEAR_PLUGIN);
  p.Write("tandem-model.yaml", kManifest);
  auto missing = LoadModel(p.dir());  // no weights.txt
  EXPECT_EQ(missing.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(missing.status()), HasSubstr("weights.txt"));
  p.Write("weights.txt", "0 1\n");
  auto model = LoadModel(p.dir());
  ASSERT_TRUE(model.ok()) << model.status();
  float x = INFINITY, y = 0;
  Status s = (*model)->predictor().Predict(&x, 1, 1, &y);
  EXPECT_EQ(s.code(), StatusCode::kInternal);
  EXPECT_THAT(Message(s), HasSubstr("non-finite score"));
}

TEST(NativePlugin, FailingSelfTestRefusesTheModel) {
  Package p(LINEAR_PLUGIN);
  p.Write("weights.txt", "0 1 nan\n");
  p.Write("tandem-model.yaml", kManifest);
  auto model = LoadModel(p.dir());
  EXPECT_EQ(model.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(Message(model.status()), HasSubstr("failed its self-test: weight 1 is not finite"));
}

TEST(NativePlugin, ManifestSelfTestStillApplies) {
  Package p(LINEAR_PLUGIN);
  p.Write("weights.txt", "0 1\n");
  p.Write("tandem-model.yaml", kManifest);
  p.Write("self_test.jsonl", R"({"input": [3], "output": [4]})"
                             "\n");
  EXPECT_EQ(LoadModel(p.dir()).status().code(), StatusCode::kFailedPrecondition);
}

TEST(NativePlugin, AbiMismatchIsRefusedAtLoad) {
  Package p(BAD_ABI_PLUGIN);
  p.Write("tandem-model.yaml", kManifest);
  auto model = LoadModel(p.dir());
  EXPECT_EQ(model.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(
      Message(model.status()),
      HasSubstr("built for plugin ABI version " + std::to_string(TANDEM_PLUGIN_ABI_VERSION + 1) +
                " but this runtime speaks version " + std::to_string(TANDEM_PLUGIN_ABI_VERSION)));
}

TEST(NativePlugin, MissingSymbolIsNamed) {
  Package p(NO_SELF_TEST_PLUGIN);
  p.Write("tandem-model.yaml", kManifest);
  auto model = LoadModel(p.dir());
  EXPECT_EQ(model.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(model.status()), HasSubstr("does not export tandem_plugin_self_test"));
}

TEST(NativePlugin, NotALibraryAndMismatchedWidth) {
  Package p(LINEAR_PLUGIN);
  p.Write("libjunk.so", "not an ELF file");
  p.Write("tandem-model.yaml", "flavor: plugin\nlibrary: libjunk.so\n");
  EXPECT_THAT(Message(LoadModel(p.dir()).status()), HasSubstr("cannot load plugin library"));
  p.Write("tandem-model.yaml", "flavor: plugin\n");
  EXPECT_THAT(Message(LoadModel(p.dir()).status()), HasSubstr("field 'library' is required"));
  p.Write("weights.txt", "0 1 2\n");
  p.Write("tandem-model.yaml", std::string(kManifest) + "num_features: 3\n");
  EXPECT_THAT(Message(LoadModel(p.dir()).status()), HasSubstr("says num_features 3"));
}

}  // namespace
}  // namespace tandem::runtime
