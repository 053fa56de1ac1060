// Who a bearer token stands for: a tandem API token (`tdm_...`, checked
// against the identity store) or, when OIDC is configured, a JWT from the
// identity provider (oidc.h). A JWT's team roles are those its claim maps
// to, kept only for teams tandem knows (a claim naming a team that does not
// exist grants nothing).
//
// Thread-safety: thread-safe (the store and the verifier are).
#pragma once

#include <memory>
#include <string>

#include "api/auth/identity_store.h"
#include "api/auth/oidc.h"
#include "common/status.h"

namespace tandem::api::auth {

class Authenticator {
 public:
  // `identity` must outlive this; `oidc` may be null (JWTs refused).
  Authenticator(IdentityStore& identity, std::unique_ptr<OidcVerifier> oidc)
      : identity_(identity), oidc_(std::move(oidc)) {}

  // Unauthenticated (with the reason) for a bad token of either kind.
  StatusOr<Principal> Authenticate(const std::string& token);

  IdentityStore& identity() { return identity_; }
  bool oidc_enabled() const { return oidc_ != nullptr; }

 private:
  IdentityStore& identity_;
  std::unique_ptr<OidcVerifier> oidc_;
};

}  // namespace tandem::api::auth
