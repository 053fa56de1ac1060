// /api/v1/teams/{team}/secrets: a team's secrets for its jobs (create, list,
// delete). A value goes in once and never comes out of the API: lists show
// names and who created them; only the job service reads values, when it
// launches a job of that team (docs/security.md "Secrets").
#include "api/api_routes.h"
#include "api/control_plane.h"
#include "api/owners.h"
#include "api/rest.h"
#include "api/secrets/secret_store.h"

namespace tandem::api {

void RegisterSecretRoutes(ApiRoutes& routes, const Services& s) {
  secrets::SecretStore* store = s.secrets;

  routes.Route("GET", "/api/v1/teams/{team}/secrets", Access::Team(Role::kViewer, TeamParam()),
               JsonHandler([store](http::Request& req) -> StatusOr<Json> {
                 ASSIGN_OR_RETURN(auto list, store->List(req.path_params["team"]));
                 Json items = Json::array();
                 for (const auto& info : list) items.push_back(info.ToJson());
                 return Json{{"secrets", items}};
               }));

  routes.Route("POST", "/api/v1/teams/{team}/secrets", Access::Team(Role::kMember, TeamParam()),
               JsonHandler(
                   [store](http::Request& req) -> StatusOr<Json> {
                     ASSIGN_OR_RETURN(Json body, JsonBody(req));
                     RETURN_IF_ERROR(CheckFields(body, {"name", "value"}));
                     if (!body.contains("name") || !body["name"].is_string() ||
                         !body.contains("value") || !body["value"].is_string()) {
                       return InvalidArgumentError("fields 'name' and 'value' (strings) are required");
                     }
                     ASSIGN_OR_RETURN(auto info,
                                      store->Create(req.path_params["team"],
                                                    body["name"].get<std::string>(),
                                                    body["value"].get<std::string>(),
                                                    req.Header(kPrincipalHeader)));
                     return info.ToJson();
                   },
                   201),
               int64_t{128} << 10);

  routes.Route("DELETE", "/api/v1/teams/{team}/secrets/{name}",
               Access::Team(Role::kMember, TeamParam()),
               JsonHandler([store](http::Request& req) -> StatusOr<Json> {
                 RETURN_IF_ERROR(store->Delete(req.path_params["team"], req.path_params["name"]));
                 return Json{{"team", req.path_params["team"]},
                             {"name", req.path_params["name"]},
                             {"deleted", true}};
               }));
}

}  // namespace tandem::api
