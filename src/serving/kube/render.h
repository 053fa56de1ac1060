// A serving deployment as Kubernetes objects: the same spec the local fleet
// runs (serving/fleet/deployment_spec.h), rendered as
//
//   ConfigMap <name>-config     the replica's tandem.yaml and the spec itself
//   Deployment <name>           replicas.min pods (at least 1 under an HPA)
//                               each running `tandem serve` with the
//                               flags the fleet gives its replicas; readiness
//                               /v2/health/ready, liveness /v2/health/live, a
//                               startup probe sized for load + self-test,
//                               resources, preStop + grace for draining, a
//                               RollingUpdate that never goes below the PDB
//   Service <name>              port 80 -> the pods' http port
//   HorizontalPodAutoscaler     (autoscaling on, or min < max) the fleet's
//     <name>                    HPA rule: min/max, CPU utilization and the
//                               replica's in-flight gauge as a Pods metric
//   PodDisruptionBudget <name>  minAvailable = disruption_budget.min_available
//
// All carry CommonLabels("tandem-serving", name, "serving", team); every
// selector is SelectorLabels("tandem-serving", name). The glue URIs come from
// a Secret (kube::GlueEnvironment), never from the rendered objects; so does
// the replicas' certificate with RenderOptions::tls_secret.
//
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <vector>

#include "common/json.h"
#include "common/status.h"
#include "serving/fleet/deployment_spec.h"

namespace tandem::serving::kube {

inline constexpr char kServingApp[] = "tandem-serving";
// The replica's in-flight requests gauge (serving/engine/metrics.h), the
// HPA's Pods metric through the custom-metrics API.
inline constexpr char kInFlightMetric[] = "tandem_inference_in_flight_requests";

struct RenderOptions {
  std::string ns;  // metadata.namespace; "" = leave to kubectl/kustomize
  std::string image = "tandem-serving:latest";
  std::string image_pull_policy = "IfNotPresent";  // Always | IfNotPresent | Never
  std::string glue_secret = "tandem-glue";         // keys database, store, bus (optional)
  std::string host = "0.0.0.0";                    // the replica binds host:port in the pod
  // The pod's port. Not spec.port: that is the local fleet's shared host
  // port (picked at apply when 0); a pod has its own network.
  int port = 8080;
  int startup_seconds = 300;  // model load + self-test budget
  int drain_seconds = 5;      // preStop sleep: endpoints drop the pod before SIGTERM
  int grace_seconds = 30;     // SIGTERM -> SIGKILL: in-flight requests finish within it
  int cpu_utilization = 80;   // HPA CPU target, percent of requests.cpu
  std::string log_level = "info";
  // A kubernetes.io/tls Secret (keys tls.crt, tls.key): the replicas serve
  // HTTPS with it (mounted read-only; a renewed Secret is picked up by new
  // connections) and the probes and the Prometheus scrape use https.
  // "" = plain HTTP inside the cluster (`--insecure`; TLS at the ingress).
  std::string tls_secret;
};

// Resources from the spec's free-form `resources` mapping, as a container's
// {requests, limits}: cpus (number) or cpu (quantity) -> requests.cpu
// (default 1: the HPA's CPU utilization needs it); memory_mb (integer) or
// memory (quantity) -> requests.memory = limits.memory; gpus (integer) ->
// limits["nvidia.com/gpu"]. No CPU limit (throttling hurts tail latency).
// Other keys and bad quantities -> InvalidArgument naming `resources.<key>`.
StatusOr<Json> ContainerResources(const Json& resources);

// The objects in the order above. InvalidArgument for a spec or options
// Kubernetes cannot take (naming the field).
StatusOr<std::vector<Json>> RenderDeployment(const fleet::DeploymentSpec& spec,
                                             const RenderOptions& options);

}  // namespace tandem::serving::kube
