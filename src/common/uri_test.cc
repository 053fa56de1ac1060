#include "common/uri.h"

#include "gtest/gtest.h"

namespace tandem {
namespace {

TEST(UriTest, ParsesSchemeAuthorityPathQuery) {
  auto u = ParseUri("s3://bucket/some%20prefix?endpoint=http://127.0.0.1:9000&region=us-east-1");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->scheme, "s3");
  EXPECT_EQ(u->authority, "bucket");
  EXPECT_EQ(u->path, "/some prefix");
  EXPECT_EQ(u->query.at("endpoint"), "http://127.0.0.1:9000");
  EXPECT_EQ(u->query.at("region"), "us-east-1");
}

TEST(UriTest, FileAndSqlitePaths) {
  auto u = ParseUri("sqlite:///var/lib/tandem.db");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->scheme, "sqlite");
  EXPECT_EQ(u->authority, "");
  EXPECT_EQ(u->path, "/var/lib/tandem.db");
  auto bare = ParseUri("./data", "file");
  ASSERT_TRUE(bare.ok());
  EXPECT_EQ(bare->scheme, "file");
  EXPECT_EQ(bare->path, "./data");
  EXPECT_FALSE(ParseUri("no-scheme").ok());
  EXPECT_FALSE(ParseUri("").ok());
}

TEST(UriTest, PercentEncodeRoundTrips) {
  EXPECT_EQ(PercentEncode("a b/c"), "a%20b/c");
  EXPECT_EQ(PercentDecode(PercentEncode("x=y&z ü")), "x=y&z ü");
}

}  // namespace
}  // namespace tandem
