// The `quotas:` section of tandem.yaml (the checks themselves run against a
// real control plane in tests/security/quotas_e2e_test.sh).
#include "api/quotas.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace tandem::api {
namespace {

using ::testing::HasSubstr;

TEST(QuotasTest, DefaultsAndPerTeamOverrides) {
  Config c;
  c.raw = Json::parse(R"({"quotas": {"default": {"job_cpus": 8, "replicas": 4, "notebooks": 2},
                                     "teams": {"fraud": {"job_cpus": 32}, "eta": {}}}})");
  auto q = Quotas::FromConfig(c);
  ASSERT_TRUE(q.ok()) << q.status();
  EXPECT_EQ(q->For("pricing").job_cpus, 8);
  EXPECT_EQ(q->For("fraud").job_cpus, 32);
  EXPECT_EQ(q->For("fraud").replicas, 4);  // unset: the default's
  EXPECT_EQ(q->For("eta").notebooks, 2);
  c.raw = Json::object();
  auto none = Quotas::FromConfig(c);
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none->For("x").job_cpus, 0);  // no limit
}

TEST(QuotasTest, BadSectionsNameTheKey) {
  Config c;
  for (const auto& [doc, want] : std::vector<std::pair<const char*, const char*>>{
           {R"({"quotas": {"default": {"cpus": 1}}})", "quotas.default.cpus"},
           {R"({"quotas": {"default": {"job_cpus": -1}}})", "quotas.default.job_cpus"},
           {R"({"quotas": {"teams": {"a": {"replicas": "two"}}}})", "quotas.teams.a.replicas"},
           {R"({"quotas": {"teams": [1]}})", "quotas.teams"},
           {R"({"quotas": {"team": {}}})", "quotas.team"}}) {
    c.raw = Json::parse(doc);
    auto q = Quotas::FromConfig(c);
    EXPECT_EQ(q.status().code(), StatusCode::kInvalidArgument) << doc;
    EXPECT_THAT(q.status().message(), HasSubstr(want)) << doc;
  }
}

}  // namespace
}  // namespace tandem::api
