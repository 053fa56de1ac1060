#include "serving/server/endpoint_auth.h"

#include <gtest/gtest.h>
#include <openssl/sha.h>

#include <atomic>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace tandem::serving::server {
namespace {

// The digest the way it was computed before (OpenSSL's one-shot SHA256()).
std::string OneShotHex(std::string_view s) {
  unsigned char d[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(s.data()), s.size(), d);
  static const char* kDigits = "0123456789abcdef";
  std::string out;
  for (unsigned char c : d) {
    out += kDigits[c >> 4];
    out += kDigits[c & 15];
  }
  return out;
}

std::string RandomToken(std::mt19937_64& rng, size_t n) {
  static const char kChars[] =
      "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~+/=";
  std::string s;
  for (size_t i = 0; i < n; ++i) s += kChars[rng() % (sizeof(kChars) - 1)];
  return s;
}

EndpointAuth AuthFor(const std::vector<std::string>& tokens) {
  std::vector<std::string> hex;
  for (const std::string& t : tokens) hex.push_back(TokenSha256Hex(t));
  auto auth = EndpointAuth::FromHexDigests(hex);
  EXPECT_TRUE(auth.ok()) << auth.status();
  return auth.ok() ? *std::move(auth) : EndpointAuth();
}

TEST(EndpointAuthTest, DigestsAreCheckedAndMalformedOnesRefused) {
  EXPECT_FALSE(EndpointAuth().enabled());
  EXPECT_TRUE(EndpointAuth().Allows(""));
  EXPECT_EQ(TokenSha256Hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");  // FIPS 180-2
  EXPECT_EQ(TokenSha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  auto upper = EndpointAuth::FromHexDigests(
      {"BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD"});
  ASSERT_TRUE(upper.ok());
  EXPECT_TRUE(upper->Allows("Bearer abc"));
  EXPECT_FALSE(upper->Allows("Bearer abd"));
  EXPECT_FALSE(upper->Allows(""));
  for (const char* bad : {"", "abc", "zz7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
                          "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad00"}) {
    auto r = EndpointAuth::FromHexDigests({bad});
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << bad;
  }
}

// The fetched digest and per-thread context give the one-shot SHA256()'s
// digests, for every length around the block boundaries (55/56/64 bytes)
// and long tokens, one call after another on the same context.
TEST(EndpointAuthTest, DigestsAreTheOneShotOnes) {
  std::mt19937_64 rng(7);
  for (size_t n = 0; n <= 300; ++n) {
    const std::string t = RandomToken(rng, n);
    EXPECT_EQ(TokenSha256Hex(t), OneShotHex(t)) << n;
  }
  const std::string big(1 << 20, 'x');
  EXPECT_EQ(TokenSha256Hex(big), OneShotHex(big));
}

// Several digests: each token is accepted, a token of none (one byte off, a
// prefix, an extension, another scheme, blanks only) is refused.
TEST(EndpointAuthTest, SeveralDigestsEachAcceptedOthersRefused) {
  std::mt19937_64 rng(11);
  std::vector<std::string> tokens;
  for (int i = 0; i < 5; ++i) tokens.push_back(RandomToken(rng, 64));
  const EndpointAuth auth = AuthFor(tokens);
  ASSERT_TRUE(auth.enabled());
  for (const std::string& t : tokens) {
    EXPECT_TRUE(auth.Allows("Bearer " + t)) << t;
    EXPECT_TRUE(auth.Allows("bEaReR   " + t + "  ")) << t;
    std::string off = t;
    off.back() = off.back() == 'a' ? 'b' : 'a';
    EXPECT_FALSE(auth.Allows("Bearer " + off));
    EXPECT_FALSE(auth.Allows("Bearer " + t.substr(0, 63)));
    EXPECT_FALSE(auth.Allows("Bearer " + t + "x"));
    EXPECT_FALSE(auth.Allows("Basic " + t));
    EXPECT_FALSE(auth.Allows(t));
  }
  for (const char* v : {"", "Bearer", "Bearer ", "Bearer    ", "Bearerx"}) {
    EXPECT_FALSE(auth.Allows(v)) << v;
  }
}

// Each thread has its own context: concurrent checks from several threads
// all answer right.
TEST(EndpointAuthTest, ConcurrentChecksAnswerRight) {
  const EndpointAuth auth = AuthFor({"tok-A", "tok-B"});
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      AcceptedToken accepted;
      for (int i = 0; i < 2000; ++i) {
        const bool good = (i + t) % 3 != 0;
        const std::string v = good ? (i % 2 ? "Bearer tok-A" : "Bearer tok-B") : "Bearer tok-C";
        if (auth.Allows(v) != good) wrong++;
        if (auth.Allows(v, accepted) != good) wrong++;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(wrong.load(), 0);
}

// A connection's AcceptedToken: an accepted value is remembered and allowed
// again; another accepted value replaces it; a refused value is never
// remembered and forgets what was; a value differing from the remembered one
// in its last byte, or only by length, is refused.
TEST(EndpointAuthTest, AcceptedTokenRemembersOnlyAcceptedValues) {
  const EndpointAuth auth = AuthFor({"tok-A", "tok-B"});
  AcceptedToken conn;
  EXPECT_FALSE(auth.Allows("Bearer tok-C", conn));
  EXPECT_TRUE(conn.empty());  // a refused token is never remembered
  EXPECT_FALSE(auth.Allows("", conn));
  EXPECT_TRUE(conn.empty());

  EXPECT_TRUE(auth.Allows("Bearer tok-A", conn));
  EXPECT_EQ(conn.value(), "Bearer tok-A");
  EXPECT_TRUE(auth.Allows("Bearer tok-A", conn));
  EXPECT_EQ(conn.value(), "Bearer tok-A");

  // Same length, last byte differs; longer; shorter; no token: refused, and forgotten.
  for (const char* wrong : {"Bearer tok-C", "Bearer tok-AA", "Bearer tok-", ""}) {
    EXPECT_TRUE(auth.Allows("Bearer tok-A", conn));
    EXPECT_FALSE(auth.Allows(wrong, conn)) << wrong;
    EXPECT_TRUE(conn.empty()) << wrong;
  }

  EXPECT_TRUE(auth.Allows("Bearer tok-A", conn));
  EXPECT_TRUE(auth.Allows("Bearer tok-B", conn));  // another accepted value replaces it
  EXPECT_EQ(conn.value(), "Bearer tok-B");
  EXPECT_TRUE(auth.Allows("bearer tok-B", conn));  // same token, other bytes: checked in full
  EXPECT_EQ(conn.value(), "bearer tok-B");

  // Without tokens everything is allowed and nothing remembered.
  AcceptedToken open_conn;
  EXPECT_TRUE(EndpointAuth().Allows("Bearer whatever", open_conn));
  EXPECT_TRUE(open_conn.empty());
}

// A new digest list (a deployment updated: its replicas get a new
// EndpointAuth) does not honour what a connection remembered under the old
// one: a token it no longer holds is refused (and forgotten) even though the
// connection presented it, accepted, just before; a token it still holds is
// checked again and accepted.
TEST(EndpointAuthTest, NewDigestListInvalidatesWhatConnectionsRemembered) {
  const EndpointAuth before = AuthFor({"tok-A", "tok-B"});
  const EndpointAuth after = AuthFor({"tok-B"});
  AcceptedToken conn;
  ASSERT_TRUE(before.Allows("Bearer tok-A", conn));
  EXPECT_FALSE(after.Allows("Bearer tok-A", conn));
  EXPECT_TRUE(conn.empty());
  EXPECT_TRUE(before.Allows("Bearer tok-B", conn));
  EXPECT_TRUE(after.Allows("Bearer tok-B", conn));
  EXPECT_FALSE(before.Allows("Bearer tok-C", conn));

  // The same digests again are still a new list: nothing is carried over.
  const EndpointAuth again = AuthFor({"tok-A"});
  const EndpointAuth again2 = AuthFor({"tok-A"});
  AcceptedToken c2;
  ASSERT_TRUE(again.Allows("Bearer tok-A", c2));
  EXPECT_TRUE(again2.Allows("Bearer tok-A", c2));  // hashed and accepted under again2
  EXPECT_FALSE(after.Allows("Bearer tok-A", c2));
  EXPECT_TRUE(c2.empty());
}

}  // namespace
}  // namespace tandem::serving::server
