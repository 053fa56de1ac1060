// /api/v1/auth (whoami, tokens), /api/v1/principals and /api/v1/teams.
// Tokens: anyone manages their own; admins anyone's. Principals and teams
// are created by admins; a team's owners manage its members.
#include "api/api_routes.h"
#include "api/control_plane.h"
#include "api/owners.h"
#include "api/rest.h"

namespace tandem::api {
namespace {

using auth::IdentityStore;

std::string Caller(const http::Request& req) { return req.Header(kPrincipalHeader); }
bool CallerIsAdmin(const http::Request& req) { return req.Header(kAdminHeader) == "true"; }

// Only admins act for another principal.
Status SelfOrAdmin(const http::Request& req, const std::string& principal) {
  if (principal == Caller(req) || CallerIsAdmin(req)) return OkStatus();
  return PermissionDeniedError(
      "'" + Caller(req) + "' may manage only its own tokens (not those of '" + principal + "')");
}

StatusOr<Json> CreateToken(IdentityStore* id, http::Request& req) {
  ASSIGN_OR_RETURN(Json body, JsonBody(req));
  RETURN_IF_ERROR(CheckFields(body, {"principal", "description", "expires_in_seconds"}));
  ASSIGN_OR_RETURN(std::string principal, GetStringOr(body, "principal", Caller(req)));
  RETURN_IF_ERROR(SelfOrAdmin(req, principal));
  ASSIGN_OR_RETURN(std::string description, GetStringOr(body, "description", ""));
  ASSIGN_OR_RETURN(int64_t ttl, GetIntOr(body, "expires_in_seconds", 0));
  ASSIGN_OR_RETURN(auto created, id->CreateToken(principal, description, ttl));
  Json out = created.first.ToJson();
  out["token"] = created.second;  // shown this once
  return out;
}

StatusOr<Json> ListTokens(IdentityStore* id, http::Request& req) {
  std::string principal = req.Query("principal", Caller(req));
  if (req.Query("all") == "true") {
    if (!CallerIsAdmin(req)) return PermissionDeniedError("only admins list every token");
    principal = "";
  } else {
    RETURN_IF_ERROR(SelfOrAdmin(req, principal));
  }
  ASSIGN_OR_RETURN(auto tokens, id->ListTokens(principal));
  Json items = Json::array();
  for (const auto& t : tokens) items.push_back(t.ToJson());
  return Json{{"tokens", items}};
}

StatusOr<Json> RevokeToken(IdentityStore* id, http::Request& req) {
  ASSIGN_OR_RETURN(auth::TokenInfo t, id->GetToken(req.path_params["id"]));
  RETURN_IF_ERROR(SelfOrAdmin(req, t.principal));
  RETURN_IF_ERROR(id->RevokeToken(t.id));
  ASSIGN_OR_RETURN(t, id->GetToken(t.id));
  return t.ToJson();
}

StatusOr<Json> CreatePrincipal(IdentityStore* id, http::Request& req) {
  ASSIGN_OR_RETURN(Json body, JsonBody(req));
  RETURN_IF_ERROR(CheckFields(body, {"name", "kind", "admin"}));
  ASSIGN_OR_RETURN(std::string name, GetString(body, "name"));
  ASSIGN_OR_RETURN(std::string kind, GetStringOr(body, "kind", "user"));
  bool admin = false;
  if (body.contains("admin")) {
    if (!body["admin"].is_boolean()) return InvalidArgumentError("field 'admin' must be a boolean");
    admin = body["admin"].get<bool>();
  }
  RETURN_IF_ERROR(id->CreatePrincipal(name, kind, admin));
  ASSIGN_OR_RETURN(auto p, id->GetPrincipal(name));
  return p.ToJson();
}

StatusOr<Json> SetMember(IdentityStore* id, http::Request& req) {
  ASSIGN_OR_RETURN(Json body, JsonBody(req));
  RETURN_IF_ERROR(CheckFields(body, {"role"}));
  ASSIGN_OR_RETURN(std::string role_name, GetString(body, "role"));
  ASSIGN_OR_RETURN(auth::Role role, auth::ParseRole(role_name));
  RETURN_IF_ERROR(id->SetMember(req.path_params["team"], req.path_params["principal"], role));
  ASSIGN_OR_RETURN(auto team, id->GetTeam(req.path_params["team"]));
  return team.ToJson();
}

}  // namespace

void RegisterAuthRoutes(ApiRoutes& routes, const Services& s) {
  IdentityStore* id = s.identity;

  routes.Route("GET", "/api/v1/auth/whoami", Access::Authenticated(),
               JsonHandler([id](http::Request& req) -> StatusOr<Json> {
                 // The caller as authenticated (an OIDC principal is not in the store).
                 ASSIGN_OR_RETURN(auto p, CallerOf(req));
                 return p.ToJson();
               }));
  routes.Route("GET", "/api/v1/auth/tokens", Access::Authenticated(),
               JsonHandler([id](http::Request& req) { return ListTokens(id, req); }));
  routes.Route("POST", "/api/v1/auth/tokens", Access::Authenticated(),
               JsonHandler([id](http::Request& req) { return CreateToken(id, req); }, 201));
  routes.Route("DELETE", "/api/v1/auth/tokens/{id}", Access::Authenticated(),
               JsonHandler([id](http::Request& req) { return RevokeToken(id, req); }));

  routes.Route("GET", "/api/v1/principals", Access::Admin(),
               JsonHandler([id](http::Request&) -> StatusOr<Json> {
                 ASSIGN_OR_RETURN(auto all, id->ListPrincipals());
                 Json items = Json::array();
                 for (const auto& p : all) items.push_back(p.ToJson());
                 return Json{{"principals", items}};
               }));
  routes.Route("POST", "/api/v1/principals", Access::Admin(),
               JsonHandler([id](http::Request& req) { return CreatePrincipal(id, req); }, 201));

  routes.Route("GET", "/api/v1/teams", Access::Authenticated(),
               JsonHandler([id](http::Request&) -> StatusOr<Json> {
                 ASSIGN_OR_RETURN(auto all, id->ListTeams());
                 Json items = Json::array();
                 for (const auto& t : all) items.push_back(t.ToJson());
                 return Json{{"teams", items}};
               }));
  routes.Route("POST", "/api/v1/teams", Access::Admin(),
               JsonHandler(
                   [id](http::Request& req) -> StatusOr<Json> {
                     ASSIGN_OR_RETURN(Json body, JsonBody(req));
                     RETURN_IF_ERROR(CheckFields(body, {"name"}));
                     ASSIGN_OR_RETURN(std::string name, GetString(body, "name"));
                     RETURN_IF_ERROR(id->CreateTeam(name));
                     ASSIGN_OR_RETURN(auto team, id->GetTeam(name));
                     return team.ToJson();
                   },
                   201));
  routes.Route("PUT", "/api/v1/teams/{team}/members/{principal}",
               Access::Team(Role::kOwner, TeamParam()),
               JsonHandler([id](http::Request& req) { return SetMember(id, req); }));
  routes.Route(
      "DELETE", "/api/v1/teams/{team}/members/{principal}", Access::Team(Role::kOwner, TeamParam()),
      JsonHandler([id](http::Request& req) -> StatusOr<Json> {
        RETURN_IF_ERROR(id->RemoveMember(req.path_params["team"], req.path_params["principal"]));
        ASSIGN_OR_RETURN(auto team, id->GetTeam(req.path_params["team"]));
        return team.ToJson();
      }));
}

}  // namespace tandem::api
