#include "api/openapi.h"

#include <algorithm>
#include <cctype>
#include <set>

#include "api/api_routes.h"
#include "api/rest.h"
#include "common/yaml.h"

namespace tandem::api {
namespace {

constexpr std::string_view kApiPrefix = "/api/v1";
constexpr const char* kDocPath = "docs/openapi.yaml";

// The path part of a server URL: "http://h:1/api/v1" -> "/api/v1".
std::string BasePath(const std::string& url) {
  size_t scheme = url.find("://");
  if (scheme == std::string::npos) return url;
  size_t slash = url.find('/', scheme + 3);
  return slash == std::string::npos ? "" : url.substr(slash);
}

std::string Upper(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::toupper(c); });
  return s;
}

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

// Splits "GET /api/v1/models" into the lowercase method and the path relative
// to /api/v1 ("/models").
std::pair<std::string, std::string> DocSpelling(const std::string& route) {
  size_t space = route.find(' ');
  std::string method = Lower(route.substr(0, space));
  std::string path = space == std::string::npos ? "" : route.substr(space + 1);
  if (path.starts_with(kApiPrefix)) path = path.substr(kApiPrefix.size());
  return {method, path};
}

}  // namespace

StatusOr<Json> OpenApiDocument() {
  static const StatusOr<Json> parsed = ParseYaml(OpenApiYaml());
  if (!parsed.ok()) return Annotate(parsed.status(), kDocPath);
  return *parsed;
}

StatusOr<std::vector<std::string>> DocumentedRoutes(const Json& doc) {
  static const std::set<std::string> kMethods = {"get",   "put",     "post", "delete",
                                                 "patch", "options", "head", "trace"};
  if (!doc.is_object() || !doc.contains("paths") || !doc["paths"].is_object()) {
    return InvalidArgumentError(std::string(kDocPath) + ": missing the 'paths' mapping");
  }
  std::string base;
  if (doc.contains("servers")) {
    const Json& servers = doc["servers"];
    if (!servers.is_array() || servers.empty() || !servers[0].is_object() ||
        !servers[0].contains("url") || !servers[0]["url"].is_string()) {
      return InvalidArgumentError(std::string(kDocPath) +
                                  ": 'servers' must be a list of {url: ...}");
    }
    base = BasePath(servers[0]["url"].get<std::string>());
  }
  while (!base.empty() && base.back() == '/') base.pop_back();
  std::vector<std::string> out;
  for (const auto& [path, item] : doc["paths"].items()) {
    if (!item.is_object()) {
      return InvalidArgumentError(std::string(kDocPath) + ": paths." + path + " must be a mapping");
    }
    // A path item may name its own server (e.g. /metrics at the root).
    std::string item_base = base;
    if (item.contains("servers")) {
      const Json& servers = item["servers"];
      if (!servers.is_array() || servers.empty() || !servers[0].is_object() ||
          !servers[0].contains("url") || !servers[0]["url"].is_string()) {
        return InvalidArgumentError(std::string(kDocPath) + ": paths." + path +
                                    ".servers must be a list of {url: ...}");
      }
      item_base = BasePath(servers[0]["url"].get<std::string>());
      while (!item_base.empty() && item_base.back() == '/') item_base.pop_back();
    }
    for (const auto& [key, op] : item.items()) {
      if (kMethods.count(key) == 0) continue;  // parameters, summary, ...
      out.push_back(Upper(key) + " " + item_base + path);
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string NormalizeRoute(std::string_view route) {
  std::string out(route);
  for (size_t pos; (pos = out.find("...}")) != std::string::npos;) out.erase(pos, 3);
  return out;
}

RouteMismatch CompareRoutes(const std::vector<std::string>& registered,
                            const std::vector<std::string>& documented) {
  std::set<std::string> reg;
  for (const auto& r : registered) {
    std::string n = NormalizeRoute(r);
    std::string path = n.substr(n.find(' ') + 1);
    // The API under /api/v1, and the metrics scrapers read at the root. Not
    // here by design: /ui/ (the console's assets) and /v2/ (the OCI
    // distribution API, specified by the OCI distribution spec: docs/images.md;
    // its routes are in docs/security.md and checked by access_test).
    if (path.starts_with(std::string(kApiPrefix) + "/") || path == "/metrics") reg.insert(n);
  }
  std::set<std::string> doc(documented.begin(), documented.end());
  RouteMismatch m;
  std::set_difference(reg.begin(), reg.end(), doc.begin(), doc.end(),
                      std::back_inserter(m.undocumented));
  std::set_difference(doc.begin(), doc.end(), reg.begin(), reg.end(),
                      std::back_inserter(m.unregistered));
  return m;
}

std::string RouteMismatch::Explain() const {
  std::string out;
  for (const auto& r : undocumented) {
    auto [method, path] = DocSpelling(r);
    out += "route " + r + " is registered but not documented: add `" + method +
           ":` (summary, parameters, requestBody, responses incl. `default: {$ref: "
           "\"#/components/responses/Error\"}`) under `" +
           path + ":` in `paths:` of " + kDocPath + "\n";
  }
  for (const auto& r : unregistered) {
    auto [method, path] = DocSpelling(r);
    out += "operation `" + method + "` of `" + path + "` in " + kDocPath + " (" + r +
           ") is not registered by the control plane: remove it from " + kDocPath +
           " or register the route\n";
  }
  return out;
}

void RegisterOpenApiRoutes(ApiRoutes& routes) {
  routes.Route("GET", "/api/v1/openapi.yaml", Access::Public(),
               [](http::Request&, http::Response& res) {
                 res.Text(200, std::string(OpenApiYaml()));
                 res.headers["content-type"] = "application/yaml; charset=utf-8";
               });
  routes.Route("GET", "/api/v1/openapi.json", Access::Public(),
               [](http::Request&, http::Response& res) {
                 auto doc = OpenApiDocument();
                 if (!doc.ok()) return WriteError(res, doc.status());
                 WriteJson(res, *doc);
               });
}

}  // namespace tandem::api
