// /api/v1/jobs: training jobs (submit, list, get, stop, logs, metrics) and
// /api/v1/metering/teams (spend per team).
#include <chrono>
#include <memory>
#include <thread>

#include "api/api_routes.h"
#include "api/control_plane.h"
#include "api/job_list.h"
#include "api/owners.h"
#include "api/rest.h"
#include "compute/jobs/service.h"

namespace tandem::api {
namespace {

using compute::jobs::JobService;

Json MetricsJson(const std::string& id,
                 const std::map<std::string, std::vector<compute::jobs::MetricPoint>>& series) {
  Json metrics = Json::object();
  for (const auto& [name, points] : series) {
    Json arr = Json::array();
    for (const auto& p : points) {
      arr.push_back({{"attempt", p.attempt},
                     {"step", p.step},
                     {"value", p.value},
                     {"timestamp", FormatRfc3339Millis(p.timestamp_micros)}});
    }
    metrics[name] = arr;
  }
  return {{"job_id", id}, {"metrics", metrics}};
}

// Streams the log of the attempt that runs now (`attempt`) from `offset` as
// it grows, until the job has ended and everything was sent, the job moved on
// to another attempt (whose log starts again at 0: the client asks again), or
// the client goes away.
http::BodyStream FollowLog(JobService* jobs, std::string id, int attempt, int64_t offset) {
  auto cursor = std::make_shared<int64_t>(offset);
  return [jobs, id, attempt, cursor](std::string& chunk, const http::StreamContext& ctx) {
    chunk.clear();
    for (int waited = 0; waited < 20; ++waited) {  // up to ~1 s per call
      if (ctx.cancelled && ctx.cancelled()) return false;
      auto read = jobs->ReadLog(id, *cursor, 256 << 10);
      if (!read.ok()) {
        if (read.status().code() == StatusCode::kUnavailable) continue;
        return false;
      }
      if (read->attempt != attempt) return false;
      *cursor = read->next_offset;
      chunk = std::move(read->data);
      if (!chunk.empty()) return true;
      if (read->finished) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return true;
  };
}

// Streams a stored log from `offset` to its end.
http::BodyStream StoredLog(std::unique_ptr<store::BlobReader> reader, int64_t offset) {
  auto shared = std::shared_ptr<store::BlobReader>(std::move(reader));
  auto skip = std::make_shared<int64_t>(offset);
  return [shared, skip](std::string& chunk, const http::StreamContext& ctx) {
    chunk.assign(256 << 10, '\0');
    while (true) {
      if (ctx.cancelled && ctx.cancelled()) return false;
      auto n = shared->Read(chunk.data(), chunk.size());
      if (!n.ok() || *n == 0) {
        chunk.clear();
        return false;
      }
      if (*skip >= static_cast<int64_t>(*n)) {
        *skip -= static_cast<int64_t>(*n);
        continue;
      }
      chunk = chunk.substr(static_cast<size_t>(*skip), *n - static_cast<size_t>(*skip));
      *skip = 0;
      return true;
    }
  };
}

}  // namespace

void RegisterJobRoutes(ApiRoutes& routes, const Services& s) {
  JobService* jobs = s.jobs;
  const LocalPathPolicy* local_paths = s.local_paths;

  routes.Route("POST", "/api/v1/jobs", Access::Team(Role::kMember, JobSpecOwner(s)),
               JsonHandler(
                   [jobs, local_paths, sp = &s](http::Request& req) -> StatusOr<Json> {
                     ASSIGN_OR_RETURN(Json body, JsonBody(req));
                     ASSIGN_OR_RETURN(compute::jobs::JobSpec spec,
                                      compute::jobs::JobSpec::FromJson(body));
                     RETURN_IF_ERROR(local_paths->CheckJobSpec(spec));
                     RETURN_IF_ERROR(CheckJobSpecKeys(*sp, req, spec));
                     RETURN_IF_ERROR(CheckImageReadable(*sp, req, spec.image));
                     // Check and submit under the team's admission lock (quotas.h).
                     ASSIGN_OR_RETURN(auto admission, sp->quotas->Admit(spec.team));
                     RETURN_IF_ERROR(
                         sp->quotas->CheckJobCpus(*sp->jobs, spec.team, spec.resources.cpus));
                     RETURN_IF_ERROR(sp->budgets->Check(spec.team));
                     ASSIGN_OR_RETURN(compute::jobs::JobRecord job, jobs->Submit(spec));
                     return job.ToJson();
                   },
                   201));

  routes.Route("GET", "/api/v1/jobs", Access::Authenticated(),
               JsonHandler([jobs, sp = &s](http::Request& req) -> StatusOr<Json> {
                 ASSIGN_OR_RETURN(compute::jobs::JobFilter filter, ReadJobFilter(req));
                 ASSIGN_OR_RETURN(compute::jobs::JobPage result, jobs->List(filter));
                 ASSIGN_OR_RETURN(ListScope scope, ListScope::Of(*sp, req));
                 std::erase_if(result.jobs, [&](const compute::jobs::JobRecord& j) {
                   return !scope.Sees(j.spec.team);
                 });
                 return JobPageJson(result, "jobs",
                                    [](const compute::jobs::JobRecord& j) { return j.ToJson(); });
               }));

  routes.Route("GET", "/api/v1/jobs/{id}", Access::Team(Role::kViewer, JobOwner(s)),
               JsonHandler([jobs, polls = s.long_polls](http::Request& req) -> StatusOr<Json> {
                 // ?state=&wait_ms=: a long poll (job_list.h).
                 ASSIGN_OR_RETURN(compute::jobs::JobRecord job,
                                  GetJobMaybeWaiting(*jobs, polls, req, req.path_params["id"]));
                 return job.ToJson();
               }));

  routes.Route("POST", "/api/v1/jobs/{id}/stop", Access::Team(Role::kMember, JobOwner(s)),
               JsonHandler([jobs](http::Request& req) -> StatusOr<Json> {
                 ASSIGN_OR_RETURN(compute::jobs::JobRecord job, jobs->Stop(req.path_params["id"]));
                 return job.ToJson();
               }));

  routes.Route("GET", "/api/v1/jobs/{id}/metrics", Access::Team(Role::kViewer, JobOwner(s)),
               JsonHandler([jobs](http::Request& req) -> StatusOr<Json> {
                 std::string id = req.path_params["id"];
                 ASSIGN_OR_RETURN(auto series, jobs->Metrics(id));
                 return MetricsJson(id, series);
               }));

  // The log as text/plain from ?offset=N (default 0). With ?follow=true the
  // response streams as the log grows and ends when the job has ended (or
  // its attempt changed: the next one's log starts at 0).
  // Headers: x-tandem-next-offset, x-tandem-finished (non-follow only).
  store::ObjectStore* store = s.store;
  routes.Route("GET", "/api/v1/jobs/{id}/logs", Access::Team(Role::kViewer, JobOwner(s)),
               [jobs, store](http::Request& req, http::Response& res) {
                 std::string id = req.path_params["id"];
                 auto offset = QueryInt(req, "offset", 0);
                 if (!offset.ok()) return WriteError(res, offset.status());
                 std::string follow = req.Query("follow", "false");
                 if (follow != "true" && follow != "false") {
                   return WriteError(res, InvalidArgumentError("follow must be true or false"));
                 }
                 auto first = jobs->ReadLog(id, *offset, 4 << 20);
                 if (!first.ok()) return WriteError(res, first.status());
                 if (!first->stored_key.empty() && !first->finished) {
                   // An ended job's log larger than one read: stream it from the store.
                   auto reader = store->Get(first->stored_key);
                   if (!reader.ok()) return WriteError(res, reader.status());
                   res.status = 200;
                   res.headers["content-type"] = "text/plain; charset=utf-8";
                   res.stream = StoredLog(*std::move(reader), *offset);
                   return;
                 }
                 if (follow == "false") {
                   res.Text(200, std::move(first->data));
                   res.headers["content-type"] = "text/plain; charset=utf-8";
                   res.headers["x-tandem-next-offset"] = std::to_string(first->next_offset);
                   res.headers["x-tandem-finished"] = first->finished ? "true" : "false";
                   return;
                 }
                 res.status = 200;
                 res.headers["content-type"] = "text/plain; charset=utf-8";
                 res.stream = FollowLog(jobs, id, first->attempt, *offset);
               });

  routes.Route("GET", "/api/v1/metering/teams", Access::Authenticated(),
               JsonHandler([jobs, sp = &s](http::Request& req) -> StatusOr<Json> {
                 ASSIGN_OR_RETURN(auto spend, jobs->SpendByTeam());
                 ASSIGN_OR_RETURN(ListScope scope, ListScope::Of(*sp, req));
                 Json teams = Json::array();
                 for (const auto& t : spend) {
                   if (!scope.Sees(t.team)) continue;
                   teams.push_back({{"team", t.team},
                                    {"jobs", t.jobs},
                                    {"wall_seconds", t.wall_seconds},
                                    {"cpu_seconds", t.cpu_seconds},
                                    {"warm_pool_seconds", t.warm_pool_seconds},
                                    {"cost", t.cost}});
                 }
                 return Json{{"teams", teams}};
               }));
}

}  // namespace tandem::api
