#include "serving/fleet/deployment_spec.h"

#include <set>

#include "common/hex.h"
#include "common/spec_fields.h"
#include "common/yaml.h"
#include "glue/images/reference.h"
#include "glue/registry/model_registry.h"

namespace tandem::serving::fleet {
namespace {

using spec::CheckKnown;
using spec::Integer;
using spec::String;
using spec::TypeError;
using spec::TypeName;

StatusOr<const Json*> Mapping(const Json& doc, const std::string& key) {
  if (!doc.contains(key)) return static_cast<const Json*>(nullptr);
  const Json& v = doc[key];
  if (!v.is_object()) return TypeError(key, "a mapping", v);
  return &v;
}

bool ValidName(std::string_view s) {
  if (s.empty() || s.size() > 63 || !(s[0] >= 'a' && s[0] <= 'z')) return false;
  for (char c : s) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
  }
  return true;
}

}  // namespace

StatusOr<DeploymentSpec> DeploymentSpecFromJson(const Json& doc) {
  if (!doc.is_object()) return InvalidArgumentError("a deployment spec must be a mapping");
  RETURN_IF_ERROR(
      CheckKnown(doc, "",
                 {"name", "team", "model", "replicas", "autoscaling", "disruption_budget", "port",
                  "batching", "resources", "shadow", "canary", "auth", "image",
                  "image_pinned"}));
  DeploymentSpec s;
  if (!doc.contains("name")) return InvalidArgumentError("missing field 'name'");
  ASSIGN_OR_RETURN(s.name, String(doc["name"], "name"));
  if (!ValidName(s.name)) {
    return InvalidArgumentError("'name' must be 1-63 of [a-z0-9-] starting with a letter, got '" +
                                s.name.substr(0, 80) + "'");
  }
  if (doc.contains("team")) {
    ASSIGN_OR_RETURN(s.team, String(doc["team"], "team"));
  }
  if (!doc.contains("model")) return InvalidArgumentError("missing field 'model'");
  ASSIGN_OR_RETURN(s.model, String(doc["model"], "model"));
  if (auto ref = registry::ParseModelRef(s.model); !ref.ok()) {
    return InvalidArgumentError("'model': " + std::string(ref.status().message()));
  }
  ASSIGN_OR_RETURN(const Json* replicas, Mapping(doc, "replicas"));
  if (replicas) {
    RETURN_IF_ERROR(CheckKnown(*replicas, "replicas.", {"min", "max"}));
    if (replicas->contains("min")) {
      ASSIGN_OR_RETURN(int64_t v, Integer((*replicas)["min"], "replicas.min", 0, 64));
      s.min_replicas = static_cast<int>(v);
      s.max_replicas = std::max(s.max_replicas, s.min_replicas);
    }
    if (replicas->contains("max")) {
      ASSIGN_OR_RETURN(int64_t v, Integer((*replicas)["max"], "replicas.max", 1, 64));
      s.max_replicas = static_cast<int>(v);
    }
    if (s.max_replicas < s.min_replicas) {
      return InvalidArgumentError("'replicas.max' (" + std::to_string(s.max_replicas) +
                                  ") is below 'replicas.min' (" + std::to_string(s.min_replicas) +
                                  ")");
    }
  }
  ASSIGN_OR_RETURN(const Json* as, Mapping(doc, "autoscaling"));
  if (as) {
    RETURN_IF_ERROR(
        CheckKnown(*as, "autoscaling.",
                   {"target_in_flight_per_replica", "scale_down_stabilization_s", "tolerance"}));
    if (as->contains("target_in_flight_per_replica")) {
      ASSIGN_OR_RETURN(s.target_in_flight_per_replica,
                       spec::Number((*as)["target_in_flight_per_replica"],
                                    "autoscaling.target_in_flight_per_replica", 0.01, 1e6));
    }
    if (as->contains("scale_down_stabilization_s")) {
      ASSIGN_OR_RETURN(s.scale_down_stabilization_s,
                       Integer((*as)["scale_down_stabilization_s"],
                               "autoscaling.scale_down_stabilization_s", 0, 86400));
    }
    if (as->contains("tolerance")) {
      ASSIGN_OR_RETURN(s.tolerance,
                       spec::Number((*as)["tolerance"], "autoscaling.tolerance", 0, 1));
    }
  }
  ASSIGN_OR_RETURN(const Json* db, Mapping(doc, "disruption_budget"));
  if (db) {
    RETURN_IF_ERROR(CheckKnown(*db, "disruption_budget.", {"min_available"}));
    if (db->contains("min_available")) {
      ASSIGN_OR_RETURN(int64_t v,
                       Integer((*db)["min_available"], "disruption_budget.min_available", 0, 64));
      s.min_available = static_cast<int>(v);
    }
  }
  if (doc.contains("port")) {
    ASSIGN_OR_RETURN(int64_t v, Integer(doc["port"], "port", 0, 65535));
    s.port = static_cast<int>(v);
  }
  ASSIGN_OR_RETURN(const Json* b, Mapping(doc, "batching"));
  if (b) {
    RETURN_IF_ERROR(
        CheckKnown(*b, "batching.", {"max_batch_size", "max_queue_delay_us", "queue_size"}));
    if (b->contains("max_batch_size")) {
      ASSIGN_OR_RETURN(int64_t v,
                       Integer((*b)["max_batch_size"], "batching.max_batch_size", 0, 65536));
      s.max_batch_size = static_cast<int>(v);
    }
    if (b->contains("max_queue_delay_us")) {
      ASSIGN_OR_RETURN(s.max_queue_delay_us, Integer((*b)["max_queue_delay_us"],
                                                     "batching.max_queue_delay_us", 0, 10'000'000));
    }
    if (b->contains("queue_size")) {
      ASSIGN_OR_RETURN(int64_t v, Integer((*b)["queue_size"], "batching.queue_size", 1, 1 << 20));
      s.queue_size = static_cast<int>(v);
    }
  }
  if (doc.contains("image") && !doc["image"].is_null()) {
    ASSIGN_OR_RETURN(std::string image, String(doc["image"], "image"));
    if (!image.empty()) {
      if (auto ref = images::ParseReference(image); !ref.ok()) {
        return InvalidArgumentError("'image': " + std::string(ref.status().message()));
      }
    }
    s.image = std::move(image);
  }
  if (doc.contains("image_pinned") && !doc["image_pinned"].is_null()) {
    ASSIGN_OR_RETURN(s.image_pinned, String(doc["image_pinned"], "image_pinned"));
    if (!s.image_pinned.empty()) {
      auto ref = images::ParseReference(s.image_pinned);
      if (!ref.ok() || ref->digest.empty() || !ref->tag.empty()) {
        return InvalidArgumentError("'image_pinned' must be repository@sha256:<digest>, got '" +
                                    s.image_pinned.substr(0, 200) + "'");
      }
    }
  }
  ASSIGN_OR_RETURN(const Json* r, Mapping(doc, "resources"));
  if (r) s.resources = *r;
  ASSIGN_OR_RETURN(s.traffic, traffic::TrafficPolicyFromSpec(doc));
  ASSIGN_OR_RETURN(const Json* auth, Mapping(doc, "auth"));
  if (auth) {
    RETURN_IF_ERROR(CheckKnown(*auth, "auth.", {"tokens", "token_sha256"}));
    for (auto [key, list] : {std::pair{"tokens", &s.auth_tokens},
                             std::pair{"token_sha256", &s.auth_token_sha256}}) {
      if (!auth->contains(key) || (*auth)[key].is_null()) continue;
      const Json& v = (*auth)[key];
      const std::string field = std::string("auth.") + key;
      if (!v.is_array() || v.size() > 16) {
        return InvalidArgumentError("'" + field + "' must be a list of at most 16 strings");
      }
      for (size_t i = 0; i < v.size(); ++i) {
        ASSIGN_OR_RETURN(std::string item, String(v[i], field + "[" + std::to_string(i) + "]"));
        list->push_back(std::move(item));
      }
    }
    for (const std::string& h : s.auth_token_sha256) {
      if (!IsLowerHex(h, 32)) {  // a SHA-256: 32 bytes
        return InvalidArgumentError("'auth.token_sha256' entries must be 64 lowercase hex digits");
      }
    }
  }
  return s;
}

