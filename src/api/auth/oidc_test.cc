#include "api/auth/oidc.h"

#include <gtest/gtest.h>

#include "api/auth/testing/jwt_signer.h"

namespace tandem::api::auth {
namespace {

using testing::SigningKey;

constexpr char kIssuer[] = "https://idp.test";
constexpr char kAudience[] = "tandem";

class OidcTest : public ::testing::Test {
 protected:
  void SetUp() override {
    rsa_ = *SigningKey::Generate("rsa", "rsa-1");
    ec_ = *SigningKey::Generate("ec", "ec-1");
    attacker_ = *SigningKey::Generate("rsa", "rsa-1");  // same kid, other key
    jwks_ = testing::Jwks({rsa_.get(), ec_.get()});
    options_.issuer = kIssuer;
    options_.audience = kAudience;
    options_.clock_skew_seconds = 30;
    options_.groups["fraud-devs"] = {false, "fraud", Role::kMember};
    options_.groups["platform"] = {true, "", Role::kNone};
    verifier_ = OidcVerifier::CreateWithFetcher(options_, clock_, [this]() -> StatusOr<std::string> {
      return jwks_;
    });
  }

  int64_t Now() const { return clock_.NowMicros() / 1'000'000; }
  Json Claims() const {
    return {{"iss", kIssuer},       {"aud", kAudience},   {"sub", "alice"},
            {"email", "alice@x.io"}, {"iat", Now()},       {"nbf", Now()},
            {"exp", Now() + 600},   {"groups", {"team:eta:viewer", "fraud-devs", "other"}}};
  }
  // The refusal message for `token`, or "accepted".
  std::string Why(const std::string& token) {
    auto p = verifier_->Verify(token);
    if (p.ok()) return "accepted";
    EXPECT_EQ(p.status().code(), StatusCode::kUnauthenticated) << p.status();
    return std::string(p.status().message());
  }

