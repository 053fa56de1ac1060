// Per-deployment bearer tokens on a replica's data plane (docs/security.md
// "Serving endpoint tokens"): with token digests configured, /v2/... and
// /infer need `Authorization: Bearer <token>` whose SHA-256 is one of them;
// health (/v2/health/live, /v2/health/ready, /v2/models/{m}[/versions/{v}]/ready)
// and /metrics stay open for probes and scrapers. The replica keeps only the
// digests; comparisons are constant-time (CRYPTO_memcmp over every digest).
//
// Thread-safety: immutable after construction; Allows is thread-safe.
#pragma once

#include <array>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace tandem::serving::server {

class EndpointAuth {
 public:
  EndpointAuth() = default;  // no tokens: every request is allowed
  // Lowercase or uppercase hex SHA-256 digests (64 digits each);
  // InvalidArgument naming a malformed one.
  static StatusOr<EndpointAuth> FromHexDigests(const std::vector<std::string>& hex);

  bool enabled() const { return !digests_.empty(); }
  // True when disabled, or `authorization` is "Bearer <token>" (scheme case
  // insensitive) and SHA-256(token) equals a configured digest.
  bool Allows(std::string_view authorization) const;

 private:
  std::vector<std::array<unsigned char, 32>> digests_;
};

// Lowercase hex SHA-256 of `token` (what a deployment stores for it).
std::string TokenSha256Hex(std::string_view token);

// The WWW-Authenticate value of a refusal (RFC 6750).
inline constexpr char kServingAuthChallenge[] = "Bearer realm=\"tandem-serving\"";

}  // namespace tandem::serving::server
