#include "api/auth/authenticator.h"

namespace tandem::api::auth {

StatusOr<Principal> Authenticator::Authenticate(const std::string& token) {
  if (!token.starts_with("tdm_") && LooksLikeJwt(token)) {
    if (oidc_ == nullptr) {
      return UnauthenticatedError("a JWT was sent but OIDC is not configured (auth.oidc)");
    }
    ASSIGN_OR_RETURN(Principal p, oidc_->Verify(token));
    for (auto it = p.teams.begin(); it != p.teams.end();) {
      auto team = identity_.GetTeam(it->first);
      if (team.ok()) {
        ++it;
      } else if (team.status().code() == StatusCode::kNotFound) {
        it = p.teams.erase(it);
      } else {
        return team.status();
      }
    }
    return p;
  }
  return identity_.Authenticate(token);
}

}  // namespace tandem::api::auth
