#include "common/kube/objects.h"

namespace tandem::kube {
namespace {

bool IsAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
bool IsAlnumAnyCase(char c) { return IsAlnum(c) || (c >= 'A' && c <= 'Z'); }

}  // namespace

Status CheckDnsLabel(std::string_view name, std::string_view what) {
  bool ok = !name.empty() && name.size() <= 63 && IsAlnum(name.front()) && IsAlnum(name.back());
  for (char c : name) ok = ok && (IsAlnum(c) || c == '-');
  if (ok) return OkStatus();
  return InvalidArgumentError(std::string(what) +
                              " must be 1-63 of [a-z0-9-] starting and ending with a letter or "
                              "digit (a Kubernetes DNS label), got '" +
                              std::string(name.substr(0, 80)) + "'");
}

Status CheckImagePullPolicy(std::string_view policy) {
  if (policy == "Always" || policy == "IfNotPresent" || policy == "Never") return OkStatus();
  return InvalidArgumentError("the image pull policy must be Always, IfNotPresent or Never, got '" +
                              std::string(policy.substr(0, 80)) + "'");
}

bool IsLabelValue(std::string_view v) {
  if (v.empty()) return true;
  if (v.size() > 63 || !IsAlnumAnyCase(v.front()) || !IsAlnumAnyCase(v.back())) return false;
  for (char c : v) {
    if (!(IsAlnumAnyCase(c) || c == '-' || c == '_' || c == '.')) return false;
  }
  return true;
}

Json SelectorLabels(const std::string& app, const std::string& instance) {
  return Json{{kNameLabel, app}, {kInstanceLabel, instance}};
}

Json CommonLabels(const std::string& app, const std::string& instance, const std::string& component,
                  const std::string& team) {
  Json labels = SelectorLabels(app, instance);
  labels[kComponentLabel] = component;
  labels[kPartOfLabel] = "tandem";
  labels[kManagedByLabel] = "tandem";
  if (!team.empty() && IsLabelValue(team)) labels[kTeamLabel] = team;
  return labels;
}

Json Metadata(const std::string& name, const std::string& ns, const Json& labels,
              const Json& annotations) {
  Json m = {{"name", name}, {"labels", labels}};
  if (!ns.empty()) m["namespace"] = ns;
  if (annotations.is_object() && !annotations.empty()) m["annotations"] = annotations;
  return m;
}

Json Object(const std::string& api_version, const std::string& kind, Json metadata) {
  return Json{{"apiVersion", api_version}, {"kind", kind}, {"metadata", std::move(metadata)}};
}

Json HttpProbe(const std::string& path, int port, int period_s, int timeout_s,
               int failure_threshold) {
  return Json{{"httpGet", {{"path", path}, {"port", port}}},
              {"periodSeconds", period_s},
              {"timeoutSeconds", timeout_s},
              {"failureThreshold", failure_threshold}};
}

Json GlueEnvironment(const std::string& secret) {
  auto from = [&](const char* var, const char* key, bool optional) {
    Json ref = {{"name", secret}, {"key", key}};
    if (optional) ref["optional"] = true;
    return Json{{"name", var}, {"valueFrom", {{"secretKeyRef", ref}}}};
  };
  return Json::array({from("TANDEM_DATABASE", "database", false),
                      from("TANDEM_STORE", "store", false), from("TANDEM_BUS", "bus", true)});
}

}  // namespace tandem::kube
