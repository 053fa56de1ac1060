#include "common/uri.h"

#include "gtest/gtest.h"

namespace tandem {
namespace {

// Parses `text` (with `default_scheme`) and checks its scheme, authority and path.
Uri ExpectParts(std::string_view text, std::string_view default_scheme, std::string_view scheme,
                std::string_view authority, std::string_view path) {
  auto u = ParseUri(text, default_scheme);
  EXPECT_TRUE(u.ok()) << text << ": " << u.status();
  if (!u.ok()) return {};
  EXPECT_EQ(u->scheme, scheme) << text;
  EXPECT_EQ(u->authority, authority) << text;
  EXPECT_EQ(u->path, path) << text;
  return *u;
}

TEST(UriTest, ParsesSchemeAuthorityPathQuery) {
  Uri u = ExpectParts("s3://bucket/some%20prefix?endpoint=http://127.0.0.1:9000&region=us-east-1",
                      "", "s3", "bucket", "/some prefix");
  EXPECT_EQ(u.query["endpoint"], "http://127.0.0.1:9000");
  EXPECT_EQ(u.query["region"], "us-east-1");
}

TEST(UriTest, FileAndSqlitePaths) {
  ExpectParts("sqlite:///var/lib/tandem.db", "", "sqlite", "", "/var/lib/tandem.db");
  ExpectParts("./data", "file", "file", "", "./data");
  EXPECT_FALSE(ParseUri("no-scheme").ok());
  EXPECT_FALSE(ParseUri("").ok());
}

TEST(UriTest, PercentEncodeRoundTrips) {
  EXPECT_EQ(PercentEncode("a b/c"), "a%20b/c");
  EXPECT_EQ(PercentDecode(PercentEncode("x=y&z ü")), "x=y&z ü");
}

// Escapes of either case decode; '+' is a space; a '%' without two hex
// digits after it stays as it is.
TEST(UriTest, PercentDecodeKeepsWhatIsNoEscape) {
  EXPECT_EQ(PercentDecode("%41%2f%2F+%e9"), "A// \xe9");
  EXPECT_EQ(PercentDecode("100%"), "100%");
  EXPECT_EQ(PercentDecode("%4"), "%4");
  EXPECT_EQ(PercentDecode("%41"), "A");
  EXPECT_EQ(PercentDecode("%zz%4g%g4"), "%zz%4g%g4");
}

}  // namespace
}  // namespace tandem