StatusOr<DeploymentSpec> ParseDeploymentSpec(std::string_view text) {
  ASSIGN_OR_RETURN(Json doc, ParseYaml(text));
  return DeploymentSpecFromJson(doc);
}

Json DeploymentSpec::ToJson() const {
  Json j = {{"name", name},
            {"model", model},
            {"replicas", {{"min", min_replicas}, {"max", max_replicas}}},
            {"disruption_budget", {{"min_available", min_available}}},
            {"port", port},
            {"batching",
             {{"max_batch_size", max_batch_size},
              {"max_queue_delay_us", max_queue_delay_us},
              {"queue_size", queue_size}}},
            {"resources", resources}};
  if (!team.empty()) j["team"] = team;
  Json as = {{"scale_down_stabilization_s", scale_down_stabilization_s}, {"tolerance", tolerance}};
  if (target_in_flight_per_replica > 0) {
    as["target_in_flight_per_replica"] = target_in_flight_per_replica;
  }
  j["autoscaling"] = as;
  traffic::AddTrafficPolicy(traffic, j);
  if (!auth_tokens.empty() || !auth_token_sha256.empty()) {
    j["auth"] = {{"tokens", auth_tokens}, {"token_sha256", auth_token_sha256}};
  }
  if (image) j["image"] = *image;
  if (!image_pinned.empty()) j["image_pinned"] = image_pinned;
  return j;
}

void AppendReplicaFlags(const DeploymentSpec& spec, std::vector<std::string>& argv) {
  for (const std::string& h : spec.auth_token_sha256) argv.insert(argv.end(), {"--token-sha256", h});
  if (!spec.image_pinned.empty()) argv.insert(argv.end(), {"--image", spec.image_pinned});
}

bool DeploymentSpec::NeedsRestart(const DeploymentSpec& o) const {
  return model != o.model || port != o.port || max_batch_size != o.max_batch_size ||
         max_queue_delay_us != o.max_queue_delay_us || queue_size != o.queue_size ||
         !(traffic == o.traffic) || auth_token_sha256 != o.auth_token_sha256 ||
         image_pinned != o.image_pinned;
}

}  // namespace tandem::serving::fleet
