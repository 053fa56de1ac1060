// /api/v1/models: registered models, versions, aliases and tags.
#include <charconv>

#include "api/api_routes.h"
#include "api/control_plane.h"
#include "api/owners.h"
#include "api/rest.h"

namespace tandem::api {
namespace {

using registry::ModelRegistry;

StatusOr<int64_t> ParseVersion(const std::string& text) {
  int64_t v = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || ptr != text.data() + text.size() || v < 1) {
    return InvalidArgumentError("version '" + text + "' must be a positive integer");
  }
  return v;
}

StatusOr<std::map<std::string, std::string>> StringMap(const Json& body, const char* field) {
  std::map<std::string, std::string> out;
  if (!body.contains(field) || body[field].is_null()) return out;
  if (!body[field].is_object()) {
    return InvalidArgumentError(std::string("field '") + field + "' must be an object of strings");
  }
  for (const auto& [k, v] : body[field].items()) {
    if (!v.is_string()) {
      return InvalidArgumentError(std::string("field '") + field + "." + k + "' must be a string");
    }
    out[k] = v.get<std::string>();
  }
  return out;
}

template <typename T>
Json PageJson(const registry::Page<T>& page, const char* key) {
  Json items = Json::array();
  for (const auto& it : page.items) items.push_back(it.ToJson());
  Json out = {{key, items}};
  if (!page.next_page_token.empty()) out["next_page_token"] = page.next_page_token;
  return out;
}

StatusOr<registry::CreateVersionRequest> ParseCreateVersion(const std::string& name,
                                                            const Json& body) {
  RETURN_IF_ERROR(CheckFields(
      body, {"source", "status", "status_message", "lineage", "signature", "description", "tags",
             "run_id", "creator", "owner_team", "create_model_if_missing"}));
  registry::CreateVersionRequest req;
  req.name = name;
  ASSIGN_OR_RETURN(req.source, GetString(body, "source"));
  ASSIGN_OR_RETURN(std::string status, GetStringOr(body, "status", "READY"));
  ASSIGN_OR_RETURN(req.status, registry::ParseVersionStatus(status));
  ASSIGN_OR_RETURN(req.status_message, GetStringOr(body, "status_message", ""));
  if (body.contains("lineage")) {
    ASSIGN_OR_RETURN(req.lineage, registry::Lineage::FromJson(body["lineage"]));
  }
  if (body.contains("signature")) {
    if (!body["signature"].is_object()) {
      return InvalidArgumentError("field 'signature' must be an object");
    }
    req.signature = body["signature"];
  }
  ASSIGN_OR_RETURN(req.description, GetStringOr(body, "description", ""));
  ASSIGN_OR_RETURN(req.tags, StringMap(body, "tags"));
  ASSIGN_OR_RETURN(req.run_id, GetStringOr(body, "run_id", ""));
  ASSIGN_OR_RETURN(req.creator, GetStringOr(body, "creator", ""));
  ASSIGN_OR_RETURN(req.owner_team, GetStringOr(body, "owner_team", ""));
  if (body.contains("create_model_if_missing")) {
    if (!body["create_model_if_missing"].is_boolean()) {
      return InvalidArgumentError("field 'create_model_if_missing' must be a boolean");
    }
    req.create_model_if_missing = body["create_model_if_missing"].get<bool>();
  }
  return req;
}

}  // namespace

