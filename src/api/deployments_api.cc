// /api/v1/deployments: serving deployments on the local fleet (apply, list,
// get, scale, delete).
#include "api/control_plane.h"
#include "api/rest.h"
#include "serving/fleet/fleet.h"

namespace tandem::api {
namespace {

Status NoFleet() { return UnavailableError("the serving fleet is not running"); }

}  // namespace

void RegisterDeploymentRoutes(http::Server& server, const Services& services) {
  serving::fleet::Fleet* fleet = services.fleet;
  // Apply: create (201) or update (200).
  server.Route("POST", "/api/v1/deployments", [fleet](http::Request& req, http::Response& res) {
    if (fleet == nullptr) return WriteError(res, NoFleet());
    auto body = JsonBody(req);
    if (!body.ok()) return WriteError(res, body.status());
    auto spec = serving::fleet::DeploymentSpecFromJson(*body);
    if (!spec.ok()) return WriteError(res, spec.status());
    auto created = fleet->Apply(*spec);
    if (!created.ok()) return WriteError(res, created.status());
    auto st = fleet->Get(spec->name);
    if (!st.ok()) return WriteError(res, st.status());
    WriteJson(res, st->ToJson(), *created ? 201 : 200);
  });
  server.Route("GET", "/api/v1/deployments", JsonHandler([fleet](http::Request&) -> StatusOr<Json> {
                 if (fleet == nullptr) return NoFleet();
                 Json items = Json::array();
                 for (const auto& d : fleet->List()) items.push_back(d.ToJson());
                 return Json{{"deployments", items}};
               }));
  server.Route("GET", "/api/v1/deployments/{name}",
               JsonHandler([fleet](http::Request& req) -> StatusOr<Json> {
                 if (fleet == nullptr) return NoFleet();
                 ASSIGN_OR_RETURN(auto st, fleet->Get(req.path_params["name"]));
                 return st.ToJson();
               }));
  server.Route("POST", "/api/v1/deployments/{name}/scale",
               JsonHandler([fleet](http::Request& req) -> StatusOr<Json> {
                 if (fleet == nullptr) return NoFleet();
                 ASSIGN_OR_RETURN(Json body, JsonBody(req));
                 if (!body.is_object() || !body.contains("replicas") ||
                     !body["replicas"].is_number_integer()) {
                   return InvalidArgumentError("'replicas' must be an integer");
                 }
                 std::string name = req.path_params["name"];
                 RETURN_IF_ERROR(fleet->Scale(name, body["replicas"].get<int>()));
                 ASSIGN_OR_RETURN(auto st, fleet->Get(name));
                 return st.ToJson();
               }));
  server.Route("GET", "/api/v1/deployments/{name}/traffic",
               JsonHandler([fleet](http::Request& req) -> StatusOr<Json> {
                 if (fleet == nullptr) return NoFleet();
                 return fleet->Traffic(req.path_params["name"]);
               }));
  server.Route("DELETE", "/api/v1/deployments/{name}",
               JsonHandler([fleet](http::Request& req) -> StatusOr<Json> {
                 if (fleet == nullptr) return NoFleet();
                 std::string name = req.path_params["name"];
                 RETURN_IF_ERROR(fleet->Delete(name));
                 return Json{{"name", name}, {"deleted", true}};
               }));
}

}  // namespace tandem::api
