// GET /api/v1/deployments/{name}/metrics and .../metrics/stream: each
// replica's request counters, version and latency histogram, scraped from its
// admin port's /metrics, once or pushed every interval_ms as NDJSON (the
// console's live req/s and p50/p99 charts).
#include <algorithm>
#include <chrono>
#include <memory>
#include <thread>

#include "api/api_routes.h"
#include "api/control_plane.h"
#include "api/owners.h"
#include "api/replica_metrics.h"
#include "api/rest.h"
#include "common/http_client.h"
#include "glue/registry/model_registry.h"
#include "serving/fleet/fleet.h"

namespace tandem::api {
namespace {

constexpr int64_t kScrapeTimeoutMs = 500;

// One scrape of every replica of deployment `name`.
StatusOr<Json> Scrape(serving::fleet::Fleet& fleet, Clock& clock, http::Client& client,
                      const std::string& name) {
  ASSIGN_OR_RETURN(serving::fleet::DeploymentStatus st, fleet.Get(name));
  ASSIGN_OR_RETURN(registry::ModelRef ref, registry::ParseModelRef(st.spec.model));
  Json replicas = Json::array();
  for (const serving::fleet::ReplicaStatus& r : st.replicas) {
    Json out = {{"index", r.index}, {"state", r.state}};
    if (r.pid <= 0 || r.admin_port <= 0) {
      out["error"] = "not running (" + r.state + ")";
      replicas.push_back(std::move(out));
      continue;
    }
    auto res = client.Do(fleet.ReplicaRequest(r.admin_port, "/metrics", kScrapeTimeoutMs));
    StatusOr<Json> summary = !res.ok() ? StatusOr<Json>(res.status())
                             : res->status != 200
                                 ? StatusOr<Json>(UnavailableError("GET /metrics answered " +
                                                                   std::to_string(res->status)))
                                 : SummarizeReplicaMetrics(res->body, ref.name);
    if (summary.ok()) {
      out.update(*summary);
    } else {
      out["error"] = std::string(summary.status().message());
    }
    replicas.push_back(std::move(out));
  }
  return Json{{"deployment", name},
              {"model", ref.name},
              {"time_ms", clock.NowMicros() / 1000},
              {"replicas", replicas}};
}

Status NoFleet() { return UnavailableError("the serving fleet is not running"); }

}  // namespace

void RegisterDeploymentMetricsRoutes(ApiRoutes& routes, const Services& s) {
  serving::fleet::Fleet* fleet = s.fleet;
  Clock* clock = s.clock;
  routes.Route("GET", "/api/v1/deployments/{name}/metrics",
               Access::Team(Role::kViewer, DeploymentOwner(s)),
               JsonHandler([fleet, clock](http::Request& req) -> StatusOr<Json> {
                 if (fleet == nullptr) return NoFleet();
                 http::Client client;
                 return Scrape(*fleet, *clock, client, req.path_params["name"]);
               }));

  // NDJSON: one scrape now, then one every ?interval_ms= (250..60000,
  // default 1000) until the client goes away or the deployment is deleted.
  routes.Route(
      "GET", "/api/v1/deployments/{name}/metrics/stream",
      Access::Team(Role::kViewer, DeploymentOwner(s)),
      [fleet, clock](http::Request& req, http::Response& res) {
        if (fleet == nullptr) return WriteError(res, NoFleet());
        auto interval = QueryInt(req, "interval_ms", 1000);
        if (!interval.ok()) return WriteError(res, interval.status());
        if (*interval < 250 || *interval > 60'000) {
          return WriteError(res, InvalidArgumentError("interval_ms must be in [250, 60000]"));
        }
        std::string name = req.path_params["name"];
        auto client = std::make_shared<http::Client>();
        auto first = Scrape(*fleet, *clock, *client, name);
        if (!first.ok()) return WriteError(res, first.status());
        auto pending = std::make_shared<std::string>(first->dump() + "\n");
        const int64_t period_us = *interval * 1000;
        auto next = std::make_shared<int64_t>(clock->MonotonicMicros() + period_us);
        res.status = 200;
        res.headers["content-type"] = "application/x-ndjson";
        res.headers["cache-control"] = "no-store";
        res.stream = [fleet, clock, client, name, pending, next, period_us](
                         std::string& chunk, const http::StreamContext& ctx) {
          chunk.clear();
          if (!pending->empty()) {
            chunk.swap(*pending);
            return true;
          }
          // Wait for the next tick in short steps so a closed client is noticed.
          for (int64_t left; (left = *next - clock->MonotonicMicros()) > 0;) {
            if (ctx.cancelled && ctx.cancelled()) return false;
            std::this_thread::sleep_for(std::chrono::microseconds(std::min<int64_t>(left, 50'000)));
          }
          *next += period_us;
          auto sample = Scrape(*fleet, *clock, *client, name);
          if (!sample.ok()) return false;  // deleted: end the stream
          chunk = sample->dump() + "\n";
          return true;
        };
      });
}

}  // namespace tandem::api
