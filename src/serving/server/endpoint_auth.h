// Per-deployment bearer tokens on a replica's data plane (docs/security.md
// "Serving endpoint tokens"): with token digests configured, /v2/... and
// /infer need `Authorization: Bearer <token>` whose SHA-256 is one of them;
// health (/v2/health/live, /v2/health/ready, /v2/models/{m}[/versions/{v}]/ready)
// and /metrics stay open for probes and scrapers. The replica keeps only the
// digests; comparisons are constant-time (CRYPTO_memcmp over every digest).
//
// Cost on the data plane (bench/security): SHA-256 through a digest fetched
// once per process and a context kept per thread (OpenSSL 3's one-shot
// SHA256() looks the algorithm up on every call: ~3x the time), and per
// connection the Authorization value last accepted (AcceptedToken): the same
// bytes again on that connection are compared with it in constant time
// instead of hashed. A different value is checked against the digests in
// full; a refused one is never remembered and forgets what was.
//
// Thread-safety: EndpointAuth is immutable after construction and Allows is
// thread-safe; an AcceptedToken belongs to one connection (one request at a
// time).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/http_server.h"
#include "common/status.h"

namespace tandem::serving::server {

class EndpointAuth;

// What one connection remembers of the token it presented last: the whole
// Authorization value, once an EndpointAuth accepted it, and which
// EndpointAuth (digest list) that was. Kept in
// http::Request::connection_state.
class AcceptedToken : public http::ConnectionState {
 public:
  bool empty() const { return value_.empty(); }
  // The value remembered ("" if none), for tests; never log it.
  const std::string& value() const { return value_; }

 private:
  friend class EndpointAuth;
  uint64_t auth_id_ = 0;  // the EndpointAuth that accepted value_
  std::string value_;
};

class EndpointAuth {
 public:
  EndpointAuth() = default;  // no tokens: every request is allowed
  // Lowercase or uppercase hex SHA-256 digests (64 digits each);
  // InvalidArgument naming a malformed one. Every call makes a new digest
  // list: what a connection remembered under another one does not count.
  static StatusOr<EndpointAuth> FromHexDigests(const std::vector<std::string>& hex);

  bool enabled() const { return !digests_.empty(); }
  // True when disabled, or `authorization` is "Bearer <token>" (scheme case
  // insensitive) and SHA-256(token) equals a configured digest.
  bool Allows(std::string_view authorization) const;
  // The same answer, with what `accepted` (the connection's) remembers: a
  // value byte-identical to the one this EndpointAuth accepted last on the
  // connection is allowed without hashing (constant-time compare); any other
  // is checked in full, remembered if allowed, and forgets the remembered
  // one if refused.
  bool Allows(std::string_view authorization, AcceptedToken& accepted) const;

 private:
  std::vector<std::array<unsigned char, 32>> digests_;
  uint64_t id_ = 0;  // unique per FromHexDigests (copies share it)
};

// Lowercase hex SHA-256 of `token` (what a deployment stores for it).
std::string TokenSha256Hex(std::string_view token);

// The WWW-Authenticate value of a refusal (RFC 6750).
inline constexpr char kServingAuthChallenge[] = "Bearer realm=\"tandem-serving\"";

}  // namespace tandem::serving::server
