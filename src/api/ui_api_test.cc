// The console at /ui/ on a real control plane: the embedded bundle with its
// content types and cache headers, deep links answered with the app, a
// missing asset a 404, / and /ui redirected; and the deployment metrics
// routes' errors for an unknown deployment or a bad interval.
#include <regex>

#include "api/testing/running_control_plane.h"
#include "api/ui_assets.h"

namespace tandem::api {
namespace {

class UiApiTest : public testing::RunningControlPlaneTest {
 protected:
  http::ClientResponse Get(const std::string& path) {
    http::ClientRequest req;
    req.url = base_ + path;
    auto res = client_.Do(Authorized(req));
    EXPECT_TRUE(res.ok()) << res.status();
    return res.ok() ? *res : http::ClientResponse{};
  }
};

TEST_F(UiApiTest, ServesTheAppWithItsAssets) {
  auto index = Get("/ui/");
  ASSERT_EQ(index.status, 200);
  EXPECT_EQ(index.headers["content-type"], "text/html; charset=utf-8");
  EXPECT_EQ(index.headers["cache-control"], "no-cache");
  EXPECT_NE(index.body.find("<div id=\"app\">"), std::string::npos) << index.body;

  // Every asset the page names is served with its type and cached for good.
  std::smatch m;
  ASSERT_TRUE(std::regex_search(index.body, m, std::regex(R"re(src="/ui/(assets/[^"]+\.js)")re")));
  auto js = Get("/ui/" + m[1].str());
  EXPECT_EQ(js.status, 200);
  EXPECT_EQ(js.headers["content-type"], "text/javascript; charset=utf-8");
  EXPECT_EQ(js.headers["cache-control"], "public, max-age=31536000, immutable");
  EXPECT_GT(js.body.size(), 1000u);
  ASSERT_TRUE(
      std::regex_search(index.body, m, std::regex(R"re(href="/ui/(assets/[^"]+\.css)")re")));
  auto css = Get("/ui/" + m[1].str());
  EXPECT_EQ(css.status, 200);
  EXPECT_EQ(css.headers["content-type"], "text/css; charset=utf-8");

  // Byte-exact: what is served is what was embedded.
  for (const UiAsset& a : UiAssets()) {
    auto res = Get("/ui/" + std::string(a.path));
    EXPECT_EQ(res.status, 200) << a.path;
    EXPECT_EQ(res.body, a.data) << a.path;
  }
}

TEST_F(UiApiTest, DeepLinksGetTheAppAndMissingAssetsA404) {
  auto index = Get("/ui/");
  for (std::string path : {"/ui/jobs", "/ui/jobs/01JABC", "/ui/models/tour", "/ui/deployments/x"}) {
    auto res = Get(path);
    EXPECT_EQ(res.status, 200) << path;
    EXPECT_EQ(res.body, index.body) << path;
  }
  auto missing = Get("/ui/assets/main-NOPE.js");
  EXPECT_EQ(missing.status, 404);
  EXPECT_NE(missing.body.find("NOT_FOUND"), std::string::npos) << missing.body;
}

TEST_F(UiApiTest, RootAndBarePathRedirectToTheConsole) {
  for (std::string path : {"/", "/ui"}) {
    http::ClientRequest req;
    req.url = base_ + path;
    auto res = client_.Do(req);
    ASSERT_TRUE(res.ok()) << res.status();
    EXPECT_EQ(res->status, 308) << path;
    EXPECT_EQ(res->headers["location"], "/ui/") << path;
  }
}

TEST_F(UiApiTest, DeploymentMetricsErrors) {
  auto unknown = Get("/api/v1/deployments/nope/metrics");
  EXPECT_EQ(unknown.status, 404) << unknown.body;
  auto stream = Get("/api/v1/deployments/nope/metrics/stream");
  EXPECT_EQ(stream.status, 404) << stream.body;
  auto bad = Get("/api/v1/deployments/nope/metrics/stream?interval_ms=5");
  EXPECT_EQ(bad.status, 400) << bad.body;
  EXPECT_NE(bad.body.find("interval_ms"), std::string::npos) << bad.body;
}

}  // namespace
}  // namespace tandem::api
