// The identity store against every SQL backend available: SQLite always,
// PostgreSQL when the ctest fixture started it.
#include "api/auth/identity_store.h"

#include <unistd.h>

#include <filesystem>

#include "api/auth/token.h"
#include "common/testing/test_server.h"
#include "api/auth/testing/identity_store_env.h"
#include "glue/sql/testing/postgres_test_db.h"
#include "gtest/gtest.h"

namespace tandem::api::auth {
namespace {

namespace fs = std::filesystem;

class IdentityStoreTest : public testing::IdentityStoreEnv {
 protected:
  void SetUp() override { OpenStore("tandem-auth-"); }
};

TEST(TokenTest, HighEntropyWellFormedAndHashed) {
  auto a = NewToken();
  auto b = NewToken();
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(a->token, b->token);
  EXPECT_EQ(a->token.size(), 4 + 17 + 1 + 64u) << a->token;
  EXPECT_EQ(TokenId(a->token), a->id);
  EXPECT_EQ(TokenId("tdm_tzz_00"), "");
  EXPECT_EQ(TokenId("Bearer x"), "");
  // SHA-256("abc"), the FIPS 180-2 test vector.
  EXPECT_EQ(HashToken("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST_P(IdentityStoreTest, TokenAuthenticatesItsPrincipalAndIsStoredOnlyAsAHash) {
  ASSERT_TRUE(store_->CreatePrincipal("ann", "user", false).ok());
  auto created = store_->CreateToken("ann", "laptop", 0);
  ASSERT_TRUE(created.ok()) << created.status();
  // Not a structured binding: a lambda below captures `secret` (clang 14 cannot).
  const TokenInfo info = created->first;
  const std::string secret = created->second;
  auto who = store_->Authenticate(secret);
  ASSERT_TRUE(who.ok()) << who.status();
  EXPECT_EQ(who->name, "ann");
  EXPECT_FALSE(who->admin);
  EXPECT_EQ(who->token_id, info.id);
  Status found_secret = db_->Read([&](sql::Transaction& tx) -> Status {
    ASSIGN_OR_RETURN(auto rows,
                     tx.Query("SELECT id, principal, hash, description FROM auth_tokens"));
    for (const auto& r : rows) {
      for (size_t i = 0; i < r.size(); ++i) {
        if (r.Text(i).find(secret.substr(22)) != std::string::npos) return InternalError("stored");
      }
    }
    return OkStatus();
  });
  EXPECT_TRUE(found_secret.ok()) << "the token's secret is in the database";
}

TEST_P(IdentityStoreTest, WrongExpiredAndRevokedTokensAreRefused) {
  ASSERT_TRUE(store_->CreatePrincipal("svc", "service", false).ok());
  auto shortlived = store_->CreateToken("svc", "", 60);
  auto revoked = store_->CreateToken("svc", "", 0);
  ASSERT_TRUE(shortlived.ok() && revoked.ok());
  EXPECT_TRUE(store_->Authenticate(shortlived->second).ok());
  auto forged = NewToken();
  ASSERT_TRUE(forged.ok());
  EXPECT_EQ(store_->Authenticate(forged->token).status().code(), StatusCode::kUnauthenticated);
  EXPECT_EQ(store_->Authenticate("garbage").status().code(), StatusCode::kUnauthenticated);
  // Same id, other secret: the hash decides.
  std::string tampered = shortlived->second;
  tampered.back() = tampered.back() == '0' ? '1' : '0';
  EXPECT_EQ(store_->Authenticate(tampered).status().code(), StatusCode::kUnauthenticated);

  clock_.AdvanceSeconds(61);
  auto expired = store_->Authenticate(shortlived->second);
  EXPECT_EQ(expired.status().code(), StatusCode::kUnauthenticated);
  EXPECT_NE(std::string(expired.status().message()).find("expired"), std::string::npos);

  ASSERT_TRUE(store_->RevokeToken(revoked->first.id).ok());
  ASSERT_TRUE(store_->RevokeToken(revoked->first.id).ok());  // idempotent
  auto gone = store_->Authenticate(revoked->second);
  EXPECT_EQ(gone.status().code(), StatusCode::kUnauthenticated);
  EXPECT_NE(std::string(gone.status().message()).find("revoked"), std::string::npos);
  EXPECT_EQ(store_->RevokeToken("tnope").code(), StatusCode::kNotFound);

  auto list = store_->ListTokens("svc");
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 2u);
  for (const TokenInfo& t : *list) {
    EXPECT_EQ(t.revoked_micros != 0, t.id == revoked->first.id) << t.id;
  }
}

TEST_P(IdentityStoreTest, TeamsAndRoles) {
  ASSERT_TRUE(store_->CreatePrincipal("ann", "user", false).ok());
  EXPECT_EQ(store_->CreatePrincipal("ann", "user", false).code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(store_->CreatePrincipal("Bad Name", "user", false).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->CreatePrincipal("bob", "robot", false).code(), StatusCode::kInvalidArgument);
  ASSERT_TRUE(store_->CreateTeam("fraud").ok());
  EXPECT_EQ(store_->CreateTeam("fraud").code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(store_->SetMember("nope", "ann", Role::kMember).code(), StatusCode::kNotFound);
  EXPECT_EQ(store_->SetMember("fraud", "nobody", Role::kMember).code(), StatusCode::kNotFound);
  ASSERT_TRUE(store_->SetMember("fraud", "ann", Role::kViewer).ok());
  ASSERT_TRUE(store_->SetMember("fraud", "ann", Role::kOwner).ok());
  auto ann = store_->GetPrincipal("ann");
  ASSERT_TRUE(ann.ok());
  EXPECT_EQ(ann->RoleIn("fraud"), Role::kOwner);
  EXPECT_EQ(ann->RoleIn("pricing"), Role::kNone);
  auto team = store_->GetTeam("fraud");
  ASSERT_TRUE(team.ok());
  EXPECT_EQ(team->ToJson()["members"], Json({{"ann", "owner"}}));
  ASSERT_TRUE(store_->RemoveMember("fraud", "ann").ok());
  EXPECT_EQ(store_->RemoveMember("fraud", "ann").code(), StatusCode::kNotFound);
  EXPECT_EQ(store_->GetPrincipal("ann")->RoleIn("fraud"), Role::kNone);
  EXPECT_EQ(ParseRole("admin").status().code(), StatusCode::kInvalidArgument);
}

TEST_P(IdentityStoreTest, BootstrapCreatesTheAdminOnce) {
  auto first = store_->BootstrapAdmin();
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_FALSE(first->empty());
  auto admin = store_->Authenticate(*first);
  ASSERT_TRUE(admin.ok());
  EXPECT_TRUE(admin->admin);
  auto second = store_->BootstrapAdmin();
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(*second, "");
  EXPECT_EQ(store_->ListTokens("")->size(), 1u);
}

TEST(IdentityStorePostgres, ServerAvailable) {
  TANDEM_REQUIRE_TEST_SERVER("postgres", uri);
  EXPECT_TRUE(uri.starts_with("postgres://")) << uri;
}

INSTANTIATE_TEST_SUITE_P(Db, IdentityStoreTest, ::testing::ValuesIn(sql::testing::Backends()),
                         [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace tandem::api::auth
