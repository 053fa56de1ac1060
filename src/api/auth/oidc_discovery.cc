#include "api/auth/oidc_discovery.h"

#include "common/http_client.h"
#include "common/json.h"

namespace tandem::api::auth {
namespace {

bool IsHttpUrl(const std::string& url) {
  return url.starts_with("http://") || url.starts_with("https://");
}

}  // namespace

StatusOr<std::string> HttpGetBody(const std::string& url) {
  http::Client client;
  ASSIGN_OR_RETURN(auto res, client.Get(url, 5'000));
  if (res.status != 200) {
    return UnavailableError(url + " answered HTTP " + std::to_string(res.status));
  }
  return res.body;
}

std::string DiscoveryUrl(const std::string& issuer) {
  std::string base = issuer;
  if (base.ends_with('/')) base.pop_back();
  return base + "/.well-known/openid-configuration";
}

std::function<StatusOr<std::string>()> DiscoveryJwksFetcher(std::string issuer, UrlGetter get) {
  return [issuer = std::move(issuer), get = std::move(get)]() -> StatusOr<std::string> {
    const std::string url = DiscoveryUrl(issuer);
    auto text = get(url);
    if (!text.ok()) {
      return UnavailableError("OIDC discovery: " + std::string(text.status().message()));
    }
    auto doc = ParseJson(*text);
    if (!doc.ok() || !doc->is_object()) {
      return UnavailableError("OIDC discovery: " + url + " is not a JSON object");
    }
    const Json doc_issuer = doc->value("issuer", Json());
    if (doc_issuer != Json(issuer)) {
      return UnavailableError("OIDC discovery: " + url + " is for issuer " + doc_issuer.dump() +
                              ", not " + issuer);
    }
    const Json jwks_uri = doc->value("jwks_uri", Json());
    if (!jwks_uri.is_string() || !IsHttpUrl(jwks_uri.get<std::string>())) {
      return UnavailableError("OIDC discovery: " + url +
                              " has no http(s) jwks_uri (got " + jwks_uri.dump() + ")");
    }
    auto jwks = get(jwks_uri.get<std::string>());
    if (!jwks.ok()) {
      return UnavailableError("OIDC discovery: JWKS: " + std::string(jwks.status().message()));
    }
    return *std::move(jwks);
  };
}

}  // namespace tandem::api::auth
