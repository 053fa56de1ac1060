#include "api/auth/oidc_discovery.h"

#include <gtest/gtest.h>

#include <map>
#include <vector>

#include "api/auth/oidc.h"
#include "api/auth/testing/jwt_signer.h"

namespace tandem::api::auth {
namespace {

using testing::SigningKey;

constexpr char kIssuer[] = "https://idp.test/realms/corp";
constexpr char kDiscovery[] = "https://idp.test/realms/corp/.well-known/openid-configuration";
constexpr char kJwksUri[] = "https://keys.idp.test/corp/certs";

// An identity provider as a table of URL -> body; records every GET.
class FakeProvider {
 public:
  UrlGetter Getter() {
    return [this](const std::string& url) -> StatusOr<std::string> {
      requests.push_back(url);
      auto it = bodies.find(url);
      if (it == bodies.end()) return UnavailableError(url + " answered HTTP 404");
      return it->second;
    };
  }
  void SetDocument(const Json& doc) { bodies[kDiscovery] = doc.dump(); }

  std::map<std::string, std::string> bodies;
  std::vector<std::string> requests;
};

class OidcDiscoveryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    key_ = *SigningKey::Generate("ec", "ec-1");
    provider_.SetDocument({{"issuer", kIssuer}, {"jwks_uri", kJwksUri}});
    provider_.bodies[kJwksUri] = testing::Jwks({key_.get()});
    options_.issuer = kIssuer;
    options_.audience = "tandem";
  }
  std::unique_ptr<OidcVerifier> Verifier() {
    return OidcVerifier::CreateWithFetcher(options_, clock_,
                                           DiscoveryJwksFetcher(kIssuer, provider_.Getter()));
  }
  std::string Token(const SigningKey& key) const {
    const int64_t now = clock_.NowMicros() / 1'000'000;
    return key.Sign({{"iss", kIssuer}, {"aud", "tandem"}, {"sub", "bob"}, {"exp", now + 600}});
  }
  // The refusal of a token signed by key_ ("" if accepted).
  std::string Refusal() {
    auto p = Verifier()->Verify(Token(*key_));
    return p.ok() ? "" : std::string(p.status().message());
  }

  FakeClock clock_;
  FakeProvider provider_;
  std::unique_ptr<SigningKey> key_;
  OidcOptions options_;
};

TEST(DiscoveryUrl, AppendsTheWellKnownPathOnce) {
  EXPECT_EQ(DiscoveryUrl("https://idp.test"), "https://idp.test/.well-known/openid-configuration");
  EXPECT_EQ(DiscoveryUrl("https://idp.test/"), "https://idp.test/.well-known/openid-configuration");
  EXPECT_EQ(DiscoveryUrl(kIssuer), kDiscovery);
}

TEST_F(OidcDiscoveryTest, ReadsTheJwksUriFromTheIssuersDocument) {
  auto verifier = Verifier();
  auto p = verifier->Verify(Token(*key_));
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->name, "oidc:bob");
  EXPECT_EQ(provider_.requests, (std::vector<std::string>{kDiscovery, kJwksUri}));
  // Known keys need no further request.
  ASSERT_TRUE(verifier->Verify(Token(*key_)).ok());
  EXPECT_EQ(provider_.requests.size(), 2u);
}

TEST_F(OidcDiscoveryTest, UnknownKidRediscoversAtMostOncePerInterval) {
  auto verifier = Verifier();
  ASSERT_TRUE(verifier->Verify(Token(*key_)).ok());
  // The provider rotates to a new key served at a new JWKS URL.
  auto rotated = *SigningKey::Generate("ec", "ec-2");
  const std::string moved = "https://keys.idp.test/corp/certs-v2";
  provider_.SetDocument({{"issuer", kIssuer}, {"jwks_uri", moved}});
  provider_.bodies[moved] = testing::Jwks({rotated.get()});
  for (int i = 0; i < 10; ++i) EXPECT_FALSE(verifier->Verify(Token(*rotated)).ok());
  EXPECT_EQ(provider_.requests.size(), 2u);  // within the interval: no request
  clock_.AdvanceSeconds(static_cast<double>(options_.jwks_refetch_seconds));
  auto p = verifier->Verify(Token(*rotated));
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(provider_.requests,
            (std::vector<std::string>{kDiscovery, kJwksUri, kDiscovery, moved}));
}

