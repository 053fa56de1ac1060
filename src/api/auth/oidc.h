// OIDC: JSON Web Tokens from a company's identity provider accepted as
// bearer tokens (docs/security.md "OIDC"). Configured in tandem.yaml:
//
//   auth:
//     oidc:
//       issuer: https://idp.example.com          # `iss`, exactly
//       audience: tandem                         # must be in `aud` (string or array)
//       jwks_file: /etc/tandem/jwks.json         # or jwks_uri: https://idp/.../jwks;
//                                                # neither: discovered from the issuer
//                                                # (oidc_discovery.h)
//       principal_claim: email                   # default: sub
//       team_claim: groups                       # default: groups
//       groups:                                  # optional explicit mapping
//         fraud-devs: {team: fraud, role: member}
//         platform-admins: admin
//       clock_skew_seconds: 60                   # default 60
//       jwks_refetch_seconds: 30                 # unknown kid: refetch at most this often
//       max_token_bytes: 8192
//
// A token is accepted only if: it is three base64url parts; its header's
// `alg` is RS256 or ES256 and equals the algorithm of the key its `kid` names
// (`none`, HS*, and RS256 on an EC key are refused: the key's type decides);
// the signature verifies; `iss` is the issuer; `aud` holds the audience;
// `exp` is present and not past, `nbf` and `iat` not in the future (each
// with the skew, on the injected Clock); and it names a principal. The
// principal is "oidc:<claim>" (tandem's own principal names cannot contain
// ':', so a token can never pass for one of them). Each string of the team
// claim is looked up in `groups` first, else read as `team:<team>:<role>`
// (role viewer|member|owner); anything else grants nothing.
//
// Thread-safety: Verify is thread-safe (the key cache is under a mutex).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>

#include "absl/synchronization/mutex.h"
#include "api/auth/identity_store.h"
#include "api/auth/jwk.h"
#include "common/clock.h"
#include "common/config.h"
#include "common/status.h"

namespace tandem::api::auth {

struct GroupGrant {
  bool admin = false;
  std::string team;
  Role role = Role::kNone;
};

struct OidcOptions {
  std::string issuer;
  std::string audience;
  std::string jwks_file;
  std::string jwks_uri;  // http(s); neither: OIDC discovery from the issuer
  std::string principal_claim = "sub";
  std::string team_claim = "groups";
  std::map<std::string, GroupGrant> groups;
  int64_t clock_skew_seconds = 60;
  int64_t jwks_refetch_seconds = 30;
  int64_t max_token_bytes = 8192;

  // The `auth.oidc` section; nullopt-like empty issuer when absent.
  // InvalidArgument naming the key for anything malformed.
  static StatusOr<OidcOptions> FromConfig(const Config& config);
  bool enabled() const { return !issuer.empty(); }
};

// True if `token` has the shape of a JWT (three dot-separated parts), as
// opposed to a tandem API token (`tdm_...`).
bool LooksLikeJwt(std::string_view token);

class OidcVerifier {
 public:
  // Reads the JWKS text (from the file or URI). Tests inject their own.
  using JwksFetcher = std::function<StatusOr<std::string>()>;

  // The fetcher of `options` (jwks_file, jwks_uri, or else discovery from
  // `<issuer>/.well-known/openid-configuration`). Keys are fetched on
  // the first token, not here, so an unreachable identity provider does not
  // keep the control plane from starting.
  static StatusOr<std::unique_ptr<OidcVerifier>> Create(OidcOptions options, Clock& clock);
  static std::unique_ptr<OidcVerifier> CreateWithFetcher(OidcOptions options, Clock& clock,
                                                         JwksFetcher fetch);

  // The principal `token` stands for (name "oidc:...", kind "oidc", teams
  // from the claim) or Unauthenticated saying why not.
  StatusOr<Principal> Verify(std::string_view token);

  // How many times the JWKS was fetched (for tests of the rate limit).
  int fetches() const;

 private:
  OidcVerifier(OidcOptions options, Clock& clock, JwksFetcher fetch)
      : options_(std::move(options)), clock_(clock), fetch_(std::move(fetch)) {}
  // The key named `kid` ("" = the only key), refetching the JWKS once if it
  // is unknown and the last fetch is older than jwks_refetch_seconds.
  StatusOr<std::shared_ptr<const PublicKey>> Key(const std::string& kid);
  StatusOr<Principal> FromClaims(const Json& claims) const;

  const OidcOptions options_;
  Clock& clock_;
  JwksFetcher fetch_;
  mutable absl::Mutex mu_;
  KeySet keys_ ABSL_GUARDED_BY(mu_);
  int64_t last_fetch_mono_ ABSL_GUARDED_BY(mu_) = -1;  // -1: never
  int fetches_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace tandem::api::auth
