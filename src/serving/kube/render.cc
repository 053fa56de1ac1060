#include "serving/kube/render.h"

#include <algorithm>
#include <cstdio>

#include "common/config.h"
#include "common/kube/objects.h"
#include "common/kube/quantity.h"
#include "common/spec_fields.h"
#include "common/yaml.h"

namespace tandem::serving::kube {
namespace {

using tandem::kube::CommonLabels;
using tandem::kube::HttpProbe;
using tandem::kube::Metadata;
using tandem::kube::Object;
using tandem::kube::SelectorLabels;

constexpr char kHome[] = "/var/lib/tandem";
constexpr char kConfigDir[] = "/etc/tandem";
constexpr char kTlsDir[] = "/etc/tandem-tls";  // the TLS Secret's volume

Status CheckOptions(const RenderOptions& o) {
  if (!o.ns.empty()) RETURN_IF_ERROR(tandem::kube::CheckDnsLabel(o.ns, "the namespace"));
  if (o.image.empty()) return InvalidArgumentError("the serving image must not be empty");
  RETURN_IF_ERROR(tandem::kube::CheckImagePullPolicy(o.image_pull_policy));
  RETURN_IF_ERROR(tandem::kube::CheckDnsLabel(o.glue_secret, "the glue secret's name"));
  if (!o.tls_secret.empty()) {
    RETURN_IF_ERROR(tandem::kube::CheckDnsLabel(o.tls_secret, "the TLS secret's name"));
  }
  if (o.host.empty()) return InvalidArgumentError("the listen host must not be empty");
  if (o.port < 1 || o.port > 65535) return InvalidArgumentError("the port must be 1..65535");
  if (o.startup_seconds < 2 || o.startup_seconds > 86400) {
    return InvalidArgumentError("the startup budget must be 2..86400 seconds");
  }
  if (o.drain_seconds < 0 || o.drain_seconds > 3600) {
    return InvalidArgumentError("the drain delay must be 0..3600 seconds");
  }
  if (o.grace_seconds < o.drain_seconds + 2 || o.grace_seconds > 86400) {
    return InvalidArgumentError(
        "the termination grace period must exceed the drain delay by at least 2 seconds (got " +
        std::to_string(o.grace_seconds) + " s for a " + std::to_string(o.drain_seconds) +
        " s drain delay)");
  }
  if (o.cpu_utilization < 1 || o.cpu_utilization > 1000) {
    return InvalidArgumentError("the CPU utilization target must be 1..1000 percent");
  }
  return OkStatus();
}

// The ConfigMap: the replica's tandem.yaml (no secrets: the URIs come from
// the Secret through the environment) and, for the record, the spec.
Json ConfigMap(const fleet::DeploymentSpec& spec, const RenderOptions& o, const Json& labels) {
  Json cm = Object("v1", "ConfigMap", Metadata(spec.name + "-config", o.ns, labels));
  cm["data"] = {{"tandem.yaml", ToYaml(Json{{"log_level", o.log_level}})},
                {"deployment.json", spec.ToJson().dump(2) + "\n"}};
  return cm;
}

std::vector<std::string> ReplicaArgs(const fleet::DeploymentSpec& spec, const RenderOptions& o,
                                     int port) {
  int64_t grace_ms = int64_t{o.grace_seconds - o.drain_seconds - 1} * 1000;
  std::vector<std::string> a = {"serve",
                                "--model",
                                spec.model,
                                "--name",
                                spec.name,
                                "--replica-id",
                                "$(POD_NAME)",
                                "--host",
                                o.host,
                                "--port",
                                std::to_string(port),
                                "--max-batch-size",
                                std::to_string(spec.max_batch_size),
                                "--max-queue-delay-us",
                                std::to_string(spec.max_queue_delay_us),
                                "--queue-size",
                                std::to_string(spec.queue_size),
                                "--grace-ms",
                                std::to_string(grace_ms),
                                "--home",
                                kHome,
                                "--config",
                                std::string(kConfigDir) + "/tandem.yaml"};
  if (!o.tls_secret.empty()) {
    // The Secret's files; `tandem serve` re-reads them for new connections.
    a.insert(a.end(), {"--tls-cert", std::string(kTlsDir) + "/tls.crt", "--tls-key",
                       std::string(kTlsDir) + "/tls.key"});
  } else if (!IsLoopbackHost(o.host)) {
    // Plain HTTP inside the cluster, as the control plane's Service; TLS is
    // for the ingress or mesh in front (a pod's address is not loopback, so
    // `tandem serve` wants this said).
    a.push_back("--insecure");
  }
  traffic::AppendTrafficFlags(spec.traffic, a);
  // The same per-deployment flags the local fleet gives its replicas: token
  // digests (--token-sha256: without them a pod would serve with no auth)
  // and the pinned image of the Python handler workers (the pod pulls it from
  // the image store into its layer cache and needs bubblewrap).
  fleet::AppendReplicaFlags(spec, a);
  return a;
}

Json PodTemplate(const fleet::DeploymentSpec& spec, const RenderOptions& o, const Json& labels,
                 const Json& resources, int port) {
  Json env = Json::array({Json{{"name", "POD_NAME"},
                               {"valueFrom", {{"fieldRef", {{"fieldPath", "metadata.name"}}}}}}});
  for (const Json& e : tandem::kube::GlueEnvironment(o.glue_secret)) env.push_back(e);
  const int startup_period = 2;
  // Over TLS the kubelet probes with https (it does not verify the certificate).
  auto probe = [&](const char* path, int period, int timeout, int failures) {
    Json p = HttpProbe(path, port, period, timeout, failures);
    if (!o.tls_secret.empty()) p["httpGet"]["scheme"] = "HTTPS";
    return p;
  };
  Json startup = probe("/v2/health/ready", startup_period, 2,
                       (o.startup_seconds + startup_period - 1) / startup_period);
  Json container = {
      {"name", "replica"},
      {"image", o.image},
      {"imagePullPolicy", o.image_pull_policy},
      {"command", Json::array({"tandem"})},
      {"args", ReplicaArgs(spec, o, port)},
      {"env", env},
      {"ports",
       Json::array({Json{{"name", "http"}, {"containerPort", port}, {"protocol", "TCP"}}})},
      {"startupProbe", startup},
      {"readinessProbe", probe("/v2/health/ready", 5, 2, 2)},
      {"livenessProbe", probe("/v2/health/live", 10, 2, 3)},
      {"resources", resources},
      {"volumeMounts",
       Json::array({Json{{"name", "config"}, {"mountPath", kConfigDir}, {"readOnly", true}},
                    Json{{"name", "home"}, {"mountPath", kHome}},
                    Json{{"name", "tmp"}, {"mountPath", "/tmp"}}})},
      {"securityContext", {{"allowPrivilegeEscalation", false}, {"readOnlyRootFilesystem", true}}}};
  Json volumes =
      Json::array({Json{{"name", "config"}, {"configMap", {{"name", spec.name + "-config"}}}},
                   Json{{"name", "home"}, {"emptyDir", Json::object()}},
                   Json{{"name", "tmp"}, {"emptyDir", Json::object()}}});
  if (!o.tls_secret.empty()) {
    container["volumeMounts"].push_back(
        Json{{"name", "tls"}, {"mountPath", kTlsDir}, {"readOnly", true}});
    volumes.push_back(Json{{"name", "tls"},
                           {"secret", {{"secretName", o.tls_secret}, {"defaultMode", 0400}}}});
  }
  if (o.drain_seconds > 0) {
    container["lifecycle"] = {{"preStop", {{"sleep", {{"seconds", o.drain_seconds}}}}}};
  }
  Json annotations = {{"prometheus.io/scrape", "true"},
                      {"prometheus.io/port", std::to_string(port)},
                      {"prometheus.io/path", "/metrics"},
                      {"tandem.dev/model", spec.model}};
  if (!o.tls_secret.empty()) annotations["prometheus.io/scheme"] = "https";
  Json meta = {{"labels", labels}, {"annotations", annotations}};
  return Json{
      {"metadata", meta},
      {"spec",
       {{"terminationGracePeriodSeconds", o.grace_seconds},
        {"containers", Json::array({container})},
        {"volumes", std::move(volumes)}}}};
}

Json DeploymentObject(const fleet::DeploymentSpec& spec, const RenderOptions& o, const Json& labels,
                      const Json& selector, Json pod_template) {
  // The fleet rolls one surge replica at a time and stops a ready one only
  // while min_available others stay ready: at most one unavailable, and none
  // when the budget covers every replica.
  int max_unavailable = std::clamp(spec.min_replicas - spec.min_available, 0, 1);
  Json d = Object("apps/v1", "Deployment",
                  Metadata(spec.name, o.ns, labels, Json{{"tandem.dev/model", spec.model}}));
  // An HPA never scales a Deployment up from 0 replicas: with autoscaling
  // it starts at its minimum of 1.
  const int replicas =
      spec.target_in_flight_per_replica > 0 ? std::max(1, spec.min_replicas) : spec.min_replicas;
  d["spec"] = {{"replicas", replicas},
               {"selector", {{"matchLabels", selector}}},
               {"strategy",
                {{"type", "RollingUpdate"},
                 {"rollingUpdate", {{"maxSurge", 1}, {"maxUnavailable", max_unavailable}}}}},
               {"template", std::move(pod_template)}};
  return d;
}

Json ServiceObject(const fleet::DeploymentSpec& spec, const RenderOptions& o, const Json& labels,
                   const Json& selector) {
  Json s = Object("v1", "Service", Metadata(spec.name, o.ns, labels));
  s["spec"] = {
      {"type", "ClusterIP"},
      {"selector", selector},
      {"ports",
       Json::array(
           {Json{{"name", "http"}, {"port", 80}, {"targetPort", "http"}, {"protocol", "TCP"}}})}};
  return s;
}

StatusOr<Json> HpaObject(const fleet::DeploymentSpec& spec, const RenderOptions& o,
                         const Json& labels) {
  ASSIGN_OR_RETURN(std::string target,
                   tandem::kube::NumberQuantity(spec.target_in_flight_per_replica));
  char tolerance[32];
  std::snprintf(tolerance, sizeof(tolerance), "%g", spec.tolerance);
  Json annotations = {{"tandem.dev/tolerance", tolerance}};
  // An HPA's minReplicas is at least 1 (scale to zero is an alpha gate).
  Json h = Object("autoscaling/v2", "HorizontalPodAutoscaler",
                  Metadata(spec.name, o.ns, labels, annotations));
  h["spec"] = {
      {"scaleTargetRef", {{"apiVersion", "apps/v1"}, {"kind", "Deployment"}, {"name", spec.name}}},
      {"minReplicas", std::max(1, spec.min_replicas)},
      {"maxReplicas", spec.max_replicas},
      {"metrics",
       Json::array(
           {Json{{"type", "Pods"},
                 {"pods",
                  {{"metric", {{"name", kInFlightMetric}}},
                   {"target", {{"type", "AverageValue"}, {"averageValue", target}}}}}},
            Json{{"type", "Resource"},
                 {"resource",
                  {{"name", "cpu"},
                   {"target",
                    {{"type", "Utilization"}, {"averageUtilization", o.cpu_utilization}}}}}}})},
      {"behavior",
       {{"scaleDown", {{"stabilizationWindowSeconds", spec.scale_down_stabilization_s}}},
        {"scaleUp", {{"stabilizationWindowSeconds", 0}}}}}};
  return h;
}

Json PdbObject(const fleet::DeploymentSpec& spec, const RenderOptions& o, const Json& labels,
               const Json& selector) {
  Json p = Object("policy/v1", "PodDisruptionBudget", Metadata(spec.name, o.ns, labels));
  p["spec"] = {{"minAvailable", spec.min_available}, {"selector", {{"matchLabels", selector}}}};
  return p;
}

}  // namespace

StatusOr<Json> ContainerResources(const Json& resources) {
  if (!resources.is_object()) return spec::TypeError("resources", "a mapping", resources);
  RETURN_IF_ERROR(
      spec::CheckKnown(resources, "resources.", {"cpus", "cpu", "memory_mb", "memory", "gpus"}));
  if (resources.contains("cpus") && resources.contains("cpu")) {
    return InvalidArgumentError("give one of 'resources.cpus' and 'resources.cpu'");
  }
  if (resources.contains("memory_mb") && resources.contains("memory")) {
    return InvalidArgumentError("give one of 'resources.memory_mb' and 'resources.memory'");
  }
  Json requests = Json::object();
  Json limits = Json::object();
  if (resources.contains("cpus")) {
    ASSIGN_OR_RETURN(double cpus, spec::Number(resources["cpus"], "resources.cpus", 0.001, 4096));
    ASSIGN_OR_RETURN(requests["cpu"], tandem::kube::CpuQuantity(cpus));
  } else if (resources.contains("cpu")) {
    ASSIGN_OR_RETURN(requests["cpu"],
                     tandem::kube::QuantityField(resources["cpu"], "resources.cpu"));
  } else {
    requests["cpu"] = "1";
  }
  if (resources.contains("memory_mb")) {
    ASSIGN_OR_RETURN(int64_t mb,
                     spec::Integer(resources["memory_mb"], "resources.memory_mb", 1, 1 << 24));
    ASSIGN_OR_RETURN(requests["memory"], tandem::kube::MemoryQuantity(mb));
  } else if (resources.contains("memory")) {
    ASSIGN_OR_RETURN(requests["memory"],
                     tandem::kube::QuantityField(resources["memory"], "resources.memory"));
  }
  if (requests.contains("memory")) limits["memory"] = requests["memory"];
  if (resources.contains("gpus")) {
    ASSIGN_OR_RETURN(int64_t gpus, spec::Integer(resources["gpus"], "resources.gpus", 0, 64));
    if (gpus > 0) limits["nvidia.com/gpu"] = std::to_string(gpus);
  }
  Json r = {{"requests", requests}};
  if (!limits.empty()) r["limits"] = limits;
  return r;
}

StatusOr<std::vector<Json>> RenderDeployment(const fleet::DeploymentSpec& spec,
                                             const RenderOptions& options) {
  RETURN_IF_ERROR(CheckOptions(options));
  // The fleet's names are [a-z0-9-] starting with a letter; Kubernetes also
  // wants the last character alphanumeric.
  RETURN_IF_ERROR(tandem::kube::CheckDnsLabel(spec.name, "the deployment name"));
  if (spec.name.size() > 56) {
    return InvalidArgumentError(
        "the deployment name must be at most 56 characters on Kubernetes "
        "(its ConfigMap is <name>-config), got " +
        std::to_string(spec.name.size()));
  }
  if (!spec.auth_tokens.empty() && spec.auth_token_sha256.size() != spec.auth_tokens.size()) {
    // Token names are resolved to digests by the control plane at apply; a
    // spec file alone would render replicas that serve without a token.
    return FailedPreconditionError(
        "the deployment requires tokens (auth.tokens) but the spec carries no digests: render "
        "the applied deployment by name (tandem deployments render " +
        spec.name + ") so the control plane resolves them");
  }
  ASSIGN_OR_RETURN(Json resources, ContainerResources(spec.resources));
  const int port = options.port;
  const Json labels = CommonLabels(kServingApp, spec.name, "serving", spec.team);
  const Json selector = SelectorLabels(kServingApp, spec.name);
  std::vector<Json> out;
  out.push_back(ConfigMap(spec, options, labels));
  out.push_back(DeploymentObject(spec, options, labels, selector,
                                 PodTemplate(spec, options, labels, resources, port)));
  out.push_back(ServiceObject(spec, options, labels, selector));
  if (spec.target_in_flight_per_replica > 0) {
    ASSIGN_OR_RETURN(Json hpa, HpaObject(spec, options, labels));
    out.push_back(std::move(hpa));
  }
  out.push_back(PdbObject(spec, options, labels, selector));
  return out;
}

}  // namespace tandem::serving::kube
