#include "serving/server/serving_image.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>

#include "runtime/load_model.h"
#include "serving/testing/test_util.h"

namespace tandem::serving::server {
namespace {

using ::testing::HasSubstr;

const std::string kPinned = "team/serve@sha256:" + std::string(64, 'a');

ServingImageOptions Options(const std::string& cache) {
  return ServingImageOptions{kPinned, cache, 1 << 20, ""};
}

TEST(ServingImageTest, TheNativeFlavorNeverPullsTheImage) {
  testing::TempDir dir;
  ASSERT_TRUE(testing::WritePackage(dir.path() + "/model", {}).ok());
  // No image store at all: a forest still loads, and nothing is prepared.
  LazyServingImage image(Options(dir.path() + "/cache"), nullptr, Clock::Real());
  auto model = runtime::LoadModel(dir.path() + "/model", image.flavors());
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_EQ(model->get()->predictor().flavor(), "xgboost");
  EXPECT_FALSE(image.prepared());
}

TEST(ServingImageTest, APythonHandlerNeedsTheImageAndSaysWhyItCannotHaveIt) {
  testing::TempDir dir;
  const std::string model = dir.path() + "/model";
  std::filesystem::create_directories(model);
  std::ofstream(model + "/handler.py") << "def load(d):\n  return 1\ndef predict(m, x):\n  return x\n";
  std::ofstream(model + "/tandem-model.yaml") << "flavor: python\nhandler: handler.py\nnum_features: 2\n";
  LazyServingImage image(Options(dir.path() + "/cache"), nullptr, Clock::Real());
  auto loaded = runtime::LoadModel(model, image.flavors());
  ASSERT_FALSE(loaded.ok());
  EXPECT_THAT(loaded.status().message(), HasSubstr(kPinned));
  EXPECT_FALSE(image.prepared());  // tried again at the next load
  EXPECT_EQ(image.Sandbox().status().code(), loaded.status().code());
}

TEST(ServingImageTest, RefusesAnUnpinnedReferenceOrARelativeCache) {
  testing::TempDir dir;
  ServingImageOptions o = Options(dir.path());
  o.image = "team/serve:1";
  auto prepared = PrepareServingImage(o, nullptr, Clock::Real());
  ASSERT_FALSE(prepared.ok());
  EXPECT_EQ(prepared.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(prepared.status().message(), HasSubstr("repository@sha256"));
  o.image = "Bad Name";
  EXPECT_EQ(PrepareServingImage(o, nullptr, Clock::Real()).status().code(),
            StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace tandem::serving::server
