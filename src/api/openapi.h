// The OpenAPI 3 document of /api/v1 (docs/openapi.yaml, embedded at build
// time), the routes that serve it, and the check that keeps it true: every
// route the control plane registers is documented, and every documented
// operation is registered (see openapi_test.cc).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "api/api_routes.h"
#include "common/http_server.h"
#include "common/json.h"
#include "common/status.h"

namespace tandem::api {

// The document's source text (docs/openapi.yaml as of the build).
std::string_view OpenApiYaml();
// The document parsed (once) into JSON; InvalidArgument if the YAML is malformed.
StatusOr<Json> OpenApiDocument();

// "METHOD /api/v1/path/{param}" for every operation under `paths`, the paths
// prefixed with the base path of the first server URL ("/api/v1"). A
// malformed document (no paths, no servers) -> InvalidArgument naming the part.
StatusOr<std::vector<std::string>> DocumentedRoutes(const Json& doc);

// A server route ("GET /api/v1/artifacts/{key...}") in the document's
// spelling ("GET /api/v1/artifacts/{key}").
std::string NormalizeRoute(std::string_view route);

struct RouteMismatch {
  std::vector<std::string> undocumented;  // registered, missing from the document
  std::vector<std::string> unregistered;  // documented, not registered
  bool empty() const { return undocumented.empty() && unregistered.empty(); }
  // One line per mismatch saying exactly what to add to or remove from
  // docs/openapi.yaml (e.g. "add `get:` under `/models/{name}` in paths").
  std::string Explain() const;
};
// Compares the server's routes (http::Server::Routes(); only those under
// /api/v1 count) with the documented ones (DocumentedRoutes()).
RouteMismatch CompareRoutes(const std::vector<std::string>& registered,
                            const std::vector<std::string>& documented);

// GET /api/v1/openapi.yaml (the source) and GET /api/v1/openapi.json.
void RegisterOpenApiRoutes(ApiRoutes& routes);

}  // namespace tandem::api
