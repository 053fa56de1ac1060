// /api/v1/notebooks: managed Jupyter notebooks (start, list, get, url, stop).
#include <algorithm>

#include "api/api_routes.h"
#include "api/control_plane.h"
#include "api/owners.h"
#include "api/rest.h"
#include "compute/notebooks/service.h"

namespace tandem::api {
namespace {

using compute::notebooks::NotebookRecord;
using compute::notebooks::NotebookService;

StatusOr<compute::notebooks::NotebookStartOptions> StartOptions(const Json& body) {
  compute::notebooks::NotebookStartOptions o;
  for (const auto& [key, value] : body.items()) {
    if (key == "name") continue;
    if (key == "team") {
      if (!value.is_string()) return InvalidArgumentError("field 'team' must be a string");
      o.team = value.get<std::string>();
    } else if (key == "idle_timeout_seconds") {
      if (!value.is_number_integer()) {
        return InvalidArgumentError("field 'idle_timeout_seconds' must be an integer");
      }
      o.idle_timeout_seconds = value.get<int64_t>();
    } else if (key == "image") {
      if (!value.is_string()) return InvalidArgumentError("field 'image' must be a string");
      o.image = value.get<std::string>();
    } else {
      return InvalidArgumentError("unknown field '" + key +
                                  "' (expected name, team, idle_timeout_seconds, image)");
    }
  }
  return o;
}

}  // namespace

void RegisterNotebookRoutes(ApiRoutes& routes, const Services& s) {
  NotebookService* notebooks = s.notebooks;
  const Quotas* quotas = s.quotas;
  Budgets* budgets = s.budgets;

  routes.Route("POST", "/api/v1/notebooks", Access::Team(Role::kMember, NotebookStartOwner(s)),
               JsonHandler(
                   [notebooks, quotas, budgets, sp = &s](http::Request& req) -> StatusOr<Json> {
                     ASSIGN_OR_RETURN(Json body, JsonBody(req));
                     if (!body.contains("name") || !body["name"].is_string()) {
                       return InvalidArgumentError("field 'name' (a string) is required");
                     }
                     ASSIGN_OR_RETURN(compute::notebooks::NotebookStartOptions o,
                                      StartOptions(body));
                     ASSIGN_OR_RETURN(auto admission, quotas->Admit(o.team));
                     RETURN_IF_ERROR(budgets->Check(o.team));
                     RETURN_IF_ERROR(CheckImageReadable(*sp, req, o.image));
                     RETURN_IF_ERROR(quotas->CheckNotebooks(*notebooks, o.team,
                                                            body["name"].get<std::string>()));
                     ASSIGN_OR_RETURN(NotebookRecord r,
                                      notebooks->StartNotebook(body["name"].get<std::string>(), o));
                     return r.ToJson(/*with_secret=*/false);
                   },
                   201));

  routes.Route(
      "GET", "/api/v1/notebooks", Access::Authenticated(),
      JsonHandler([notebooks, sp = &s](http::Request& req) -> StatusOr<Json> {
        ASSIGN_OR_RETURN(PageParams page, ReadPageParams(req));
        ASSIGN_OR_RETURN(ListScope scope, ListScope::Of(*sp, req));
        ASSIGN_OR_RETURN(std::vector<NotebookRecord> all, notebooks->List(req.Query("team")));
        const std::string state = req.Query("state");
        Json items = Json::array();
        std::string last;
        for (const NotebookRecord& r : all) {  // sorted by name; the token is the last name
          if (!page.page_token.empty() && r.name <= page.page_token) continue;
          if (!state.empty() && compute::notebooks::NotebookStateName(r.state) != state) continue;
          if (!scope.Sees(r.team)) continue;
          if (static_cast<int>(items.size()) == page.max_results) {
            return Json{{"notebooks", items}, {"next_page_token", last}};
          }
          items.push_back(r.ToJson(/*with_secret=*/false));
          last = r.name;
        }
        return Json{{"notebooks", items}};
      }));

  routes.Route("GET", "/api/v1/notebooks/{name}", Access::Team(Role::kViewer, NotebookOwner(s)),
               JsonHandler([notebooks](http::Request& req) -> StatusOr<Json> {
                 ASSIGN_OR_RETURN(NotebookRecord r, notebooks->Get(req.path_params["name"]));
                 return r.ToJson(/*with_secret=*/false);
               }));

  routes.Route(
      "GET", "/api/v1/notebooks/{name}/url", Access::Team(Role::kMember, NotebookOwner(s)),
      JsonHandler([notebooks](http::Request& req) -> StatusOr<Json> {
        ASSIGN_OR_RETURN(NotebookRecord r, notebooks->Get(req.path_params["name"]));
        if (r.state != compute::notebooks::NotebookState::kInService) {
          return FailedPreconditionError(
              "notebook \"" + r.name + "\" is " +
              std::string(compute::notebooks::NotebookStateName(r.state)) +
              ", not InService: `tandem notebooks start " + r.name + "` first");
        }
        return Json{{"name", r.name}, {"url", r.Url()}, {"token", r.token}, {"port", r.port}};
      }));

  routes.Route(
      "POST", "/api/v1/notebooks/{name}/stop", Access::Team(Role::kMember, NotebookOwner(s)),
      JsonHandler([notebooks](http::Request& req) -> StatusOr<Json> {
        ASSIGN_OR_RETURN(NotebookRecord r, notebooks->StopNotebook(req.path_params["name"]));
        return r.ToJson(/*with_secret=*/false);
      }));
}

}  // namespace tandem::api
