// GET /api/v1/status: a one-screen summary of the platform for `tandem
// status`, aggregated from the services (jobs by state, deployments and the
// versions they serve, queue depths, spend per team, models count).
#include <set>

#include "api/control_plane.h"
#include "api/rest.h"
#include "compute/jobs/service.h"
#include "serving/fleet/fleet.h"

namespace tandem::api {
namespace {

constexpr int kPage = 1000;

StatusOr<Json> JobsByState(compute::jobs::JobService& jobs) {
  Json by_state = Json::object();
  for (auto s : {compute::jobs::JobState::kPending, compute::jobs::JobState::kStarting,
                 compute::jobs::JobState::kRunning, compute::jobs::JobState::kStopping,
                 compute::jobs::JobState::kCompleted, compute::jobs::JobState::kFailed,
                 compute::jobs::JobState::kStopped}) {
    by_state[std::string(compute::jobs::JobStateName(s))] = 0;
  }
  int64_t total = 0;
  compute::jobs::JobFilter filter;
  filter.max_results = kPage;
  do {
    ASSIGN_OR_RETURN(compute::jobs::JobPage page, jobs.List(filter));
    for (const auto& j : page.jobs) {
      by_state[std::string(compute::jobs::JobStateName(j.state))] =
          by_state[std::string(compute::jobs::JobStateName(j.state))].get<int64_t>() + 1;
      ++total;
    }
    filter.page_token = page.next_page_token;
  } while (!filter.page_token.empty());
  return Json{{"total", total}, {"by_state", by_state}};
}

Json Deployments(serving::fleet::Fleet& fleet) {
  Json out = Json::array();
  for (const auto& d : fleet.List()) {
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

StatusOr<Json> Spend(compute::jobs::JobService& jobs) {
  ASSIGN_OR_RETURN(auto spend, jobs.SpendByTeam());
  Json out = Json::array();
  for (const auto& t : spend) {
    out.push_back({{"team", t.team},
                   {"jobs", t.jobs},
                   {"wall_seconds", t.wall_seconds},
                   {"cpu_seconds", t.cpu_seconds},
                   {"warm_pool_seconds", t.warm_pool_seconds},
                   {"cost", t.cost}});
  }
  return out;
}

StatusOr<int64_t> ModelsCount(registry::ModelRegistry& reg) {
  registry::ModelSearch search;
  search.max_results = kPage;
  int64_t count = 0;
  do {
    ASSIGN_OR_RETURN(auto page, reg.SearchModels(search));
    count += static_cast<int64_t>(page.items.size());
    search.page_token = page.next_page_token;
  } while (!search.page_token.empty());
  return count;
}

}  // namespace

void RegisterStatusRoutes(http::Server& server, const Services& s) {
  server.Route("GET", "/api/v1/status", JsonHandler([s](http::Request&) -> StatusOr<Json> {
                 Json out = {{"time", FormatRfc3339Millis(s.clock->NowMicros())}};
                 if (s.jobs != nullptr) {
                   ASSIGN_OR_RETURN(out["jobs"], JobsByState(*s.jobs));
                   ASSIGN_OR_RETURN(out["spend"], Spend(*s.jobs));
                 }
                 out["deployments"] = s.fleet != nullptr ? Deployments(*s.fleet) : Json::array();
                 ASSIGN_OR_RETURN(out["queues"], Queues(*s.bus));
                 ASSIGN_OR_RETURN(int64_t models, ModelsCount(*s.registry));
                 out["models"] = {{"count", models}};
                 return out;
               }));
}

}  // namespace tandem::api
