// GET /metrics: the control plane in Prometheus text format, for the same
// scraper as the replicas' /metrics. Counts come from one cheap query per
// service (GROUP BY in the stores), never from paging through lists here.
#include <map>

#include "api/api_routes.h"
#include "api/control_plane.h"
#include "api/http_metrics.h"
#include "api/owners.h"
#include "api/rest.h"
#include "common/prometheus.h"
#include "compute/jobs/service.h"
#include "compute/notebooks/service.h"
#include "glue/bus/outbox.h"
#include "serving/fleet/fleet.h"

namespace tandem::api {
namespace {

using prometheus::Header;
using prometheus::Label;
using prometheus::Sample;

double AgeSeconds(int64_t now_us, int64_t since_us) {
  return since_us > 0 && now_us > since_us ? static_cast<double>(now_us - since_us) / 1e6 : 0;
}

Status RenderJobs(compute::jobs::JobService& jobs, int64_t now_us, std::string& out) {
  ASSIGN_OR_RETURN(compute::jobs::JobCounts counts, jobs.Counts());
  Header(out, "tandem_jobs", "gauge", "Training jobs by state and team.");
  int64_t pending = 0;
  for (const auto& row : counts.by_state_team) {
    Sample(out, "tandem_jobs", Label("state", row.state) + "," + Label("team", row.team),
           static_cast<double>(row.jobs));
    if (row.state == "Pending") pending += row.jobs;
  }
  Header(out, "tandem_scheduler_queue_length", "gauge", "Jobs waiting to be launched (Pending).");
  Sample(out, "tandem_scheduler_queue_length", "", static_cast<double>(pending));
  Header(out, "tandem_scheduler_oldest_pending_seconds", "gauge",
         "How long the oldest Pending job has waited (0 if none).");
  Sample(out, "tandem_scheduler_oldest_pending_seconds", "",
         AgeSeconds(now_us, counts.oldest_pending_queued_micros));
  Header(out, "tandem_job_launch_latency_seconds", "histogram",
         "Time from queued to Running for jobs launched by this control plane.");
  jobs.launch_latency().Render(out, "tandem_job_launch_latency_seconds", "");
  return OkStatus();
}

Status RenderBus(bus::EventBus& bus, int64_t now_us, std::string& out) {
  ASSIGN_OR_RETURN(auto queues, bus.ListQueues());
  Header(out, "tandem_queue_messages", "gauge",
         "Messages per queue: visible (receivable), in_flight (received, not deleted), delayed.");
  for (const auto& q : queues) {
    Sample(out, "tandem_queue_messages", Label("queue", q.name) + ",state=\"visible\"",
           static_cast<double>(q.visible));
    Sample(out, "tandem_queue_messages", Label("queue", q.name) + ",state=\"in_flight\"",
           static_cast<double>(q.in_flight));
    Sample(out, "tandem_queue_messages", Label("queue", q.name) + ",state=\"delayed\"",
           static_cast<double>(q.delayed));
  }
  Header(out, "tandem_queue_oldest_message_age_seconds", "gauge",
         "How long the oldest receivable message of each queue has waited (0 if none).");
  for (const auto& q : queues) {
    Sample(out, "tandem_queue_oldest_message_age_seconds", Label("queue", q.name),
           AgeSeconds(now_us, q.oldest_visible_ms * 1000));
  }
  bus::OutboxBacklog backlog;
  if (bus::Outbox* outbox = bus.outbox()) {
    ASSIGN_OR_RETURN(backlog, outbox->Backlog());
  }
  Header(out, "tandem_outbox_pending_events", "gauge",
         "Events committed to the outbox and not yet relayed to the bus.");
  Sample(out, "tandem_outbox_pending_events", "", static_cast<double>(backlog.pending));
  Header(out, "tandem_outbox_relay_lag_seconds", "gauge",
         "Age of the oldest event waiting in the outbox (0 if none).");
  Sample(out, "tandem_outbox_relay_lag_seconds", "",
         AgeSeconds(now_us, backlog.oldest_published_ms * 1000));
  return OkStatus();
}

Status RenderNotebooks(compute::notebooks::NotebookService& notebooks, std::string& out) {
  ASSIGN_OR_RETURN(auto counts, notebooks.CountByStateAndTeam());
  Header(out, "tandem_notebooks", "gauge", "Managed notebooks by state and team.");
  for (const auto& [key, n] : counts) {
    Sample(out, "tandem_notebooks", Label("state", key.first) + "," + Label("team", key.second),
           static_cast<double>(n));
  }
  return OkStatus();
}

void RenderDeployments(serving::fleet::Fleet& fleet, std::string& out) {
  auto deployments = fleet.List();
  Header(out, "tandem_deployments", "gauge", "Serving deployments on the local fleet.");
  Sample(out, "tandem_deployments", "", static_cast<double>(deployments.size()));
  Header(out, "tandem_deployment_desired_replicas", "gauge", "Replicas wanted per deployment.");
  for (const auto& d : deployments) {
    Sample(out, "tandem_deployment_desired_replicas", Label("deployment", d.spec.name),
           static_cast<double>(d.desired));
  }
  Header(out, "tandem_deployment_replicas", "gauge",
         "Replicas per deployment by state (starting, ready, backoff, stopping).");
  for (const auto& d : deployments) {
    std::map<std::string, int> by_state = {
        {"starting", 0}, {"ready", 0}, {"backoff", 0}, {"stopping", 0}};
    for (const auto& r : d.replicas) by_state[r.state]++;
    for (const auto& [state, n] : by_state) {
      Sample(out, "tandem_deployment_replicas",
             Label("deployment", d.spec.name) + "," + Label("state", state),
             static_cast<double>(n));
    }
  }
}

StatusOr<std::string> Render(const Services& s) {
  std::string out;
  int64_t now_us = s.clock->NowMicros();
  if (s.jobs != nullptr) RETURN_IF_ERROR(RenderJobs(*s.jobs, now_us, out));
  RETURN_IF_ERROR(RenderBus(*s.bus, now_us, out));
  if (s.notebooks != nullptr) RETURN_IF_ERROR(RenderNotebooks(*s.notebooks, out));
  if (s.fleet != nullptr) RenderDeployments(*s.fleet, out);
  if (s.http_metrics != nullptr) s.http_metrics->Render(out);
  return out;
}

}  // namespace

void RegisterMetricsRoutes(ApiRoutes& routes, const Services& services) {
  routes.Route("GET", "/metrics", Access::Public(),
               [services](http::Request&, http::Response& res) {
                 auto text = Render(services);
                 if (!text.ok()) return WriteError(res, text.status());
                 res.Text(200, std::move(*text));
                 res.headers["content-type"] = std::string(prometheus::kContentType);
               });
}

}  // namespace tandem::api
