// Keeps docs/openapi.yaml true: every /api/v1 route the control plane
// registers is documented and every documented operation is registered; the
// document is well formed (path parameters declared, the error shape on every
// operation) and served at /api/v1/openapi.{json,yaml}.
#include "api/openapi.h"

#include <unistd.h>

#include <filesystem>
#include <regex>

#include "api/control_plane.h"
#include "common/http_client.h"
#include "common/version.h"
#include "common/yaml.h"
#include "gtest/gtest.h"

namespace tandem::api {
namespace {
namespace fs = std::filesystem;

class OpenApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    home_ = fs::temp_directory_path() /
            ("tandem-openapi-" + std::to_string(::getpid()) + "-" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(home_);
    auto config = LoadConfig(home_.string(), "", {{"TANDEM_PORT", "0"}});
    ASSERT_TRUE(config.ok()) << config.status();
    auto cp = ControlPlane::Open(*config, Clock::Real());
    ASSERT_TRUE(cp.ok()) << cp.status();
    cp_ = std::move(*cp);
  }
  void TearDown() override {
    cp_.reset();
    fs::remove_all(home_);
  }

  fs::path home_;
  std::unique_ptr<ControlPlane> cp_;
};

Json Doc() {
  auto doc = OpenApiDocument();
  EXPECT_TRUE(doc.ok()) << doc.status();
  return doc.ok() ? *doc : Json::object();
}

// Follows a local "$ref": "#/components/..." (one level is all the document uses).
Json Deref(const Json& doc, const Json& node) {
  if (!node.is_object() || !node.contains("$ref")) return node;
  std::string ref = node["$ref"].get<std::string>();
  EXPECT_TRUE(ref.starts_with("#/")) << ref;
  return doc.value(Json::json_pointer(ref.substr(1)), Json());
}

TEST_F(OpenApiTest, EveryRegisteredRouteIsDocumentedAndViceVersa) {
  auto documented = DocumentedRoutes(Doc());
  ASSERT_TRUE(documented.ok()) << documented.status();
  RouteMismatch m = CompareRoutes(cp_->server().Routes(), *documented);
  EXPECT_TRUE(m.empty()) << "docs/openapi.yaml is out of date with the control plane's routes:\n"
                         << m.Explain();
  EXPECT_GT(documented->size(), 40u);  // the check compared something real
}

TEST(OpenApiDocumentTest, IsOpenApi3WithTheErrorShape) {
  Json doc = Doc();
  ASSERT_TRUE(doc.contains("openapi"));
  EXPECT_TRUE(doc["openapi"].get<std::string>().starts_with("3.")) << doc["openapi"];
  Json error = doc["components"]["schemas"]["Error"];
  EXPECT_EQ(error["required"], Json({"error"}));
  EXPECT_EQ(error["properties"]["error"]["required"], Json({"code", "message"}));
}

// The version is written once, in CMakeLists.txt; the document repeats it.
TEST(OpenApiDocumentTest, InfoVersionIsTheProjectVersion) {
  Json doc = Doc();
  ASSERT_TRUE(doc["info"]["version"].is_string()) << doc["info"];
  EXPECT_EQ(doc["info"]["version"].get<std::string>(), Version())
      << "docs/openapi.yaml info.version differs from project(tandem VERSION ...) in "
         "CMakeLists.txt";
}

TEST(OpenApiDocumentTest, EveryOperationDeclaresItsPathParametersAndErrors) {
  Json doc = Doc();
  const std::regex param(R"(\{([A-Za-z_]+)\})");
  for (const auto& [path, item] : doc["paths"].items()) {
    for (const auto& [method, op] : item.items()) {
      if (method == "parameters" || method == "servers") continue;
      std::string where = method + " " + path;
      ASSERT_TRUE(op.contains("responses")) << where << " has no responses";
      bool has_success = false;
      for (const auto& [code, r] : op["responses"].items()) {
        has_success = has_success || code.starts_with("2");
        EXPECT_TRUE(Deref(doc, r).contains("description")) << where << " response " << code;
      }
      EXPECT_TRUE(has_success) << where << " documents no 2xx response";
      // Every API error is {"error":{code,message}}; say so on each operation
      // (the health and document routes cannot fail).
      if (path != "/health" && path != "/openapi.json" && path != "/openapi.yaml") {
        ASSERT_TRUE(op["responses"].contains("default")) << where << " lacks `default: Error`";
        EXPECT_EQ(op["responses"]["default"]["$ref"], "#/components/responses/Error") << where;
      }
      std::set<std::string> declared;
      for (const Json* list : {&item, &op}) {
        if (!list->contains("parameters")) continue;
        for (const auto& p : (*list)["parameters"]) {
          Json resolved = Deref(doc, p);
          ASSERT_TRUE(resolved.contains("name")) << where << ": " << p;
          if (resolved["in"] == "path") {
            EXPECT_EQ(resolved.value("required", false), true) << where << " " << resolved["name"];
            declared.insert(resolved["name"].get<std::string>());
          }
        }
      }
      std::set<std::string> in_template;
      for (std::sregex_iterator it(path.begin(), path.end(), param), end; it != end; ++it) {
        in_template.insert((*it)[1]);
      }
      EXPECT_EQ(declared, in_template) << where << ": path parameters declared vs in the template";
    }
  }
}

TEST(OpenApiCompareTest, NamesExactlyWhatToAddOrRemove) {
  std::vector<std::string> registered = {"GET /api/v1/health", "GET /api/v1/artifacts/{key...}",
                                         "POST /api/v1/tuning/{id}/stop", "GET /v2/health/ready"};
  std::vector<std::string> documented = {"GET /api/v1/health", "GET /api/v1/artifacts/{key}",
                                         "DELETE /api/v1/models/{name}"};
  RouteMismatch m = CompareRoutes(registered, documented);
  EXPECT_EQ(m.undocumented, std::vector<std::string>({"POST /api/v1/tuning/{id}/stop"}));
  EXPECT_EQ(m.unregistered, std::vector<std::string>({"DELETE /api/v1/models/{name}"}));
  std::string text = m.Explain();
  EXPECT_NE(text.find("add `post:`"), std::string::npos) << text;
  EXPECT_NE(text.find("under `/tuning/{id}/stop:` in `paths:` of docs/openapi.yaml"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("operation `delete` of `/models/{name}`"), std::string::npos) << text;
  EXPECT_TRUE(CompareRoutes({"GET /api/v1/x"}, {"GET /api/v1/x"}).empty());
}

TEST(OpenApiCompareTest, DocumentedRoutesUseTheServerBasePath) {
  auto doc = ParseYaml(
      "servers: [{url: 'http://localhost:1/api/v1'}]\n"
      "paths:\n  /a/{x}:\n    parameters: []\n    get: {}\n    delete: {}\n");
  ASSERT_TRUE(doc.ok()) << doc.status();
  auto routes = DocumentedRoutes(*doc);
  ASSERT_TRUE(routes.ok()) << routes.status();
  EXPECT_EQ(*routes, std::vector<std::string>({"DELETE /api/v1/a/{x}", "GET /api/v1/a/{x}"}));

  // A path item's own server (the root, for /metrics) overrides the base.
  auto root = ParseYaml(
      "servers: [{url: 'http://localhost:1/api/v1'}]\n"
      "paths:\n  /metrics:\n    servers: [{url: 'http://localhost:1/'}]\n    get: {}\n");
  ASSERT_TRUE(root.ok()) << root.status();
  EXPECT_EQ(*DocumentedRoutes(*root), std::vector<std::string>({"GET /metrics"}));
  EXPECT_EQ(CompareRoutes({"GET /metrics", "GET /v2/health/ready"}, {}).undocumented,
            std::vector<std::string>({"GET /metrics"}));

  auto bad = DocumentedRoutes(Json{{"openapi", "3.0.3"}});
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(bad.status().message()).find("paths"), std::string::npos);
}

TEST_F(OpenApiTest, ServedAsJsonAndYaml) {
  auto port = cp_->Start();
  ASSERT_TRUE(port.ok()) << port.status();
  std::string base = "http://127.0.0.1:" + std::to_string(*port);
  http::Client client;
  http::ClientRequest req;
  req.url = base + "/api/v1/openapi.json";
  auto res = client.Do(req);
  ASSERT_TRUE(res.ok()) << res.status();
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(Json::parse(res->body), Doc());
  req.url = base + "/api/v1/openapi.yaml";
  res = client.Do(req);
  ASSERT_TRUE(res.ok()) << res.status();
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->body, std::string(OpenApiYaml()));
}

}  // namespace
}  // namespace tandem::api
