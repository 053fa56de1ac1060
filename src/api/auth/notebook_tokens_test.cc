// Notebook tokens against every SQL backend available: SQLite always,
// PostgreSQL when the ctest fixture started it.
#include "api/auth/notebook_tokens.h"

#include <unistd.h>

#include <filesystem>

#include "common/testing/test_server.h"
#include "api/auth/testing/identity_store_env.h"
#include "glue/sql/testing/postgres_test_db.h"
#include "gtest/gtest.h"

namespace tandem::api::auth {
namespace {

namespace fs = std::filesystem;

class NotebookTokensTest : public testing::IdentityStoreEnv {
 protected:
  void SetUp() override {
    // No token cache: a revocation must show at once.
    OpenStore("tandem-nbtok-", {.token_cache_ttl_micros = 0});
    ASSERT_FALSE(HasFatalFailure());
    tokens_ = std::make_unique<NotebookTokens>(*store_);
    ASSERT_TRUE(store_->CreateTeam("fraud").ok());
    ASSERT_TRUE(store_->CreateTeam("pricing").ok());
  }
  void TearDown() override {
    tokens_.reset();
    IdentityStoreEnv::TearDown();
  }

  std::unique_ptr<NotebookTokens> tokens_;
};

TEST(NotebookTokensNames, PrincipalNamesFitTheNameRules) {
  EXPECT_EQ(NotebookTokens::PrincipalFor("fraud"), "notebooks@fraud");
  const std::string long_team(64, 'a');
  const std::string p = NotebookTokens::PrincipalFor(long_team);
  EXPECT_EQ(p.size(), 64u) << p;
  EXPECT_TRUE(ValidateName("principal", p).ok()) << p;
  EXPECT_NE(p, NotebookTokens::PrincipalFor(std::string(63, 'a') + "b")) << "distinct teams";
}

TEST_P(NotebookTokensTest, ATokenActsAsAMemberOfTheNotebooksTeamOnly) {
  auto token = tokens_->Issue("fraud", "lab", 1, 3600);
  ASSERT_TRUE(token.ok()) << token.status();
  auto who = store_->Authenticate(*token);
  ASSERT_TRUE(who.ok()) << who.status();
  EXPECT_EQ(who->name, "notebooks@fraud");
  EXPECT_EQ(who->kind, "service");
  EXPECT_FALSE(who->admin);
  EXPECT_EQ(who->RoleIn("fraud"), Role::kMember);
  EXPECT_EQ(who->RoleIn("pricing"), Role::kNone);
  EXPECT_EQ(who->teams.size(), 1u);
  auto info = store_->GetToken(who->token_id);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->description, "notebook lab execution 1");
  EXPECT_EQ(info->expires_micros, clock_.NowMicros() + 3600LL * 1'000'000);
}

TEST_P(NotebookTokensTest, RevokeEndsOnlyThatNotebooksTokens) {
  auto lab = tokens_->Issue("fraud", "lab", 1, 3600);
  auto lab2 = tokens_->Issue("fraud", "lab2", 1, 3600);  // "lab" is its prefix, not its name
  ASSERT_TRUE(lab.ok() && lab2.ok());
  ASSERT_TRUE(tokens_->Revoke("fraud", "lab").ok());
  EXPECT_EQ(store_->Authenticate(*lab).status().code(), StatusCode::kUnauthenticated);
  EXPECT_TRUE(store_->Authenticate(*lab2).ok());
  EXPECT_TRUE(tokens_->Revoke("fraud", "lab").ok()) << "idempotent";
  EXPECT_TRUE(tokens_->Revoke("pricing", "never-issued").ok());
}

TEST_P(NotebookTokensTest, ANewExecutionRevokesTheEarlierToken) {
  auto first = tokens_->Issue("fraud", "lab", 1, 3600);
  auto second = tokens_->Issue("fraud", "lab", 2, 3600);
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_EQ(store_->Authenticate(*first).status().code(), StatusCode::kUnauthenticated);
  EXPECT_TRUE(store_->Authenticate(*second).ok());
}

TEST_P(NotebookTokensTest, TheTokenExpires) {
  auto token = tokens_->Issue("fraud", "lab", 1, 60);
  ASSERT_TRUE(token.ok());
  clock_.Advance(61'000'000);
  EXPECT_EQ(store_->Authenticate(*token).status().code(), StatusCode::kUnauthenticated);
  EXPECT_EQ(tokens_->Issue("fraud", "lab", 2, 0).status().code(), StatusCode::kInvalidArgument);
}

TEST_P(NotebookTokensTest, AnUnknownTeamGetsNoTokenAndNoPrincipal) {
  EXPECT_EQ(tokens_->Issue("ghost", "lab", 1, 3600).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store_->GetPrincipal("notebooks@ghost").status().code(), StatusCode::kNotFound);
}

TEST_P(NotebookTokensTest, APrincipalOfThatNameThatIsNotTheServiceAccountIsRefusedUnchanged) {
  ASSERT_TRUE(store_->CreatePrincipal("notebooks@fraud", "user", false).ok());
  EXPECT_EQ(tokens_->Issue("fraud", "lab", 1, 3600).status().code(),
            StatusCode::kFailedPrecondition);
  ASSERT_TRUE(store_->CreatePrincipal("notebooks@pricing", "service", false).ok());
  ASSERT_TRUE(store_->SetMember("fraud", "notebooks@pricing", Role::kOwner).ok());
  auto refused = tokens_->Issue("pricing", "lab", 1, 3600);
  EXPECT_EQ(refused.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(refused.status().message().find("also belongs to team fraud"), std::string::npos)
      << refused.status();
  auto p = store_->GetPrincipal("notebooks@pricing");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->RoleIn("fraud"), Role::kOwner) << "not changed";
  EXPECT_EQ(p->RoleIn("pricing"), Role::kNone);
  auto listed = store_->ListTokens("notebooks@fraud");
  ASSERT_TRUE(listed.ok());
  EXPECT_TRUE(listed->empty()) << "no token for the user";
}

TEST_P(NotebookTokensTest, AServiceAccountDemotedToViewerIsMadeAMemberAgain) {
  ASSERT_TRUE(tokens_->Issue("fraud", "lab", 1, 3600).ok());
  ASSERT_TRUE(store_->SetMember("fraud", "notebooks@fraud", Role::kViewer).ok());
  auto token = tokens_->Issue("fraud", "lab", 2, 3600);
  ASSERT_TRUE(token.ok()) << token.status();
  auto who = store_->Authenticate(*token);
  ASSERT_TRUE(who.ok());
  EXPECT_EQ(who->RoleIn("fraud"), Role::kMember);
}

INSTANTIATE_TEST_SUITE_P(Db, NotebookTokensTest, ::testing::ValuesIn(sql::testing::Backends()),
                         [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace tandem::api::auth
