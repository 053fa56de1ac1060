// A spec's secrets at submission and launch (secrets.h).
#include "compute/jobs/secrets.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace tandem::compute::jobs {
namespace {

using ::testing::HasSubstr;

SecretLookup Lookup() {
  return [](const std::string& team, const std::string& name) -> StatusOr<std::string> {
    if (team == "fraud" && name == "pw") return std::string("hunter2");
    if (team == "fraud" && name == "key") return std::string("{\"k\":1}");
    return NotFoundError("secret '" + name + "' of team '" + team + "' not found");
  };
}

JobSpec Spec(std::vector<SecretRef> refs) {
  JobSpec s;
  s.team = "fraud";
  s.entry_point = "/bin/true";
  s.secrets = std::move(refs);
  return s;
}

TEST(JobSecretsTest, ValuesGoIntoTheLaunchRequestOnly) {
  JobSpec spec = Spec({{"pw", "DB_PASSWORD", ""}, {"key", "", "key.json"}});
  LaunchRequest req;
  ASSERT_TRUE(ResolveSecrets(spec, Lookup(), true, "local", req).ok());
  EXPECT_EQ(req.secret_env, (std::map<std::string, std::string>{{"DB_PASSWORD", "hunter2"}}));
  EXPECT_EQ(req.secret_files, (std::map<std::string, std::string>{{"key.json", "{\"k\":1}"}}));
  EXPECT_TRUE(req.env.empty());
  EXPECT_EQ(spec.ToJson().dump().find("hunter2"), std::string::npos);
}

TEST(JobSecretsTest, RefusalsNameTheSecret) {
  EXPECT_TRUE(CheckSecretRefs(Spec({}), nullptr, false, "local").ok());  // none named
  EXPECT_EQ(CheckSecretRefs(Spec({{"pw", "A", ""}}), nullptr, true, "local").code(),
            StatusCode::kFailedPrecondition);
  Status missing = CheckSecretRefs(Spec({{"nope", "A", ""}}), Lookup(), true, "local");
  EXPECT_EQ(missing.code(), StatusCode::kNotFound);
  EXPECT_THAT(missing.message(), HasSubstr("secret 'nope' of team 'fraud'"));
  Status unsandboxed = CheckSecretRefs(Spec({{"key", "", "k"}}), Lookup(), false, "slurm");
  EXPECT_EQ(unsandboxed.code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(unsandboxed.message(), HasSubstr("file secrets need the sandbox"));
  EXPECT_TRUE(CheckSecretRefs(Spec({{"pw", "A", ""}}), Lookup(), false, "slurm").ok());
  JobSpec other = Spec({{"pw", "A", ""}});
  other.team = "pricing";  // another team's secret of the same name does not exist for it
  LaunchRequest req;
  EXPECT_EQ(ResolveSecrets(other, Lookup(), true, "local", req).code(), StatusCode::kNotFound);
  EXPECT_TRUE(req.secret_env.empty());
}

}  // namespace
}  // namespace tandem::compute::jobs
