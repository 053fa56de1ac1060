// OIDC discovery (OpenID Connect Discovery 1.0, section 4): the JWKS of an
// issuer configured with neither `jwks_file` nor `jwks_uri`. Each fetch reads
// `<issuer>/.well-known/openid-configuration` (a trailing '/' of the issuer
// dropped first), checks that its `issuer` is the configured one exactly (a
// document for another issuer is refused: its keys would sign tokens this
// control plane must not accept), takes its `jwks_uri` (http:// or https://)
// and returns that document's text. The verifier calls it on the first token
// and again on an unknown `kid` at most once per `jwks_refetch_seconds`, so a
// provider that rotates its keys (or moves its JWKS) is followed without a
// restart and unknown kids cannot make tandem hammer it.
#pragma once

#include <functional>
#include <string>

#include "common/status.h"

namespace tandem::api::auth {

// GETs a URL and returns its body; anything but HTTP 200 is an error.
using UrlGetter = std::function<StatusOr<std::string>(const std::string& url)>;

// UrlGetter over http::Client (5 s timeout): Unavailable naming the URL and
// the status (or the transport error).
StatusOr<std::string> HttpGetBody(const std::string& url);

// The discovery URL of `issuer`.
std::string DiscoveryUrl(const std::string& issuer);

// A JWKS fetcher (OidcVerifier::JwksFetcher) discovering the JWKS of `issuer`
// through `get`. Its errors are Unavailable and name the document and why.
std::function<StatusOr<std::string>()> DiscoveryJwksFetcher(std::string issuer, UrlGetter get);

}  // namespace tandem::api::auth
