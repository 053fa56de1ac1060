#include "glue/registry/names.h"

#include <gtest/gtest.h>

#include <string>

namespace tandem::registry {
namespace {

TEST(ParseModelRefTest, ParsesTheThreeForms) {
  auto latest = ParseModelRef("fraud");
  ASSERT_TRUE(latest.ok()) << latest.status();
  EXPECT_EQ(latest->kind, ModelRef::Kind::kLatest);
  EXPECT_EQ(latest->name, "fraud");
  auto alias = ParseModelRef("fraud.v2@champion");
  ASSERT_TRUE(alias.ok());
  EXPECT_EQ(alias->kind, ModelRef::Kind::kAlias);
  EXPECT_EQ(alias->name, "fraud.v2");
  EXPECT_EQ(alias->alias, "champion");
  auto version = ParseModelRef("fraud/12");
  ASSERT_TRUE(version.ok());
  EXPECT_EQ(version->kind, ModelRef::Kind::kVersion);
  EXPECT_EQ(version->version, 12);
  EXPECT_EQ(version->ToString(), "fraud/12");
  EXPECT_EQ(alias->ToString(), "fraud.v2@champion");
}

TEST(ParseModelRefTest, RejectsBadRefsNamingThem) {
  for (const char* bad : {"", "fraud@", "fraud@3", "fraud@Champion", "fraud/", "fraud/0",
                          "fraud/-1", "fraud/01", "fraud/x", "fraud/1/2", "@a", "/3", "-x", "a b",
                          "fraud@a@b", "fraud/99999999999999999999"}) {
    auto r = ParseModelRef(bad);
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << bad;
    EXPECT_NE(std::string(r.status().message()).find("'" + std::string(bad) + "'"),
              std::string::npos)
        << r.status();
  }
}

TEST(ValidateTest, ModelNames) {
  EXPECT_TRUE(ValidateModelName("a").ok());
  EXPECT_TRUE(ValidateModelName("Fraud_model-2.1").ok());
  EXPECT_TRUE(ValidateModelName(std::string(128, 'a')).ok());
  for (std::string bad :
       {std::string(), std::string(129, 'a'), std::string("_a"), std::string(".a"),
        std::string("a/b"), std::string("a@b"), std::string("a b"), std::string("é")}) {
    Status st = ValidateModelName(bad);
    EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << bad;
  }
  EXPECT_NE(std::string(ValidateModelName("a b").message()).find("'a b'"), std::string::npos);
}

TEST(ValidateTest, AliasesTagsSources) {
  EXPECT_TRUE(ValidateAlias("champion").ok());
  EXPECT_TRUE(ValidateAlias("v2_canary-1").ok());
  EXPECT_TRUE(ValidateAlias(std::string(64, 'a')).ok());
  for (std::string bad : {std::string(), std::string(65, 'a'), std::string("3"), std::string("007"),
                          std::string("Champion"), std::string("a.b")}) {
    EXPECT_EQ(ValidateAlias(bad).code(), StatusCode::kInvalidArgument) << bad;
  }
  EXPECT_TRUE(ValidateTag("k", "").ok());
  EXPECT_TRUE(ValidateTag(std::string(250, 'k'), std::string(5000, 'v')).ok());
  EXPECT_FALSE(ValidateTag("", "v").ok());
  EXPECT_FALSE(ValidateTag(std::string(251, 'k'), "v").ok());
  EXPECT_FALSE(ValidateTag("k", std::string(5001, 'v')).ok());
  EXPECT_TRUE(ValidateSource("sha256:" + std::string(64, 'a')).ok());
  EXPECT_TRUE(ValidateSource("s3://bucket/model.tar.gz").ok());
  EXPECT_TRUE(ValidateSource("file:///tmp/m").ok());
  for (std::string bad :
       {std::string(), std::string("sha256:abc"), "sha256:" + std::string(64, 'A'),
        std::string("/tmp/model"), std::string("://x"), std::string("s3://")}) {
    EXPECT_EQ(ValidateSource(bad).code(), StatusCode::kInvalidArgument) << bad;
  }
}

TEST(ParseModelRefTest, ToStringRoundTrips) {
  for (const char* ref : {"fraud", "fraud@champion", "fraud/3"}) {
    auto parsed = ParseModelRef(ref);
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    EXPECT_EQ(parsed->ToString(), ref);
    EXPECT_EQ(*ParseModelRef(parsed->ToString()), *parsed);
  }
}

}  // namespace
}  // namespace tandem::registry
