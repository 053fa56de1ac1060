// Who may call a route: every /api/v1 route declares an Access when it is
// registered (api_routes.h), and Authorize decides for an authenticated
// principal. The route -> access table is docs/security.md.
//
//   public         anyone, no token (health, the OpenAPI document, /ui, /metrics)
//   authenticated  any principal with a valid token
//   admin          platform admins only
//   viewer|member|owner
//                  that role (or stronger) in every team owning the resource;
//                  the teams come from the request (the resource it names, or
//                  the spec it sends)
//
// Owning "teams" may also be the markers kAdminOnly (a resource no team owns:
// only admins) and kAnyTeam (a resource nobody owns yet: the role in any team).
// A platform admin passes every check.
//
// Thread-safety: values; Authorize is a pure function.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "api/auth/identity_store.h"
#include "common/http_server.h"
#include "common/status.h"

namespace tandem::api {

inline constexpr char kAdminOnly[] = ":admin";
inline constexpr char kAnyTeam[] = ":any-team";
// The team of a resource that names none.
inline constexpr char kDefaultTeam[] = "default";

// The teams owning what `req` touches (all must grant the role). An error
// (NotFound for an unknown resource, InvalidArgument for a bad spec) is
// answered as is, before anything runs.
using TeamsOf = std::function<StatusOr<std::vector<std::string>>(const http::Request&)>;

using auth::Role;

struct Access {
  enum class Kind { kPublic, kAuthenticated, kAdmin, kTeam };
  Kind kind = Kind::kAdmin;
  auth::Role role = auth::Role::kNone;  // kTeam
  TeamsOf teams;                        // kTeam

  static Access Public() { return {Kind::kPublic, auth::Role::kNone, nullptr}; }
  static Access Authenticated() { return {Kind::kAuthenticated, auth::Role::kNone, nullptr}; }
  static Access Admin() { return {Kind::kAdmin, auth::Role::kNone, nullptr}; }
  static Access Team(auth::Role role, TeamsOf teams) {
    return {Kind::kTeam, role, std::move(teams)};
  }

  // "public", "authenticated", "admin", "viewer", "member" or "owner".
  std::string Describe() const;
};

// OK if `p` may act under `access` on a resource owned by `teams`;
// PermissionDenied naming the missing role otherwise.
Status Authorize(const auth::Principal& p, const Access& access,
                 const std::vector<std::string>& teams);

// A resource's team as stored ("" reads as kDefaultTeam).
std::string OwningTeam(const std::string& team);

// The owner of an object-store key or list prefix: teams/<t>/… -> t;
// models/<name>/…, jobs/<id>/…, notebooks/<name>/… -> what `lookup` says for
// ("models", name) etc.; jobs/uploads/… (a job's source, uploaded before
// the job exists) -> kAnyTeam; anything else -> kAdminOnly.
using KeyOwnerLookup = std::function<StatusOr<std::vector<std::string>>(const std::string& kind,
                                                                        const std::string& id)>;
StatusOr<std::vector<std::string>> KeyOwners(const std::string& key, const KeyOwnerLookup& lookup);

}  // namespace tandem::api
