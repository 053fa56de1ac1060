#include "api/access.h"

namespace tandem::api {

std::string Access::Describe() const {
  switch (kind) {
    case Kind::kPublic:
      return "public";
    case Kind::kAuthenticated:
      return "authenticated";
    case Kind::kAdmin:
      return "admin";
    case Kind::kTeam:
      break;
  }
  return std::string(auth::RoleName(role));
}

Status Authorize(const auth::Principal& p, const Access& access,
                 const std::vector<std::string>& teams) {
  if (access.kind == Access::Kind::kPublic || access.kind == Access::Kind::kAuthenticated ||
      p.admin) {
    return OkStatus();
  }
  if (access.kind == Access::Kind::kAdmin) {
    return PermissionDeniedError("'" + p.name + "' is not a platform admin");
  }
  std::string need(auth::RoleName(access.role));
  for (const std::string& team : teams) {
    if (team == kAdminOnly) {
      return PermissionDeniedError("only a platform admin may do this ('" + p.name +
                                   "' is not one)");
    }
    if (team == kAnyTeam) {
      bool any = false;
      for (const auto& [t, role] : p.teams) any = any || role >= access.role;
      if (!any) {
        return PermissionDeniedError("'" + p.name + "' needs the " + need + " role in some team");
      }
      continue;
    }
    if (p.RoleIn(team) < access.role) {
      return PermissionDeniedError("'" + p.name + "' needs the " + need + " role in team '" + team +
                                   "'");
    }
  }
  return OkStatus();
}

std::string OwningTeam(const std::string& team) { return team.empty() ? kDefaultTeam : team; }

StatusOr<std::vector<std::string>> KeyOwners(const std::string& key, const KeyOwnerLookup& lookup) {
  size_t first = key.find('/');
  size_t second = first == std::string::npos ? first : key.find('/', first + 1);
  if (second == std::string::npos || second == first + 1) {
    return std::vector<std::string>{kAdminOnly};
  }
  std::string kind = key.substr(0, first);
  std::string id = key.substr(first + 1, second - first - 1);
  if (kind == "teams") return std::vector<std::string>{id};
  // A job's source uploaded before the job exists (`tandem jobs run`).
  if (kind == "jobs" && id == "uploads") return std::vector<std::string>{kAnyTeam};
  if (kind == "models" || kind == "jobs" || kind == "notebooks") return lookup(kind, id);
  return std::vector<std::string>{kAdminOnly};
}

}  // namespace tandem::api