TEST_F(OidcDiscoveryTest, RefusesTokensWhenTheDocumentIsWrongOrMissing) {
  struct Case {
    std::string body;
    std::string why;
  };
  const std::vector<Case> cases = {
      {Json({{"issuer", "https://evil.test"}, {"jwks_uri", kJwksUri}}).dump(),
       "is for issuer \"https://evil.test\", not https://idp.test/realms/corp"},
      {Json({{"issuer", kIssuer}}).dump(), "has no http(s) jwks_uri (got null)"},
      {Json({{"issuer", kIssuer}, {"jwks_uri", "file:///etc/passwd"}}).dump(),
       "has no http(s) jwks_uri"},
      {Json({{"issuer", kIssuer}, {"jwks_uri", 7}}).dump(), "has no http(s) jwks_uri (got 7)"},
      {"<html>", "is not a JSON object"},
      {"[]", "is not a JSON object"},
  };
  for (const Case& c : cases) {
    provider_.bodies[kDiscovery] = c.body;
    const std::string why = Refusal();
    EXPECT_NE(why.find("OIDC discovery: "), std::string::npos) << c.body << ": " << why;
    EXPECT_NE(why.find(c.why), std::string::npos) << c.body << ": " << why;
  }
  provider_.bodies.erase(kDiscovery);
  EXPECT_NE(Refusal().find(std::string(kDiscovery) + " answered HTTP 404"), std::string::npos);
  provider_.SetDocument({{"issuer", kIssuer}, {"jwks_uri", kJwksUri}});
  provider_.bodies.erase(kJwksUri);
  EXPECT_NE(Refusal().find("JWKS: " + std::string(kJwksUri) + " answered HTTP 404"),
            std::string::npos);
  provider_.bodies[kJwksUri] = testing::Jwks({key_.get()});
  EXPECT_EQ(Refusal(), "");
}

TEST(OidcDiscoveryOptions, IssuerAloneMeansDiscovery) {
  Config config;
  config.raw = Json::parse(R"({"auth": {"oidc": {"issuer": "https://i/", "audience": "a"}}})");
  auto o = OidcOptions::FromConfig(config);
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_TRUE(o->jwks_file.empty());
  EXPECT_TRUE(o->jwks_uri.empty());
  RealClock clock;
  EXPECT_TRUE(OidcVerifier::Create(*o, clock).ok());
  // Discovery needs a URL to start from.
  config.raw = Json::parse(R"({"auth": {"oidc": {"issuer": "corp-idp", "audience": "a"}}})");
  auto bad = OidcOptions::FromConfig(config);
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("to discover its JWKS"), std::string::npos);
  // A non-URL issuer is fine with an explicit key source.
  config.raw = Json::parse(
      R"({"auth": {"oidc": {"issuer": "corp-idp", "audience": "a", "jwks_file": "f"}}})");
  EXPECT_TRUE(OidcOptions::FromConfig(config).ok());
}

TEST(OidcDiscoveryOverHttp, UnreachableProviderIsAClearRefusal) {
  // A real GET to a closed port: the refusal names the discovery URL.
  auto fetch = DiscoveryJwksFetcher("http://127.0.0.1:1", HttpGetBody);
  auto text = fetch();
  ASSERT_FALSE(text.ok());
  EXPECT_EQ(text.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(text.status().message().find("127.0.0.1:1/.well-known/openid-configuration"),
            std::string::npos)
      << text.status();
}

}  // namespace
}  // namespace tandem::api::auth
