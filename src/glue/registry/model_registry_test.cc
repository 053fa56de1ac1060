// Backend-independent parts: version statuses and JSON forms (the naming
// rules are tested beside names.cc).
#include "glue/registry/model_registry.h"

#include <gtest/gtest.h>

namespace tandem::registry {
namespace {

TEST(StatusTest, NamesRoundTrip) {
  for (VersionStatus s : {VersionStatus::kPendingRegistration, VersionStatus::kReady,
                          VersionStatus::kFailedRegistration}) {
    auto parsed = ParseVersionStatus(VersionStatusName(s));
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(*parsed, s);
  }
  EXPECT_EQ(ParseVersionStatus("ready").status().code(), StatusCode::kInvalidArgument);
}

TEST(LineageTest, JsonRoundTripAndErrors) {
  Lineage l;
  l.job_id = "job-1";
  l.code_digest = "sha256:c";
  l.image_digest = "sha256:i";
  l.inputs = {{"train", "sha256:t"}};
  l.hyperparameters = {{"eta", "0.1"}};
  l.metrics = {{"auc", 0.93}};
  auto back = Lineage::FromJson(l.ToJson());
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->ToJson(), l.ToJson());
  auto numeric_hp = Lineage::FromJson(Json{{"hyperparameters", {{"depth", 6}}}});
  ASSERT_TRUE(numeric_hp.ok());
  EXPECT_EQ(numeric_hp->hyperparameters.at("depth"), "6");
  EXPECT_EQ(Lineage::FromJson(Json{{"metrics", {{"auc", "high"}}}}).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(Lineage::FromJson(Json::array()).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace tandem::registry
