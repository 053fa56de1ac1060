// Building blocks shared by the Kubernetes objects both tiers render
// (serving/kube: Deployment, Service, HPA, PDB, ConfigMap; compute/kube: the
// Job): names, the common labels and selectors, object metadata, HTTP
// probes, the glue Secret's environment. Plain JSON values, so a renderer
// is a function from a spec to a list of objects.
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <string_view>

#include "common/json.h"
#include "common/status.h"

namespace tandem::kube {

// The label keys every rendered object carries.
inline constexpr char kNameLabel[] = "app.kubernetes.io/name";
inline constexpr char kInstanceLabel[] = "app.kubernetes.io/instance";
inline constexpr char kComponentLabel[] = "app.kubernetes.io/component";
inline constexpr char kPartOfLabel[] = "app.kubernetes.io/part-of";
inline constexpr char kManagedByLabel[] = "app.kubernetes.io/managed-by";
inline constexpr char kTeamLabel[] = "tandem.dev/team";

// An RFC 1123 DNS label: 1..63 of [a-z0-9-], starting and ending with an
// alphanumeric (Service, container and port names, most object names).
// InvalidArgument naming `what` otherwise.
Status CheckDnsLabel(std::string_view name, std::string_view what);
// A container's imagePullPolicy: Always, IfNotPresent or Never.
Status CheckImagePullPolicy(std::string_view policy);
// A label value: empty, or 1..63 of [A-Za-z0-9._-] starting and ending
// with an alphanumeric.
bool IsLabelValue(std::string_view v);

// The selector of one rendered application: {name: app, instance: instance}.
// Every object of the application carries these labels, and every selector
// in it (Deployment, Service, PDB, Job) is exactly this.
Json SelectorLabels(const std::string& app, const std::string& instance);
// The selector labels plus component, part-of "tandem", managed-by "tandem"
// and tandem.dev/team (when `team` is a valid label value).
Json CommonLabels(const std::string& app, const std::string& instance, const std::string& component,
                  const std::string& team);

// {"name", "labels", optional "namespace" (when non-empty), optional
// "annotations" (when a non-empty mapping)}.
Json Metadata(const std::string& name, const std::string& ns, const Json& labels,
              const Json& annotations = Json::object());

// A top-level object {"apiVersion", "kind", "metadata"}.
Json Object(const std::string& api_version, const std::string& kind, Json metadata);

// An httpGet probe on `port` (a number: the pod may run with hostNetwork and
// no named ports) with the given timing.
Json HttpProbe(const std::string& path, int port, int period_s, int timeout_s,
               int failure_threshold);

// The environment a tandem process in a pod opens the glue with:
// TANDEM_DATABASE, TANDEM_STORE and TANDEM_BUS from the keys "database",
// "store" and "bus" (optional; the bus defaults to the database) of the
// Secret `secret`.
Json GlueEnvironment(const std::string& secret);

}  // namespace tandem::kube
