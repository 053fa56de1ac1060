// /api/v1/transform-jobs: batch transforms (submit, list, get, stop). A
// transform is an ordinary compute job (its logs and metering are under
// /api/v1/jobs/{id}); these routes speak transform specs and list only
// transform jobs.
#include "api/control_plane.h"
#include "api/rest.h"
#include "compute/job_service.h"
#include "compute/transform_service.h"

namespace tandem::api {

void RegisterTransformRoutes(http::Server& server, const Services& s) {
  compute::JobService* jobs = s.jobs;
  registry::ModelRegistry* registry = s.registry;

  server.Route("POST", "/api/v1/transform-jobs",
               JsonHandler(
                   [jobs, registry](http::Request& req) -> StatusOr<Json> {
                     ASSIGN_OR_RETURN(Json body, JsonBody(req));
                     ASSIGN_OR_RETURN(compute::TransformSpec spec,
                                      compute::TransformSpec::FromJson(body));
                     ASSIGN_OR_RETURN(compute::JobRecord job,
                                      compute::SubmitTransform(spec, *jobs, *registry));
                     return compute::TransformJobJson(job);
                   },
                   201));

  // Pages through the jobs, keeping transform jobs (a page may hold fewer
  // than max_results items; next_page_token continues the scan).
  server.Route("GET", "/api/v1/transform-jobs",
               JsonHandler([jobs](http::Request& req) -> StatusOr<Json> {
                 ASSIGN_OR_RETURN(PageParams page, ReadPageParams(req));
                 compute::JobFilter filter;
                 std::string state = req.Query("state");
                 if (!state.empty()) {
                   ASSIGN_OR_RETURN(filter.state, compute::ParseJobState(state));
                 }
                 filter.team = req.Query("team");
                 filter.name = req.Query("name");
                 filter.max_results = page.max_results;
                 filter.page_token = page.page_token;
                 ASSIGN_OR_RETURN(compute::JobPage result, jobs->List(filter));
                 Json items = Json::array();
                 for (const auto& j : result.jobs) {
                   if (compute::IsTransformJob(j)) items.push_back(compute::TransformJobJson(j));
                 }
                 Json out = {{"transform_jobs", items}};
                 if (!result.next_page_token.empty()) {
                   out["next_page_token"] = result.next_page_token;
                 }
                 return out;
               }));

  auto get_transform = [jobs](const std::string& id) -> StatusOr<compute::JobRecord> {
    ASSIGN_OR_RETURN(compute::JobRecord job, jobs->Get(id));
    if (!compute::IsTransformJob(job)) {
      return NotFoundError("transform job '" + id + "' not found (it is a training job)");
    }
    return job;
  };

  server.Route("GET", "/api/v1/transform-jobs/{id}",
               JsonHandler([get_transform](http::Request& req) -> StatusOr<Json> {
                 ASSIGN_OR_RETURN(compute::JobRecord job, get_transform(req.path_params["id"]));
                 return compute::TransformJobJson(job);
               }));

  server.Route("POST", "/api/v1/transform-jobs/{id}/stop",
               JsonHandler([jobs, get_transform](http::Request& req) -> StatusOr<Json> {
                 RETURN_IF_ERROR(get_transform(req.path_params["id"]).status());
                 ASSIGN_OR_RETURN(compute::JobRecord job, jobs->Stop(req.path_params["id"]));
                 return compute::TransformJobJson(job);
               }));
}

}  // namespace tandem::api
