#include "glue/images/reference.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace tandem::images {
namespace {

using ::testing::HasSubstr;

const std::string kHex(64, 'a');
const std::string kDigest = "sha256:" + kHex;

TEST(ReferenceTest, RepoAndTag) {
  auto r = ParseReference("team/model:1.0");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->registry, "");
  EXPECT_EQ(r->repository, "team/model");
  EXPECT_EQ(r->tag, "1.0");
  EXPECT_EQ(r->digest, "");
  EXPECT_EQ(r->TagOrDigest(), "1.0");
  EXPECT_EQ(r->ToString(), "team/model:1.0");
}

TEST(ReferenceTest, DefaultTagIsLatest) {
  auto r = ParseReference("busybox");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->repository, "busybox");
  EXPECT_EQ(r->tag, "latest");
  EXPECT_EQ(r->ToString(), "busybox:latest");
}

TEST(ReferenceTest, Digest) {
  auto r = ParseReference("team/x@" + kDigest);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->tag, "");
  EXPECT_EQ(r->digest, kDigest);
  EXPECT_EQ(r->TagOrDigest(), kDigest);
  EXPECT_EQ(r->ToString(), "team/x@" + kDigest);
}

TEST(ReferenceTest, TagAndDigestDigestWins) {
  auto r = ParseReference("team/x:v2@" + kDigest);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->tag, "v2");
  EXPECT_EQ(r->TagOrDigest(), kDigest);
  EXPECT_EQ(r->ToString(), "team/x:v2@" + kDigest);
}

TEST(ReferenceTest, RegistryHostPrefix) {
  auto r = ParseReference("127.0.0.1:5000/team/x:1");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->registry, "127.0.0.1:5000");
  EXPECT_EQ(r->repository, "team/x");
  EXPECT_EQ(r->tag, "1");
  EXPECT_EQ(r->Name(), "team/x:1");
  EXPECT_EQ(r->ToString(), "127.0.0.1:5000/team/x:1");

  auto l = ParseReference("localhost/x");
  ASSERT_TRUE(l.ok()) << l.status();
  EXPECT_EQ(l->registry, "localhost");
  EXPECT_EQ(l->repository, "x");
  EXPECT_EQ(l->tag, "latest");

  auto h = ParseReference("registry.example.com/a/b/c@" + kDigest);
  ASSERT_TRUE(h.ok()) << h.status();
  EXPECT_EQ(h->registry, "registry.example.com");
  EXPECT_EQ(h->repository, "a/b/c");
  // A first component without '.', ':' or "localhost" is part of the name.
  auto n = ParseReference("team/x");
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(n->registry, "");
  EXPECT_EQ(n->repository, "team/x");
}

TEST(ReferenceTest, RoundTrip) {
  for (const std::string& text : std::vector<std::string>{"a:b", "a/b/c:d", "x.y:5000/a__b/c-d:E_1.2-x", "a@" + kDigest,
                           "localhost:1/a:t@" + kDigest}) {
    auto r = ParseReference(text);
    ASSERT_TRUE(r.ok()) << text << ": " << r.status();
    EXPECT_EQ(r->ToString(), text);
    auto again = ParseReference(r->ToString());
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(*again, *r);
  }
}

TEST(ReferenceTest, NameGrammar) {
  for (const std::string& ok : std::vector<std::string>{"a", "a0", "a.b", "a_b", "a__b", "a-b", "a---b", "a/b/c", "0"}) {
    EXPECT_TRUE(ValidateRepository(ok).ok()) << ok;
  }
  struct Bad {
    std::string name, why;
  };
  for (const Bad& b : std::vector<Bad>{{"", "empty"},
                                       {"Team/x", "lower case"},
                                       {"a//b", "empty path component"},
                                       {"/a", "empty path component"},
                                       {"a/", "empty path component"},
                                       {"a___b", "not followed"},
                                       {"a..b", "not followed"},
                                       {"a.", "not followed"},
                                       {"-a", "does not start"},
                                       {"../etc", "does not start"},
                                       {"a/../b", "does not start"},
                                       {"a b", "character other"},
                                       {"a\\b", "character other"},
                                       {std::string(256, 'a'), "longer than 255"}}) {
    Status s = ValidateRepository(b.name);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << b.name;
    EXPECT_THAT(s.message(), HasSubstr(b.why)) << b.name;
  }
}

TEST(ReferenceTest, TagGrammar) {
  EXPECT_TRUE(ValidateTag("latest").ok());
  EXPECT_TRUE(ValidateTag("_x").ok());
  EXPECT_TRUE(ValidateTag("V1.2-rc_3").ok());
  EXPECT_TRUE(ValidateTag(std::string(128, 'a')).ok());
  EXPECT_THAT(ValidateTag("").message(), HasSubstr("empty"));
  EXPECT_THAT(ValidateTag(std::string(129, 'a')).message(), HasSubstr("longer than 128"));
  EXPECT_THAT(ValidateTag(".x").message(), HasSubstr("start"));
  EXPECT_THAT(ValidateTag("-x").message(), HasSubstr("start"));
  EXPECT_THAT(ValidateTag("a/b").message(), HasSubstr("character"));
}

TEST(ReferenceTest, DigestGrammar) {
  EXPECT_TRUE(ValidateImageDigest(kDigest).ok());
  EXPECT_THAT(ValidateImageDigest("sha512:" + std::string(128, 'a')).message(),
              HasSubstr("only sha256"));
  EXPECT_THAT(ValidateImageDigest("sha256:abc").message(), HasSubstr("64 hex"));
  EXPECT_THAT(ValidateImageDigest("sha256:" + std::string(64, 'A')).message(),
              HasSubstr("lower-case hex"));
  EXPECT_THAT(ValidateImageDigest("nodigest").message(), HasSubstr("<algorithm>:<hex>"));
  EXPECT_TRUE(ValidateTagOrDigest("v1").ok());
  EXPECT_TRUE(ValidateTagOrDigest(kDigest).ok());
  EXPECT_FALSE(ValidateTagOrDigest("sha256:zz").ok());
}

TEST(ReferenceTest, ParseErrorsNameTheText) {
  for (const std::string& bad : std::vector<std::string>{"", "UPPER/x", "a:b:c", "a@sha256:12", "a:", "a:.x", "team/x@md5:00",
                          "bad_host:99999999/x", "a/b:t@"}) {
    auto r = ParseReference(bad);
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << bad;
    if (!bad.empty()) {
      EXPECT_THAT(r.status().message(), HasSubstr(bad)) << bad;
    }
  }
}

}  // namespace
}  // namespace tandem::images