void RegisterModelRoutes(ApiRoutes& routes, const Services& s) {
  ModelRegistry* reg = s.registry;

  routes.Route("GET", "/api/v1/models", Access::Authenticated(),
               JsonHandler([reg](http::Request& req) -> StatusOr<Json> {
                 ASSIGN_OR_RETURN(PageParams page, ReadPageParams(req));
                 registry::ModelSearch search;
                 search.name_prefix = req.Query("prefix");
                 search.name_contains = req.Query("q");
                 search.owner_team = req.Query("team");
                 std::string tag = req.Query("tag");
                 if (!tag.empty()) {
                   size_t eq = tag.find('=');
                   if (eq == std::string::npos)
                     return InvalidArgumentError("tag filter must be KEY=VALUE");
                   search.tags[tag.substr(0, eq)] = tag.substr(eq + 1);
                 }
                 search.max_results = page.max_results;
                 search.page_token = page.page_token;
                 ASSIGN_OR_RETURN(auto result, reg->SearchModels(search));
                 return PageJson(result, "models");
               }));

  routes.Route(
      "POST", "/api/v1/models", Access::Team(Role::kMember, ModelOwner(s, true)),
      JsonHandler(
          [reg](http::Request& req) -> StatusOr<Json> {
            ASSIGN_OR_RETURN(Json body, JsonBody(req));
            RETURN_IF_ERROR(CheckFields(body, {"name", "description", "owner_team", "tags"}));
            registry::CreateModelRequest create;
            ASSIGN_OR_RETURN(create.name, GetString(body, "name"));
            ASSIGN_OR_RETURN(create.description, GetStringOr(body, "description", ""));
            ASSIGN_OR_RETURN(create.owner_team, GetStringOr(body, "owner_team", ""));
            ASSIGN_OR_RETURN(create.tags, StringMap(body, "tags"));
            ASSIGN_OR_RETURN(auto model, reg->CreateModel(create));
            return model.ToJson();
          },
          201));

  routes.Route("GET", "/api/v1/models/{name}", Access::Authenticated(),
               JsonHandler([reg](http::Request& req) -> StatusOr<Json> {
                 ASSIGN_OR_RETURN(auto model, reg->GetModel(req.path_params["name"]));
                 return model.ToJson();
               }));

  routes.Route("PATCH", "/api/v1/models/{name}", Access::Team(Role::kMember, ModelOwner(s, true)),
               JsonHandler([reg](http::Request& req) -> StatusOr<Json> {
                 ASSIGN_OR_RETURN(Json body, JsonBody(req));
                 RETURN_IF_ERROR(CheckFields(body, {"description", "owner_team"}));
                 registry::UpdateModelRequest update;
                 if (body.contains("description")) {
                   ASSIGN_OR_RETURN(update.description, GetString(body, "description"));
                 }
                 if (body.contains("owner_team")) {
                   ASSIGN_OR_RETURN(update.owner_team, GetString(body, "owner_team"));
                 }
                 ASSIGN_OR_RETURN(auto model, reg->UpdateModel(req.path_params["name"], update));
                 return model.ToJson();
               }));

  routes.Route("DELETE", "/api/v1/models/{name}", Access::Team(Role::kOwner, ModelOwner(s, false)),
               JsonHandler([reg](http::Request& req) -> StatusOr<Json> {
                 RETURN_IF_ERROR(reg->DeleteModel(req.path_params["name"]));
                 return Json{{"deleted", req.path_params["name"]}};
               }));

  routes.Route("GET", "/api/v1/models/{name}/versions", Access::Authenticated(),
               JsonHandler([reg](http::Request& req) -> StatusOr<Json> {
                 ASSIGN_OR_RETURN(PageParams page, ReadPageParams(req));
                 registry::VersionSearch search;
                 search.max_results = page.max_results;
                 search.page_token = page.page_token;
                 if (std::string st = req.Query("status"); !st.empty()) {
                   ASSIGN_OR_RETURN(search.status, registry::ParseVersionStatus(st));
                 }
                 ASSIGN_OR_RETURN(auto result,
                                  reg->SearchVersions(req.path_params["name"], search));
                 return PageJson(result, "versions");
               }));

  routes.Route(
      "POST", "/api/v1/models/{name}/versions", Access::Team(Role::kMember, ModelOwner(s, true)),
      JsonHandler(
          [reg](http::Request& req) -> StatusOr<Json> {
            ASSIGN_OR_RETURN(Json body, JsonBody(req));
            ASSIGN_OR_RETURN(auto create, ParseCreateVersion(req.path_params["name"], body));
            // The request's audit event commits with the version.
            std::optional<bus::Event> audit = PendingAudit(req, 201);
            if (audit) create.also_publish.push_back(std::move(*audit));
            ASSIGN_OR_RETURN(auto version, reg->CreateVersion(create));
            AuditCommitted(req);
            return version.ToJson();
          },
          201));

  routes.Route("GET", "/api/v1/models/{name}/versions/{version}", Access::Authenticated(),
               JsonHandler([reg](http::Request& req) -> StatusOr<Json> {
                 ASSIGN_OR_RETURN(int64_t v, ParseVersion(req.path_params["version"]));
                 ASSIGN_OR_RETURN(auto version, reg->GetVersion(req.path_params["name"], v));
                 return version.ToJson();
               }));

  routes.Route("PATCH", "/api/v1/models/{name}/versions/{version}",
               Access::Team(Role::kMember, ModelOwner(s, false)),
               JsonHandler([reg](http::Request& req) -> StatusOr<Json> {
                 ASSIGN_OR_RETURN(Json body, JsonBody(req));
                 RETURN_IF_ERROR(CheckFields(body, {"status", "status_message", "description"}));
                 const std::string& name = req.path_params["name"];
                 ASSIGN_OR_RETURN(int64_t v, ParseVersion(req.path_params["version"]));
                 if (body.contains("description")) {
                   ASSIGN_OR_RETURN(std::string d, GetString(body, "description"));
                   RETURN_IF_ERROR(reg->UpdateVersionDescription(name, v, d).status());
                 }
                 if (body.contains("status")) {
                   ASSIGN_OR_RETURN(std::string st, GetString(body, "status"));
                   ASSIGN_OR_RETURN(auto status, registry::ParseVersionStatus(st));
                   ASSIGN_OR_RETURN(std::string msg, GetStringOr(body, "status_message", ""));
                   RETURN_IF_ERROR(reg->UpdateVersionStatus(name, v, status, msg).status());
                 }
                 ASSIGN_OR_RETURN(auto version, reg->GetVersion(name, v));
                 return version.ToJson();
               }));

  routes.Route("DELETE", "/api/v1/models/{name}/versions/{version}",
               Access::Team(Role::kMember, ModelOwner(s, false)),
               JsonHandler([reg](http::Request& req) -> StatusOr<Json> {
                 ASSIGN_OR_RETURN(int64_t v, ParseVersion(req.path_params["version"]));
                 RETURN_IF_ERROR(reg->DeleteVersion(req.path_params["name"], v));
                 return Json{{"deleted", req.path_params["name"] + "/" + std::to_string(v)}};
               }));

  routes.Route("PUT", "/api/v1/models/{name}/aliases/{alias}",
               Access::Team(Role::kMember, ModelOwner(s, false)),
               JsonHandler([reg](http::Request& req) -> StatusOr<Json> {
                 ASSIGN_OR_RETURN(Json body, JsonBody(req));
                 RETURN_IF_ERROR(CheckFields(body, {"version"}));
                 int64_t v = 0;
                 if (body.contains("version") && body["version"].is_string()) {
                   ASSIGN_OR_RETURN(v, ParseVersion(body["version"].get<std::string>()));
                 } else {
                   ASSIGN_OR_RETURN(v, GetIntOr(body, "version", 0));
                   if (v < 1)
                     return InvalidArgumentError("field 'version' must be a positive integer");
                 }
                 ASSIGN_OR_RETURN(auto version, reg->SetAlias(req.path_params["name"],
                                                              req.path_params["alias"], v));
                 return version.ToJson();
               }));

  routes.Route("GET", "/api/v1/models/{name}/aliases/{alias}", Access::Authenticated(),
               JsonHandler([reg](http::Request& req) -> StatusOr<Json> {
                 ASSIGN_OR_RETURN(auto version, reg->GetVersionByAlias(req.path_params["name"],
                                                                       req.path_params["alias"]));
                 return version.ToJson();
               }));

  routes.Route(
      "DELETE", "/api/v1/models/{name}/aliases/{alias}",
      Access::Team(Role::kMember, ModelOwner(s, false)),
      JsonHandler([reg](http::Request& req) -> StatusOr<Json> {
        RETURN_IF_ERROR(reg->DeleteAlias(req.path_params["name"], req.path_params["alias"]));
        return Json{{"deleted", req.path_params["name"] + "@" + req.path_params["alias"]}};
      }));

  routes.Route(
      "PUT", "/api/v1/models/{name}/tags/{key}", Access::Team(Role::kMember, ModelOwner(s, false)),
      JsonHandler([reg](http::Request& req) -> StatusOr<Json> {
        ASSIGN_OR_RETURN(Json body, JsonBody(req));
        ASSIGN_OR_RETURN(std::string value, GetString(body, "value"));
        RETURN_IF_ERROR(reg->SetModelTag(req.path_params["name"], req.path_params["key"], value));
        ASSIGN_OR_RETURN(auto model, reg->GetModel(req.path_params["name"]));
        return model.ToJson();
      }));

  routes.Route(
      "DELETE", "/api/v1/models/{name}/tags/{key}",
      Access::Team(Role::kMember, ModelOwner(s, false)),
      JsonHandler([reg](http::Request& req) -> StatusOr<Json> {
        RETURN_IF_ERROR(reg->DeleteModelTag(req.path_params["name"], req.path_params["key"]));
        ASSIGN_OR_RETURN(auto model, reg->GetModel(req.path_params["name"]));
        return model.ToJson();
      }));

  routes.Route("PUT", "/api/v1/models/{name}/versions/{version}/tags/{key}",
               Access::Team(Role::kMember, ModelOwner(s, false)),
               JsonHandler([reg](http::Request& req) -> StatusOr<Json> {
                 ASSIGN_OR_RETURN(Json body, JsonBody(req));
                 ASSIGN_OR_RETURN(std::string value, GetString(body, "value"));
                 ASSIGN_OR_RETURN(int64_t v, ParseVersion(req.path_params["version"]));
                 const std::string& name = req.path_params["name"];
                 RETURN_IF_ERROR(reg->SetVersionTag(name, v, req.path_params["key"], value));
                 ASSIGN_OR_RETURN(auto version, reg->GetVersion(name, v));
                 return version.ToJson();
               }));

  routes.Route("DELETE", "/api/v1/models/{name}/versions/{version}/tags/{key}",
               Access::Team(Role::kMember, ModelOwner(s, false)),
               JsonHandler([reg](http::Request& req) -> StatusOr<Json> {
                 ASSIGN_OR_RETURN(int64_t v, ParseVersion(req.path_params["version"]));
                 const std::string& name = req.path_params["name"];
                 RETURN_IF_ERROR(reg->DeleteVersionTag(name, v, req.path_params["key"]));
                 ASSIGN_OR_RETURN(auto version, reg->GetVersion(name, v));
                 return version.ToJson();
               }));

  // Resolves "name@alias", "name/3" or "name" to a version.
  routes.Route("GET", "/api/v1/resolve/{ref...}", Access::Authenticated(),
               JsonHandler([reg](http::Request& req) -> StatusOr<Json> {
                 ASSIGN_OR_RETURN(auto version,
                                  reg->Resolve(std::string_view(req.path_params["ref"])));
                 return version.ToJson();
               }));
}

}  // namespace tandem::api
