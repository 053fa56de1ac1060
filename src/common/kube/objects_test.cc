#include "common/kube/objects.h"

#include <gtest/gtest.h>

namespace tandem::kube {
namespace {

TEST(ObjectsTest, DnsLabels) {
  EXPECT_TRUE(CheckDnsLabel("fraud-api", "name").ok());
  EXPECT_TRUE(CheckDnsLabel("a", "name").ok());
  for (const char* bad : {"", "-a", "a-", "Fraud", "a_b", "a.b"}) {
    auto s = CheckDnsLabel(bad, "the deployment name");
    EXPECT_FALSE(s.ok()) << bad;
    EXPECT_NE(s.message().find("the deployment name"), std::string::npos);
  }
  EXPECT_FALSE(CheckDnsLabel(std::string(64, 'a'), "name").ok());
}

TEST(ObjectsTest, ImagePullPolicies) {
  for (const char* ok : {"Always", "IfNotPresent", "Never"}) {
    EXPECT_TRUE(CheckImagePullPolicy(ok).ok()) << ok;
  }
  for (const char* bad : {"", "always", "Sometimes"}) {
    auto s = CheckImagePullPolicy(bad);
    EXPECT_FALSE(s.ok()) << bad;
    EXPECT_NE(s.message().find("Always, IfNotPresent or Never"), std::string::npos);
  }
}

TEST(ObjectsTest, LabelValues) {
  EXPECT_TRUE(IsLabelValue(""));
  EXPECT_TRUE(IsLabelValue("Risk_team.1"));
  EXPECT_FALSE(IsLabelValue("risk team"));
  EXPECT_FALSE(IsLabelValue("_risk"));
  EXPECT_FALSE(IsLabelValue(std::string(64, 'a')));
}

TEST(ObjectsTest, CommonLabelsContainTheSelector) {
  Json sel = SelectorLabels("tandem-serving", "fraud");
  Json all = CommonLabels("tandem-serving", "fraud", "serving", "risk");
  for (const auto& [k, v] : sel.items()) EXPECT_EQ(all[k], v) << k;
  EXPECT_EQ(all[kTeamLabel], "risk");
  EXPECT_EQ(all[kManagedByLabel], "tandem");
  // A team that is no label value is left out (not mangled).
  EXPECT_FALSE(CommonLabels("a", "b", "c", "risk team").contains(kTeamLabel));
}

TEST(ObjectsTest, MetadataAndProbes) {
  Json m = Metadata("x", "", Json{{"a", "b"}});
  EXPECT_FALSE(m.contains("namespace"));
  EXPECT_FALSE(m.contains("annotations"));
  m = Metadata("x", "ml", Json::object(), Json{{"k", "v"}});
  EXPECT_EQ(m["namespace"], "ml");
  EXPECT_EQ(m["annotations"]["k"], "v");
  Json p = HttpProbe("/v2/health/ready", 8080, 5, 2, 3);
  EXPECT_EQ(p["httpGet"]["port"], 8080);
  EXPECT_EQ(p["failureThreshold"], 3);
  Json env = GlueEnvironment("glue");
  ASSERT_EQ(env.size(), 3u);
  EXPECT_EQ(env[0]["valueFrom"]["secretKeyRef"]["key"], "database");
  EXPECT_EQ(env[2]["valueFrom"]["secretKeyRef"]["optional"], true);
}

}  // namespace
}  // namespace tandem::kube
