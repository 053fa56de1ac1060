// The web console at /ui/: the embedded bundle (ui_assets.h) with content
// types and cache headers. Content-hashed files under assets/ are immutable;
// index.html is revalidated on every load. Any other /ui/ path is a deep link
// into the single-page app and gets index.html; a missing asset is a 404.
#include <string>
#include <string_view>

#include "api/api_routes.h"
#include "api/control_plane.h"
#include "api/rest.h"
#include "api/ui_assets.h"

namespace tandem::api {
namespace {

std::string_view ContentType(std::string_view path) {
  auto ends = [&](std::string_view ext) { return path.ends_with(ext); };
  if (ends(".html")) return "text/html; charset=utf-8";
  if (ends(".js")) return "text/javascript; charset=utf-8";
  if (ends(".css")) return "text/css; charset=utf-8";
  if (ends(".svg")) return "image/svg+xml";
  if (ends(".png")) return "image/png";
  if (ends(".json") || ends(".map")) return "application/json";
  return "application/octet-stream";
}

const UiAsset* Find(std::string_view path) {
  for (const UiAsset& a : UiAssets()) {
    if (a.path == path) return &a;
  }
  return nullptr;
}

void Serve(const UiAsset& asset, http::Response& res) {
  res.status = 200;
  res.body.assign(asset.data);
  res.headers["content-type"] = std::string(ContentType(asset.path));
  res.headers["x-content-type-options"] = "nosniff";
  res.headers["cache-control"] =
      asset.path.starts_with("assets/") ? "public, max-age=31536000, immutable" : "no-cache";
}

void Redirect(http::Response& res, std::string location) {
  res.status = 308;
  res.headers["location"] = std::move(location);
  res.headers["content-type"] = "text/plain; charset=utf-8";
  res.body = "the console is at /ui/\n";
}

}  // namespace

void RegisterUiRoutes(ApiRoutes& routes) {
  routes.Route("GET", "/", Access::Public(),
               [](http::Request&, http::Response& res) { Redirect(res, "/ui/"); });
  routes.Route("GET", "/ui", Access::Public(),
               [](http::Request&, http::Response& res) { Redirect(res, "/ui/"); });
  routes.Route(
      "GET", "/ui/{path...}", Access::Public(), [](http::Request& req, http::Response& res) {
        std::string_view path = req.path.size() > 4 ? std::string_view(req.path).substr(4) : "";
        if (const UiAsset* asset = Find(path.empty() ? "index.html" : path))
          return Serve(*asset, res);
        if (path.starts_with("assets/")) {
          return WriteError(res, NotFoundError("no console asset '" + std::string(path) + "'"));
        }
        Serve(*Find("index.html"), res);  // a deep link: the app routes it
      });
}

}  // namespace tandem::api
