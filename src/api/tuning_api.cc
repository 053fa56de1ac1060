// /api/v1/tuning-jobs: hyperparameter tuning jobs (create, list, get, stop,
// trials).
#include "api/api_routes.h"
#include "api/control_plane.h"
#include "api/owners.h"
#include "api/rest.h"
#include "compute/tuning/service.h"

namespace tandem::api {

void RegisterTuningRoutes(ApiRoutes& routes, const Services& s) {
  compute::tuning::TuningService* tuning = s.tuning;
  if (tuning == nullptr) return;
  const LocalPathPolicy* local_paths = s.local_paths;

  routes.Route("POST", "/api/v1/tuning-jobs", Access::Team(Role::kMember, TuningSpecOwner(s)),
               JsonHandler(
                   [tuning, local_paths, sp = &s](http::Request& req) -> StatusOr<Json> {
                     ASSIGN_OR_RETURN(Json body, JsonBody(req));
                     ASSIGN_OR_RETURN(compute::tuning::TuningSpec spec,
                                      compute::tuning::TuningSpec::FromJson(body));
                     RETURN_IF_ERROR(local_paths->CheckJobSpec(spec.training_job, "training_job."));
                     RETURN_IF_ERROR(
                         CheckJobSpecKeys(*sp, req, spec.training_job, "training_job."));
                     RETURN_IF_ERROR(CheckImageReadable(*sp, req, spec.training_job.image));
                     ASSIGN_OR_RETURN(auto admission, sp->quotas->Admit(spec.training_job.team));
                     RETURN_IF_ERROR(sp->quotas->CheckJobCpus(
                         *sp->jobs, spec.training_job.team, spec.training_job.resources.cpus,
                         spec.max_parallel_jobs));
                     RETURN_IF_ERROR(sp->budgets->Check(spec.training_job.team));
                     ASSIGN_OR_RETURN(compute::tuning::TuningRecord r,
                                      tuning->Create(std::move(spec)));
                     return r.ToJson();
                   },
                   201));

  routes.Route("GET", "/api/v1/tuning-jobs", Access::Authenticated(),
               JsonHandler([tuning, sp = &s](http::Request& req) -> StatusOr<Json> {
                 ASSIGN_OR_RETURN(PageParams page, ReadPageParams(req));
                 ASSIGN_OR_RETURN(ListScope scope, ListScope::Of(*sp, req));
                 std::optional<compute::tuning::TuningState> state;
                 if (!req.Query("state").empty()) {
                   ASSIGN_OR_RETURN(state, compute::tuning::ParseTuningState(req.Query("state")));
                 }
                 ASSIGN_OR_RETURN(auto list, tuning->List(state, page.max_results));
                 Json items = Json::array();
                 for (const auto& r : list) {
                   if (scope.Sees(r.team)) items.push_back(r.ToJson());
                 }
                 return Json{{"tuning_jobs", items}};
               }));

  routes.Route("GET", "/api/v1/tuning-jobs/{name}", Access::Team(Role::kViewer, TuningOwner(s)),
               JsonHandler([tuning](http::Request& req) -> StatusOr<Json> {
                 ASSIGN_OR_RETURN(compute::tuning::TuningRecord r,
                                  tuning->Get(req.path_params["name"]));
                 return r.ToJson();
               }));

  routes.Route(
      "POST", "/api/v1/tuning-jobs/{name}/stop", Access::Team(Role::kMember, TuningOwner(s)),
      JsonHandler([tuning](http::Request& req) -> StatusOr<Json> {
        ASSIGN_OR_RETURN(compute::tuning::TuningRecord r, tuning->Stop(req.path_params["name"]));
        return r.ToJson();
      }));

  routes.Route("GET", "/api/v1/tuning-jobs/{name}/trials",
               Access::Team(Role::kViewer, TuningOwner(s)),
               JsonHandler([tuning](http::Request& req) -> StatusOr<Json> {
                 std::string name = req.path_params["name"];
                 ASSIGN_OR_RETURN(auto trials, tuning->Trials(name));
                 Json items = Json::array();
                 for (const auto& t : trials) items.push_back(t.ToJson());
                 return Json{{"name", name}, {"trials", items}};
               }));
}

}  // namespace tandem::api
