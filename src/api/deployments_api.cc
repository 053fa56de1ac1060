// /api/v1/deployments: serving deployments on the local fleet (apply, list,
// get, scale, delete).
#include "api/api_routes.h"
#include "api/control_plane.h"
#include "api/owners.h"
#include "api/auth/token.h"
#include "api/rest.h"
#include "glue/images/image_store.h"
#include "glue/images/manifest.h"
#include "glue/images/reference.h"
#include "glue/registry/model_registry.h"
#include "serving/fleet/fleet.h"

namespace tandem::api {
namespace {

Status NoFleet() { return UnavailableError("the serving fleet is not running"); }

// A deployment of a model or alias the registry does not know would wait
// forever: refuse it (NotFound -> 404 naming it). Only a definite answer
// refuses; a registry that cannot answer now does not block the apply (the
// replicas follow the target and report why they are not ready).
Status CheckModelsExist(registry::ModelRegistry* registry,
                        const serving::fleet::DeploymentSpec& spec) {
  if (registry == nullptr) return OkStatus();
  std::vector<std::pair<std::string, std::string>> refs = {{"model", spec.model}};
  if (spec.traffic.shadow) refs.push_back({"shadow.model", spec.traffic.shadow->model});
  if (spec.traffic.canary) refs.push_back({"canary.model", spec.traffic.canary->model});
  for (const auto& [field, ref] : refs) {
    auto v = registry->Resolve(ref);
    if (v.ok() || v.status().code() != StatusCode::kNotFound) continue;
    return NotFoundError(
        "deployment '" + spec.name + "': " + field + " '" + ref +
        "' does not resolve in the registry: " + std::string(v.status().message()));
  }
  return OkStatus();
}

// `auth.tokens` names secrets of the deployment's team: the replicas get
// their SHA-256 digests (`auth.token_sha256`, recomputed at every apply, so
// re-applying picks up a replaced secret), never the tokens.
Status ResolveTokens(secrets::SecretStore* store, serving::fleet::DeploymentSpec& spec) {
  spec.auth_token_sha256.clear();
  for (const std::string& name : spec.auth_tokens) {
    if (store == nullptr) return FailedPreconditionError("no secret store: auth.tokens unusable");
    auto value = store->Value(OwningTeam(spec.team), name);
    if (!value.ok()) return Annotate(value.status(), "deployment '" + spec.name + "': auth.tokens");
    spec.auth_token_sha256.push_back(auth::HashToken(*value));
  }
  return OkStatus();
}

// `image:` (docs/images.md, "Serving from an image") resolved into
// `image_pinned`, at every apply: a reference is looked up in the image store
// (unknown -> 404 naming it, nothing created); no `image:` takes the image
// the served model version was trained in (its lineage), if any; `image: ""`
// is the host. The caller must be able to read the image (viewer in its team).
Status ResolveImage(const Services& services, const http::Request& req,
                    serving::fleet::DeploymentSpec& spec) {
  spec.image_pinned.clear();
  std::string reference;
  std::string from;
  if (spec.image) {
    if (spec.image->empty()) return OkStatus();
    reference = *spec.image;
    from = "image '" + reference + "'";
  } else {
    if (services.registry == nullptr) return OkStatus();
    auto version = services.registry->Resolve(spec.model);
    if (!version.ok()) return OkStatus();  // CheckModelsExist decided already
    auto tag = version->tags.find("image");
    if (version->lineage.image_digest.empty() || tag == version->tags.end()) return OkStatus();
    reference = tag->second;
    from = "model " + version->name + " version " + std::to_string(version->version) +
           " was trained in image '" + reference + "', which";
  }
  const std::string where = "deployment '" + spec.name + "': ";
  if (services.images == nullptr) {
    return FailedPreconditionError(where + from + ": this control plane has no image store");
  }
  auto ref = images::ParseReference(reference);
  if (!ref.ok()) return InvalidArgumentError(where + "image: " + std::string(ref.status().message()));
  RETURN_IF_ERROR(CheckImageReadable(services, req, reference));
  auto digest = services.images->Resolve(*ref);
  if (!digest.ok()) {
    if (digest.status().code() != StatusCode::kNotFound) return digest.status();
    return NotFoundError(where + from + (spec.image ? " is not" : " is no longer") +
                         " in tandem's image store (" + std::string(digest.status().message()) +
                         ")" +
                         (spec.image ? "" : "; set image: to another image, or \"\" for the host"));
  }
  ASSIGN_OR_RETURN(images::ManifestData manifest, services.images->GetManifest(ref->repository, *digest));
  if (images::IsIndexMediaType(manifest.media_type)) {
    return InvalidArgumentError(where + "image '" + reference +
                                "' is an image index; name one of its manifests by digest");
  }
  spec.image_pinned = ref->repository + "@" + *digest;
  return OkStatus();
}

}  // namespace

void RegisterDeploymentRoutes(ApiRoutes& routes, const Services& services) {
  serving::fleet::Fleet* fleet = services.fleet;
  registry::ModelRegistry* registry = services.registry;
  secrets::SecretStore* secret_store = services.secrets;
  const Quotas* quotas = services.quotas;
  // Apply: create (201) or update (200).
  routes.Route("POST", "/api/v1/deployments",
               Access::Team(Role::kMember, DeploymentSpecOwner(services)),
               [fleet, registry, secret_store, quotas, sp = &services](http::Request& req,
                                                                       http::Response& res) {
                 if (fleet == nullptr) return WriteError(res, NoFleet());
                 auto body = JsonBody(req);
                 if (!body.ok()) return WriteError(res, body.status());
                 auto spec = serving::fleet::DeploymentSpecFromJson(*body);
                 if (!spec.ok()) return WriteError(res, spec.status());
                 if (Status s = CheckModelsExist(registry, *spec); !s.ok())
                   return WriteError(res, s);
                 if (Status s = ResolveTokens(secret_store, *spec); !s.ok())
                   return WriteError(res, s);
                 auto admission = quotas->Admit(spec->team);  // held until created
                 if (!admission.ok()) return WriteError(res, admission.status());
                 if (Status s = ResolveImage(*sp, req, *spec); !s.ok()) return WriteError(res, s);
                 if (Status s = quotas->CheckReplicas(*fleet, *spec); !s.ok())
                   return WriteError(res, s);
                 auto created = fleet->Apply(*spec);
                 if (!created.ok()) return WriteError(res, created.status());
                 auto st = fleet->Get(spec->name);
                 if (!st.ok()) return WriteError(res, st.status());
                 WriteJson(res, st->ToJson(), *created ? 201 : 200);
               });
  routes.Route("GET", "/api/v1/deployments", Access::Authenticated(),
               JsonHandler([fleet, sp = &services](http::Request& req) -> StatusOr<Json> {
                 if (fleet == nullptr) return NoFleet();
                 ASSIGN_OR_RETURN(ListScope scope, ListScope::Of(*sp, req));
                 Json items = Json::array();
                 for (const auto& d : fleet->List()) {
                   if (scope.Sees(d.spec.team)) items.push_back(d.ToJson());
                 }
                 return Json{{"deployments", items}};
               }));
  routes.Route("GET", "/api/v1/deployments/{name}",
               Access::Team(Role::kViewer, DeploymentOwner(services)),
               JsonHandler([fleet](http::Request& req) -> StatusOr<Json> {
                 if (fleet == nullptr) return NoFleet();
                 ASSIGN_OR_RETURN(auto st, fleet->Get(req.path_params["name"]));
                 return st.ToJson();
               }));
  routes.Route("POST", "/api/v1/deployments/{name}/scale",
               Access::Team(Role::kMember, DeploymentOwner(services)),
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
  routes.Route("GET", "/api/v1/deployments/{name}/traffic",
               Access::Team(Role::kViewer, DeploymentOwner(services)),
               JsonHandler([fleet](http::Request& req) -> StatusOr<Json> {
                 if (fleet == nullptr) return NoFleet();
                 return fleet->Traffic(req.path_params["name"]);
               }));
  routes.Route("DELETE", "/api/v1/deployments/{name}",
               Access::Team(Role::kMember, DeploymentOwner(services)),
               JsonHandler([fleet](http::Request& req) -> StatusOr<Json> {
                 if (fleet == nullptr) return NoFleet();
                 std::string name = req.path_params["name"];
                 RETURN_IF_ERROR(fleet->Delete(name));
                 return Json{{"name", name}, {"deleted", true}};
               }));
}

}  // namespace tandem::api
