#include "common/http_router.h"

#include <gtest/gtest.h>

namespace tandem::http {
namespace {

Handler Noop() {
  return [](Request&, Response&) {};
}

TEST(PercentDecodeTest, DecodesEscapesAndRejectsMalformed) {
  std::string out;
  EXPECT_TRUE(PercentDecode("a%20b%2Fc+d", out));
  EXPECT_EQ(out, "a b/c+d");
  EXPECT_TRUE(PercentDecode("a+b", out, /*plus_as_space=*/true));
  EXPECT_EQ(out, "a b");
  EXPECT_FALSE(PercentDecode("%4", out));
  EXPECT_FALSE(PercentDecode("%", out));
  EXPECT_FALSE(PercentDecode("%zz", out));
}

TEST(ParseQueryTest, DecodesKeysAndValues) {
  std::map<std::string, std::string> q;
  ASSERT_TRUE(ParseQuery("a=1&b=x%20y&c&d=e+f&&a=2&k%3D=v%26", q));
  EXPECT_EQ(q["a"], "1");  // first wins
  EXPECT_EQ(q["b"], "x y");
  EXPECT_EQ(q.count("c"), 1u);
  EXPECT_EQ(q["c"], "");
  EXPECT_EQ(q["d"], "e f");
  EXPECT_EQ(q["k="], "v&");
  std::map<std::string, std::string> bad;
  EXPECT_FALSE(ParseQuery("a=%g1", bad));
}

TEST(RouterTest, MatchesLiteralsAndParams) {
  Router r;
  ASSERT_TRUE(r.Add("GET", "/api/v1/models/{name}/versions/{version}", Noop(), {}).ok());
  ASSERT_TRUE(r.Add("GET", "/", Noop(), {}).ok());
  auto m = r.Find("GET", "/api/v1/models/my%20model/versions/3");
  ASSERT_EQ(m.outcome, Router::Outcome::kFound);
  EXPECT_EQ(m.route->pattern, "/api/v1/models/{name}/versions/{version}");
  EXPECT_EQ(m.params["name"], "my model");
  EXPECT_EQ(m.params["version"], "3");

  EXPECT_EQ(r.Find("GET", "/").outcome, Router::Outcome::kFound);
  EXPECT_EQ(r.Find("GET", "/api/v1/models/x/versions").outcome, Router::Outcome::kNotFound);
  EXPECT_EQ(r.Find("GET", "/api/v1/models/x/versions/1/extra").outcome, Router::Outcome::kNotFound);
  EXPECT_EQ(r.Find("GET", "/api/v1/models//versions/1").outcome, Router::Outcome::kNotFound);
  EXPECT_EQ(r.Find("GET", "/api/v1/models/%zz/versions/1").outcome, Router::Outcome::kBadPath);
}

TEST(RouterTest, EncodedSlashStaysInsideParam) {
  Router r;
  ASSERT_TRUE(r.Add("GET", "/m/{name}", Noop(), {}).ok());
  auto m = r.Find("GET", "/m/a%2Fb");
  ASSERT_EQ(m.outcome, Router::Outcome::kFound);
  EXPECT_EQ(m.params["name"], "a/b");
}

TEST(RouterTest, RestOfPathCapturesSlashes) {
  Router r;
  ASSERT_TRUE(r.Add("PUT", "/objects/{bucket}/{key...}", Noop(), {}).ok());
  auto m = r.Find("PUT", "/objects/b1/dir/sub/file%20name.bin");
  ASSERT_EQ(m.outcome, Router::Outcome::kFound);
  EXPECT_EQ(m.params["bucket"], "b1");
  EXPECT_EQ(m.params["key"], "dir/sub/file name.bin");
  EXPECT_EQ(r.Find("PUT", "/objects/b1").outcome, Router::Outcome::kNotFound);
}

TEST(RouterTest, MostSpecificPatternWins) {
  Router r;
  ASSERT_TRUE(r.Add("GET", "/m/{name}", Noop(), {}).ok());
  ASSERT_TRUE(r.Add("GET", "/m/search", Noop(), {}).ok());
  ASSERT_TRUE(r.Add("GET", "/m/{rest...}", Noop(), {}).ok());
  EXPECT_EQ(r.Find("GET", "/m/search").route->pattern, "/m/search");
  EXPECT_EQ(r.Find("GET", "/m/other").route->pattern, "/m/{name}");
  EXPECT_EQ(r.Find("GET", "/m/a/b").route->pattern, "/m/{rest...}");
}

TEST(RouterTest, WrongMethodListsAllowed) {
  Router r;
  ASSERT_TRUE(r.Add("GET", "/jobs/{id}", Noop(), {}).ok());
  ASSERT_TRUE(r.Add("DELETE", "/jobs/{id}", Noop(), {}).ok());
  ASSERT_TRUE(r.Add("POST", "/jobs", Noop(), {}).ok());
  auto m = r.Find("PUT", "/jobs/7");
  EXPECT_EQ(m.outcome, Router::Outcome::kMethodNotAllowed);
  EXPECT_EQ(m.allow, "DELETE, GET");
  EXPECT_EQ(r.Find("GET", "/nothing").outcome, Router::Outcome::kNotFound);
}

TEST(RouterTest, RejectsMalformedAndDuplicatePatterns) {
  Router r;
  EXPECT_EQ(r.Add("GET", "no-slash", Noop(), {}).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(r.Add("GET", "/a/{", Noop(), {}).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(r.Add("GET", "/a/x{y}", Noop(), {}).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(r.Add("GET", "/a/{}", Noop(), {}).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(r.Add("GET", "/a/{x...}/b", Noop(), {}).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(r.Add("GET", "/a/{x}/{x}", Noop(), {}).code(), StatusCode::kInvalidArgument);
  ASSERT_TRUE(r.Add("GET", "/a/{x}", Noop(), {}).ok());
  Status dup = r.Add("GET", "/a/{x}", Noop(), {});
  EXPECT_EQ(dup.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(dup.message()).find("duplicate route GET /a/{x}"), std::string::npos);
  EXPECT_EQ(r.Routes(), std::vector<std::string>{"GET /a/{x}"});
}

}  // namespace
}  // namespace tandem::http
