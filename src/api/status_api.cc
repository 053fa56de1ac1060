// GET /api/v1/status: a one-screen summary of the platform for `tandem
// status`, aggregated from the services (jobs by state, deployments and the
// versions they serve, queue depths, spend per team, models count). Jobs by
// state count every team (numbers only); jobs by team, deployments and
// spend show only the teams where the caller is a viewer (ListScope).
#include <set>

#include "api/api_routes.h"
#include "api/control_plane.h"
#include "api/owners.h"
#include "api/rest.h"
#include "compute/jobs/service.h"
#include "serving/fleet/fleet.h"

namespace tandem::api {
namespace {

// Counted by the job store (one GROUP BY), so the summary costs the same
// with a million jobs as with ten.
StatusOr<Json> JobsByState(compute::jobs::JobService& jobs) {
  ASSIGN_OR_RETURN(auto counts, jobs.CountByState());
  Json by_state = Json::object();
  int64_t total = 0;
  for (auto s : {compute::jobs::JobState::kPending, compute::jobs::JobState::kStarting,
                 compute::jobs::JobState::kRunning, compute::jobs::JobState::kStopping,
                 compute::jobs::JobState::kCompleted, compute::jobs::JobState::kFailed,
                 compute::jobs::JobState::kStopped}) {
    auto it = counts.find(s);
    const int64_t n = it == counts.end() ? 0 : it->second;
    by_state[std::string(compute::jobs::JobStateName(s))] = n;
    total += n;
  }
  return Json{{"total", total}, {"by_state", by_state}};
}

// {team: {state: n}} for the teams `scope` sees (one GROUP BY).
StatusOr<Json> JobsByTeam(compute::jobs::JobService& jobs, const ListScope& scope) {
  ASSIGN_OR_RETURN(auto counts, jobs.Counts());
  Json out = Json::object();
  for (const auto& row : counts.by_state_team) {
    if (!scope.Sees(row.team)) continue;
    out[OwningTeam(row.team)][row.state] = row.jobs;
  }
  return out;
}

Json Deployments(serving::fleet::Fleet& fleet, const ListScope& scope) {
  Json out = Json::array();
  for (const auto& d : fleet.List()) {
    if (!scope.Sees(d.spec.team)) continue;
    std::set<int64_t> versions;
    for (const auto& r : d.replicas) {
      if (r.version > 0) versions.insert(r.version);
    }
    out.push_back({{"name", d.spec.name},
                   {"model", d.spec.model},
                   {"desired", d.desired},
                   {"ready", d.ready},
                   {"endpoint", d.endpoint},
                   {"versions", Json(std::vector<int64_t>(versions.begin(), versions.end()))}});
  }
  return out;
}

StatusOr<Json> Queues(bus::EventBus& bus) {
  ASSIGN_OR_RETURN(auto queues, bus.ListQueues());
  Json out = Json::array();
  for (const auto& q : queues) {
    out.push_back({{"name", q.name},
                   {"visible", q.visible},
                   {"in_flight", q.in_flight},
                   {"delayed", q.delayed}});
  }
  return out;
}

StatusOr<Json> Spend(compute::jobs::JobService& jobs, const ListScope& scope) {
  ASSIGN_OR_RETURN(auto spend, jobs.SpendByTeam());
  Json out = Json::array();
  for (const auto& t : spend) {
    if (!scope.Sees(t.team)) continue;
    out.push_back({{"team", t.team},
                   {"jobs", t.jobs},
                   {"wall_seconds", t.wall_seconds},
                   {"cpu_seconds", t.cpu_seconds},
                   {"warm_pool_seconds", t.warm_pool_seconds},
                   {"cost", t.cost}});
  }
  return out;
}

}  // namespace

void RegisterStatusRoutes(ApiRoutes& routes, const Services& s) {
  routes.Route("GET", "/api/v1/status", Access::Authenticated(),
               JsonHandler([s](http::Request& req) -> StatusOr<Json> {
                 ASSIGN_OR_RETURN(ListScope scope, ListScope::Of(s, req));
                 Json out = {{"time", FormatRfc3339Millis(s.clock->NowMicros())}};
                 if (s.jobs != nullptr) {
                   ASSIGN_OR_RETURN(out["jobs"], JobsByState(*s.jobs));
                   ASSIGN_OR_RETURN(out["jobs"]["by_team"], JobsByTeam(*s.jobs, scope));
                   ASSIGN_OR_RETURN(out["spend"], Spend(*s.jobs, scope));
                 }
                 out["deployments"] =
                     s.fleet != nullptr ? Deployments(*s.fleet, scope) : Json::array();
                 ASSIGN_OR_RETURN(out["queues"], Queues(*s.bus));
                 ASSIGN_OR_RETURN(int64_t models, s.registry->CountModels());
                 out["models"] = {{"count", models}};
                 return out;
               }));
}

}  // namespace tandem::api
