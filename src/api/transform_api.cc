// /api/v1/transform-jobs: batch transforms (submit, list, get, stop). A
// transform is an ordinary compute job (its logs and metering are under
// /api/v1/jobs/{id}); these routes speak transform specs and list only
// transform jobs.
#include "api/api_routes.h"
#include "api/control_plane.h"
#include "api/job_list.h"
#include "api/owners.h"
#include "api/rest.h"
#include "compute/jobs/service.h"
#include "compute/transform/service.h"

namespace tandem::api {

void RegisterTransformRoutes(ApiRoutes& routes, const Services& s) {
  compute::jobs::JobService* jobs = s.jobs;
  registry::ModelRegistry* registry = s.registry;
  const LocalPathPolicy* local_paths = s.local_paths;

  routes.Route("POST", "/api/v1/transform-jobs", Access::Team(Role::kMember, TransformSpecOwner(s)),
               JsonHandler(
                   [jobs, registry, local_paths, sp = &s](http::Request& req) -> StatusOr<Json> {
                     ASSIGN_OR_RETURN(Json body, JsonBody(req));
                     ASSIGN_OR_RETURN(compute::transform::TransformSpec spec,
                                      compute::transform::TransformSpec::FromJson(body));
                     RETURN_IF_ERROR(local_paths->Check(spec.input_uri, "input.uri"));
                     RETURN_IF_ERROR(CheckSpecKey(*sp, req, spec.input_uri, Role::kViewer,
                                                  "input.uri"));
                     RETURN_IF_ERROR(CheckSpecKey(*sp, req, spec.output_prefix, Role::kMember,
                                                  "output.prefix"));
                     ASSIGN_OR_RETURN(auto admission, sp->quotas->Admit(spec.team));
                     RETURN_IF_ERROR(
                         sp->quotas->CheckJobCpus(*jobs, spec.team, spec.resources.cpus));
                     RETURN_IF_ERROR(sp->budgets->Check(spec.team));
                     ASSIGN_OR_RETURN(compute::jobs::JobRecord job,
                                      compute::transform::SubmitTransform(spec, *jobs, *registry));
                     return compute::transform::TransformJobJson(job);
                   },
                   201));

  // Transform jobs only, filtered by the job store (indexed kind column).
  routes.Route("GET", "/api/v1/transform-jobs", Access::Authenticated(),
               JsonHandler([jobs, sp = &s](http::Request& req) -> StatusOr<Json> {
                 ASSIGN_OR_RETURN(compute::jobs::JobFilter filter, ReadJobFilter(req));
                 filter.kind = compute::transform::kTransformKind;
                 ASSIGN_OR_RETURN(compute::jobs::JobPage result, jobs->List(filter));
                 ASSIGN_OR_RETURN(ListScope scope, ListScope::Of(*sp, req));
                 std::erase_if(result.jobs, [&](const compute::jobs::JobRecord& j) {
                   return !scope.Sees(j.spec.team);
                 });
                 return JobPageJson(result, "transform_jobs", compute::transform::TransformJobJson);
               }));

  auto get_transform = [jobs](const std::string& id) -> StatusOr<compute::jobs::JobRecord> {
    ASSIGN_OR_RETURN(compute::jobs::JobRecord job, jobs->Get(id));
    if (!compute::transform::IsTransformJob(job)) {
      return NotFoundError("transform job '" + id + "' not found (it is a training job)");
    }
    return job;
  };

  routes.Route("GET", "/api/v1/transform-jobs/{id}", Access::Team(Role::kViewer, JobOwner(s)),
               JsonHandler([jobs, get_transform,
                            polls = s.long_polls](http::Request& req) -> StatusOr<Json> {
                 RETURN_IF_ERROR(get_transform(req.path_params["id"]).status());
                 // ?state=&wait_ms=: a long poll (job_list.h).
                 ASSIGN_OR_RETURN(compute::jobs::JobRecord job,
                                  GetJobMaybeWaiting(*jobs, polls, req, req.path_params["id"]));
                 return compute::transform::TransformJobJson(job);
               }));

  routes.Route("POST", "/api/v1/transform-jobs/{id}/stop", Access::Team(Role::kMember, JobOwner(s)),
               JsonHandler([jobs, get_transform](http::Request& req) -> StatusOr<Json> {
                 RETURN_IF_ERROR(get_transform(req.path_params["id"]).status());
                 ASSIGN_OR_RETURN(compute::jobs::JobRecord job, jobs->Stop(req.path_params["id"]));
                 return compute::transform::TransformJobJson(job);
               }));
}

}  // namespace tandem::api
