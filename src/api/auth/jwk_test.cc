#include "api/auth/jwk.h"

#include <gtest/gtest.h>

#include "api/auth/testing/jwt_signer.h"

namespace tandem::api::auth {
namespace {

using testing::SigningKey;

TEST(Base64Url, RoundTripsAndRefusesNonCanonicalInput) {
  for (std::string s : std::vector<std::string>{"", "f", "fo", "foo", "foob", std::string("\xff\xfe\x00", 3)}) {
    auto back = Base64UrlDecode(Base64UrlEncode(s));
    ASSERT_TRUE(back.ok()) << s;
    EXPECT_EQ(*back, s);
  }
  EXPECT_FALSE(Base64UrlDecode("Zm9v=").ok());   // padding
  EXPECT_FALSE(Base64UrlDecode("Zm+v").ok());    // base64, not base64url
  EXPECT_FALSE(Base64UrlDecode("Zm9 v").ok());   // whitespace
  EXPECT_FALSE(Base64UrlDecode("Zm9vY").ok());   // dangling sextet
  EXPECT_FALSE(Base64UrlDecode("Zh").ok());      // non-zero leftover bits
  EXPECT_TRUE(Base64UrlDecode("Zg").ok());
}

TEST(Jwks, ParsesRsaAndEcKeysAndSkipsOthers) {
  auto rsa = SigningKey::Generate("rsa", "r1");
  auto ec = SigningKey::Generate("ec", "e1");
  ASSERT_TRUE(rsa.ok() && ec.ok());
  Json doc = {{"keys",
               {(*rsa)->Jwk(), (*ec)->Jwk(), {{"kty", "oct"}, {"kid", "h"}, {"k", "c2VjcmV0"}},
                {{"kty", "RSA"}, {"kid", "enc"}, {"use", "enc"}, {"n", "AQAB"}, {"e", "AQAB"}}}}};
  auto keys = ParseJwks(doc.dump());
  ASSERT_TRUE(keys.ok()) << keys.status();
  ASSERT_EQ(keys->size(), 2u);
  EXPECT_EQ((*keys)[0]->kid(), "r1");
  EXPECT_EQ((*keys)[0]->alg(), JwtAlg::kRS256);
  EXPECT_EQ((*keys)[1]->kid(), "e1");
  EXPECT_EQ((*keys)[1]->alg(), JwtAlg::kES256);
}

TEST(Jwks, RefusesMalformedKeys) {
  auto rsa = SigningKey::Generate("rsa", "r1");
  auto ec = SigningKey::Generate("ec", "e1");
  ASSERT_TRUE(rsa.ok() && ec.ok());
  EXPECT_FALSE(ParseJwks("[]").ok());
  EXPECT_FALSE(ParseJwks("{\"keys\": 3}").ok());
  EXPECT_FALSE(ParseJwks("not json").ok());
  // Two keys with one kid.
  Json dup = {{"keys", {(*rsa)->Jwk(), (*rsa)->Jwk()}}};
  EXPECT_FALSE(ParseJwks(dup.dump()).ok());
  // A short RSA modulus.
  Json small = (*rsa)->Jwk();
  small["n"] = Base64UrlEncode(std::string(128, '\x81'));
  auto s = PublicKey::FromJwk(small);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("1024 bits"), std::string::npos) << s.status();
  // An EC point off the curve.
  Json off = (*ec)->Jwk();
  off["y"] = Base64UrlEncode(std::string(32, '\x01'));
  EXPECT_FALSE(PublicKey::FromJwk(off).ok());
  // A key claiming an algorithm its type cannot do.
  Json confused = (*rsa)->Jwk();
  confused["alg"] = "HS256";
  EXPECT_FALSE(PublicKey::FromJwk(confused).ok());
  Json wrong_len = (*ec)->Jwk();
  wrong_len["x"] = Base64UrlEncode("short");
  EXPECT_FALSE(PublicKey::FromJwk(wrong_len).ok());
}

TEST(PublicKey, VerifiesOnlyItsOwnSignatures) {
  auto rsa = SigningKey::Generate("rsa", "r1");
  auto rsa2 = SigningKey::Generate("rsa", "r1");
  auto ec = SigningKey::Generate("ec", "e1");
  ASSERT_TRUE(rsa.ok() && rsa2.ok() && ec.ok());
  for (const SigningKey* k : {rsa->get(), ec->get()}) {
    auto pub = PublicKey::FromJwk(k->Jwk());
    ASSERT_TRUE(pub.ok()) << pub.status();
    std::string jwt = k->Sign({{"a", 1}});
    size_t dot = jwt.rfind('.');
    auto sig = Base64UrlDecode(jwt.substr(dot + 1));
    ASSERT_TRUE(sig.ok());
    EXPECT_TRUE((*pub)->Verify(jwt.substr(0, dot), *sig));
    EXPECT_FALSE((*pub)->Verify(jwt.substr(0, dot) + "x", *sig));
    std::string flipped = *sig;
    flipped[5] ^= 1;
    EXPECT_FALSE((*pub)->Verify(jwt.substr(0, dot), flipped));
    EXPECT_FALSE((*pub)->Verify(jwt.substr(0, dot), ""));
  }
  auto other = PublicKey::FromJwk((*rsa2)->Jwk());
  ASSERT_TRUE(other.ok());
  std::string jwt = (*rsa)->Sign({{"a", 1}});
  size_t dot = jwt.rfind('.');
  EXPECT_FALSE((*other)->Verify(jwt.substr(0, dot), *Base64UrlDecode(jwt.substr(dot + 1))));
}

}  // namespace
}  // namespace tandem::api::auth
