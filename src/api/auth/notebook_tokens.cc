#include "api/auth/notebook_tokens.h"

#include "api/auth/token.h"

namespace tandem::api::auth {
namespace {

constexpr std::string_view kPrefix = "notebooks@";
constexpr size_t kMaxName = 64;  // ValidateName's limit

std::string Description(const std::string& notebook) { return "notebook " + notebook + " "; }

}  // namespace

std::string NotebookTokens::PrincipalFor(std::string_view team) {
  std::string name = std::string(kPrefix) + std::string(team);
  if (name.size() <= kMaxName) return name;
  const std::string digest = HashToken(team).substr(0, 16);
  return std::string(kPrefix) + std::string(team.substr(0, kMaxName - kPrefix.size() - 17)) + "-" +
         digest;
}

StatusOr<Principal> NotebookTokens::EnsurePrincipal(const std::string& team) {
  RETURN_IF_ERROR(identity_.GetTeam(team).status());  // NotFound: no token
  const std::string name = PrincipalFor(team);
  auto principal = identity_.GetPrincipal(name);
  if (!principal.ok() && principal.status().code() == StatusCode::kNotFound) {
    Status created = identity_.CreatePrincipal(name, "service", false);
    if (!created.ok() && created.code() != StatusCode::kAlreadyExists) return created;
    principal = identity_.GetPrincipal(name);
  }
  if (!principal.ok()) return principal.status();
  if (principal->kind != "service" || principal->admin) {
    return FailedPreconditionError("principal " + name + " exists but is not team " + team +
                                   "'s notebook service account (a non-admin service principal)");
  }
  for (const auto& [other, role] : principal->teams) {
    if (other != team) {
      return FailedPreconditionError("principal " + name + " (team " + team +
                                     "'s notebooks) also belongs to team " + other +
                                     ": remove it there first");
    }
  }
  if (principal->RoleIn(team) != Role::kMember) {
    RETURN_IF_ERROR(identity_.SetMember(team, name, Role::kMember));
    principal->teams[team] = Role::kMember;
  }
  return principal;
}

StatusOr<std::string> NotebookTokens::Issue(const std::string& team, const std::string& notebook,
                                            int64_t execution, int64_t ttl_seconds) {
  if (ttl_seconds <= 0) return InvalidArgumentError("a notebook token must expire");
  ASSIGN_OR_RETURN(Principal principal, EnsurePrincipal(team));
  RETURN_IF_ERROR(Revoke(team, notebook));
  ASSIGN_OR_RETURN(auto created,
                   identity_.CreateToken(principal.name,
                                         Description(notebook) + "execution " +
                                             std::to_string(execution),
                                         ttl_seconds));
  return std::move(created.second);
}

Status NotebookTokens::Revoke(const std::string& team, const std::string& notebook) {
  auto tokens = identity_.ListTokens(PrincipalFor(team));
  if (!tokens.ok()) {
    return tokens.status().code() == StatusCode::kNotFound ? OkStatus() : tokens.status();
  }
  const std::string prefix = Description(notebook);
  for (const TokenInfo& t : *tokens) {
    if (t.revoked_micros == 0 && t.description.starts_with(prefix)) {
      RETURN_IF_ERROR(identity_.RevokeToken(t.id));
    }
  }
  return OkStatus();
}

}  // namespace tandem::api::auth