  FakeClock clock_;
  std::unique_ptr<SigningKey> rsa_, ec_, attacker_;
  std::string jwks_;
  OidcOptions options_;
  std::unique_ptr<OidcVerifier> verifier_;
};

TEST_F(OidcTest, AcceptsRs256AndEs256AndMapsTeams) {
  for (const SigningKey* k : {rsa_.get(), ec_.get()}) {
    auto p = verifier_->Verify(k->Sign(Claims()));
    ASSERT_TRUE(p.ok()) << p.status();
    EXPECT_EQ(p->name, "oidc:alice");
    EXPECT_EQ(p->kind, "oidc");
    EXPECT_FALSE(p->admin);
    EXPECT_EQ(p->RoleIn("eta"), Role::kViewer);
    EXPECT_EQ(p->RoleIn("fraud"), Role::kMember);
    EXPECT_EQ(p->teams.size(), 2u);
  }
}

TEST_F(OidcTest, AudienceArrayPrincipalClaimAdminGroupAndSkew) {
  Json c = Claims();
  c["aud"] = {"other", kAudience};
  c["groups"] = {"platform", "team:eta:owner", "team:eta:viewer", "team:bad name:member",
                 "team:x:superuser", 7};
  c["exp"] = Now() - 10;  // within the 30 s skew
  c["nbf"] = Now() + 10;
  c["iat"] = Now() + 10;
  auto p = verifier_->Verify(rsa_->Sign(c));
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_TRUE(p->admin);
  EXPECT_EQ(p->RoleIn("eta"), Role::kOwner);  // the strongest grant wins
  EXPECT_EQ(p->teams.size(), 1u);             // malformed entries grant nothing

  options_.principal_claim = "email";
  auto by_email = OidcVerifier::CreateWithFetcher(options_, clock_, [this]() -> StatusOr<std::string> {
    return jwks_;
  });
  auto q = by_email->Verify(ec_->Sign(Claims()));
  ASSERT_TRUE(q.ok()) << q.status();
  EXPECT_EQ(q->name, "oidc:alice@x.io");
}

TEST_F(OidcTest, RefusesForgedAndInvalidTokens) {
  Json c = Claims();
  auto with = [&](const std::string& k, Json v) {
    Json x = c;
    if (v.is_null()) {
      x.erase(k);
    } else {
      x[k] = std::move(v);
    }
    return x;
  };
  EXPECT_NE(Why(attacker_->Sign(c)).find("bad signature"), std::string::npos);  // wrong key
  EXPECT_NE(Why(rsa_->Sign(c, "none")).find("alg \"none\""), std::string::npos);
  // HS256 keyed with the RSA public key (alg confusion).
  EXPECT_NE(Why(rsa_->Sign(c, "HS256")).find("alg \"HS256\""), std::string::npos);
  // ES256 header on the RSA key, RS256 on the EC key.
  EXPECT_NE(Why(rsa_->Sign(c, "ES256")).find("does not match key"), std::string::npos);
  EXPECT_NE(Why(ec_->Sign(c, "RS256")).find("does not match key"), std::string::npos);
  EXPECT_NE(Why(rsa_->Sign(with("exp", Now() - 31))).find("expired"), std::string::npos);
  EXPECT_NE(Why(rsa_->Sign(with("exp", nullptr))).find("no 'exp'"), std::string::npos);
  EXPECT_NE(Why(rsa_->Sign(with("exp", "tomorrow"))).find("'exp' is not a number"),
            std::string::npos);
  EXPECT_NE(Why(rsa_->Sign(with("nbf", Now() + 31))).find("not valid yet"), std::string::npos);
  EXPECT_NE(Why(rsa_->Sign(with("iat", Now() + 31))).find("issued in the future"),
            std::string::npos);
  EXPECT_NE(Why(rsa_->Sign(with("iss", "https://evil.test"))).find("issuer"), std::string::npos);
  EXPECT_NE(Why(rsa_->Sign(with("iss", nullptr))).find("issuer"), std::string::npos);
  EXPECT_NE(Why(rsa_->Sign(with("aud", "other"))).find("audience"), std::string::npos);
  EXPECT_NE(Why(rsa_->Sign(with("aud", Json::array({"a", "b"})))).find("audience"),
            std::string::npos);
  EXPECT_NE(Why(rsa_->Sign(with("sub", nullptr))).find("'sub'"), std::string::npos);
  EXPECT_NE(Why(rsa_->Sign(with("sub", 42))).find("'sub'"), std::string::npos);
  EXPECT_EQ(Why(rsa_->Sign(with("groups", "x"))), "accepted");  // a string is one group
  EXPECT_NE(Why(rsa_->Sign(with("groups", 3))).find("not a list"), std::string::npos);

  // Malformed: base64, JSON, shape, size.
  std::string good = rsa_->Sign(c);
  EXPECT_NE(Why("a.b").find("not a JWT"), std::string::npos);
  EXPECT_NE(Why("a.b.c.d").find("not a JWT"), std::string::npos);
  EXPECT_NE(Why("!!!." + good.substr(good.find('.') + 1)).find("base64url"), std::string::npos);
  EXPECT_NE(Why(Base64UrlEncode("{not json") + good.substr(good.find('.'))).find("header"),
            std::string::npos);
  std::string bad_claims = good.substr(0, good.find('.') + 1) + Base64UrlEncode("[1,2]") +
                           good.substr(good.rfind('.'));
  EXPECT_NE(Why(bad_claims).find("bad signature"), std::string::npos);  // signature first
  Json huge = c;
  huge["pad"] = std::string(10000, 'a');
  EXPECT_NE(Why(rsa_->Sign(huge)).find("longer than 8192"), std::string::npos);
  // The kid header must be a string; a missing kid with two keys is ambiguous.
  EXPECT_NE(Why(rsa_->Sign(c, "", false)).find("more than one key"), std::string::npos);
}

TEST_F(OidcTest, UnknownKidRefetchesAtMostOncePerInterval) {
  auto rotated = *SigningKey::Generate("ec", "ec-2");
  std::string token = rotated->Sign(Claims());
  EXPECT_NE(Why(token).find("unknown kid 'ec-2'"), std::string::npos);
  EXPECT_EQ(verifier_->fetches(), 1);
  // Hammering with unknown kids does not hammer the identity provider.
  for (int i = 0; i < 20; ++i) EXPECT_NE(Why(token), "accepted");
  EXPECT_EQ(verifier_->fetches(), 1);
  // The provider rotates its keys; after the interval the new kid is fetched.
  jwks_ = testing::Jwks({rsa_.get(), rotated.get()});
  clock_.AdvanceSeconds(static_cast<double>(options_.jwks_refetch_seconds));
  EXPECT_EQ(Why(token), "accepted");
  EXPECT_EQ(verifier_->fetches(), 2);
  // Known kids need no fetch.
  EXPECT_EQ(Why(rsa_->Sign(Claims())), "accepted");
  EXPECT_EQ(verifier_->fetches(), 2);
}

TEST_F(OidcTest, UnreachableOrInvalidJwksRefusesTokens) {
  auto down = OidcVerifier::CreateWithFetcher(options_, clock_, []() -> StatusOr<std::string> {
    return UnavailableError("connection refused");
  });
  auto p = down->Verify(rsa_->Sign(Claims()));
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().code(), StatusCode::kUnauthenticated);
  EXPECT_NE(p.status().message().find("connection refused"), std::string::npos);
  auto junk = OidcVerifier::CreateWithFetcher(options_, clock_, []() -> StatusOr<std::string> {
    return std::string("{\"keys\": 1}");
  });
  EXPECT_FALSE(junk->Verify(rsa_->Sign(Claims())).ok());
}

TEST(OidcOptions, ReadsAndValidatesTheConfigSection) {
  Config config;
  auto none = OidcOptions::FromConfig(config);
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->enabled());
  config.raw = Json::parse(R"({"auth": {"oidc": {"issuer": "https://i", "audience": "a",
      "jwks_uri": "http://127.0.0.1:1/jwks", "team_claim": "roles", "clock_skew_seconds": 5,
      "groups": {"g1": "admin", "g2": {"team": "fraud", "role": "viewer"}}}}})");
  auto o = OidcOptions::FromConfig(config);
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_TRUE(o->enabled());
  EXPECT_EQ(o->team_claim, "roles");
  EXPECT_EQ(o->clock_skew_seconds, 5);
  EXPECT_TRUE(o->groups["g1"].admin);
  EXPECT_EQ(o->groups["g2"].role, Role::kViewer);
  for (const char* bad : {
           // (issuer and audience alone: discovery, oidc_discovery_test.cc)
           R"({"auth": {"oidc": {"issuer": "https://i", "audience": "a", "jwks_file": "f", "jwks_uri": "http://x"}}})",
           R"({"auth": {"oidc": {"audience": "a", "jwks_file": "f"}}})",
           R"({"auth": {"oidc": {"issuer": "https://i", "audience": "a", "jwks_uri": "ftp://x"}}})",
           R"({"auth": {"oidc": {"issuer": "https://i", "audience": "a", "jwks_file": "f", "algs": ["HS256"]}}})",
           R"({"auth": {"oidc": {"issuer": "https://i", "audience": "a", "jwks_file": "f", "groups": {"g": {"team": "t", "role": "god"}}}}})",
           R"({"auth": {"oidc": {"issuer": "https://i", "audience": "a", "jwks_file": "f", "clock_skew_seconds": -1}}})",
           R"({"auth": {"saml": {}}})"}) {
    config.raw = Json::parse(bad);
    EXPECT_EQ(OidcOptions::FromConfig(config).status().code(), StatusCode::kInvalidArgument) << bad;
  }
}

TEST(LooksLikeJwt, ThreePartsOnly) {
  EXPECT_TRUE(LooksLikeJwt("a.b.c"));
  EXPECT_TRUE(LooksLikeJwt("a.b."));
  EXPECT_FALSE(LooksLikeJwt("tdm_t0123_abc"));
  EXPECT_FALSE(LooksLikeJwt("a.b"));
  EXPECT_FALSE(LooksLikeJwt("a.b.c.d"));
}

}  // namespace
}  // namespace tandem::api::auth
