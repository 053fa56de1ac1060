// API tokens of managed notebooks (compute/notebooks/credentials.h). Each
// team's notebooks act through one service principal, "notebooks@<team>"
// (kind service, never an admin, a member of that team and of no other),
// made on first use; each notebook execution gets its own token (description
// "notebook <name> execution <n>"), revoked when the execution ends, and a
// new launch revokes the notebook's earlier ones first. So code in a
// notebook can do what a member of its team can (anyone who may open the
// notebook already can) and nothing else, and the audit trail names the
// notebook's principal.
//
// A principal of that name that is not such a service account (a user, an
// admin, one given other teams) is refused rather than changed.
//
// Thread-safety: thread-safe (the identity store is).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "api/auth/identity_store.h"
#include "common/status.h"

namespace tandem::api::auth {

class NotebookTokens {
 public:
  // `identity` must outlive this.
  explicit NotebookTokens(IdentityStore& identity) : identity_(identity) {}

  // "notebooks@<team>"; a team name too long for a principal name is
  // shortened and suffixed with 16 hex digits of its SHA-256.
  static std::string PrincipalFor(std::string_view team);

  // A token acting for `team` only, valid for `ttl_seconds` (> 0). NotFound
  // when the team does not exist; FailedPrecondition for a principal of that
  // name that is not the team's notebook service account.
  StatusOr<std::string> Issue(const std::string& team, const std::string& notebook,
                              int64_t execution, int64_t ttl_seconds);
  // Revokes every unrevoked token issued for `notebook` (idempotent; OK when
  // none was ever issued).
  Status Revoke(const std::string& team, const std::string& notebook);

 private:
  StatusOr<Principal> EnsurePrincipal(const std::string& team);

  IdentityStore& identity_;
};

}  // namespace tandem::api::auth
