#include "serving/traffic/policy.h"

#include <cstdio>

#include "common/spec_fields.h"
#include "glue/registry/model_registry.h"

namespace tandem::serving::traffic {
namespace {

using spec::CheckKnown;
using spec::Integer;
using spec::Number;
using spec::TypeError;

Status CheckRef(const std::string& ref, const std::string& path) {
  if (auto r = registry::ParseModelRef(ref); !r.ok()) {
    return InvalidArgumentError("'" + path + "': " + std::string(r.status().message()));
  }
  return OkStatus();
}

std::string Num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%g", v);
  return buf;
}

Status InRange(double v, double lo, double hi, const std::string& path) {
  if (!(v >= lo && v <= hi)) {
    return InvalidArgumentError("'" + path + "' must be a number between " + Num(lo) + " and " +
                                Num(hi) + ", got " + Num(v));
  }
  return OkStatus();
}

StatusOr<ShadowPolicy> ReadShadow(const Json& j) {
  if (!j.is_object()) return TypeError("shadow", "a mapping", j);
  RETURN_IF_ERROR(CheckKnown(j, "shadow.", {"model", "sample"}));
  ShadowPolicy p;
  if (!j.contains("model")) return InvalidArgumentError("missing field 'shadow.model'");
  ASSIGN_OR_RETURN(p.model, spec::String(j["model"], "shadow.model"));
  RETURN_IF_ERROR(CheckRef(p.model, "shadow.model"));
  if (j.contains("sample")) {
    ASSIGN_OR_RETURN(p.sample, Number(j["sample"], "shadow.sample", 0, 1));
  }
  return p;
}

StatusOr<RollbackRule> ReadRollback(const Json& j) {
  if (!j.is_object()) return TypeError("canary.rollback", "a mapping", j);
  RETURN_IF_ERROR(CheckKnown(j, "canary.rollback.",
                             {"max_error_rate", "max_p99_ms", "window_seconds", "min_requests"}));
  RollbackRule r;
  if (j.contains("max_error_rate")) {
    ASSIGN_OR_RETURN(r.max_error_rate,
                     Number(j["max_error_rate"], "canary.rollback.max_error_rate", 0, 1));
  }
  if (j.contains("max_p99_ms")) {
    ASSIGN_OR_RETURN(r.max_p99_ms, Number(j["max_p99_ms"], "canary.rollback.max_p99_ms", 0, 1e6));
  }
  if (j.contains("window_seconds")) {
    ASSIGN_OR_RETURN(r.window_seconds,
                     Integer(j["window_seconds"], "canary.rollback.window_seconds", 1, 86400));
  }
  if (j.contains("min_requests")) {
    ASSIGN_OR_RETURN(r.min_requests,
                     Integer(j["min_requests"], "canary.rollback.min_requests", 1, 1'000'000));
  }
  return r;
}

StatusOr<CanaryPolicy> ReadCanary(const Json& j) {
  if (!j.is_object()) return TypeError("canary", "a mapping", j);
  RETURN_IF_ERROR(CheckKnown(j, "canary.", {"model", "weight", "rollback"}));
  CanaryPolicy p;
  if (!j.contains("model")) return InvalidArgumentError("missing field 'canary.model'");
  ASSIGN_OR_RETURN(p.model, spec::String(j["model"], "canary.model"));
  RETURN_IF_ERROR(CheckRef(p.model, "canary.model"));
  if (j.contains("weight")) {
    ASSIGN_OR_RETURN(p.weight, Number(j["weight"], "canary.weight", 0, 1));
  }
  if (j.contains("rollback")) {
    ASSIGN_OR_RETURN(p.rollback, ReadRollback(j["rollback"]));
  }
  return p;
}

}  // namespace

Json RollbackRule::ToJson() const {
  return {{"max_error_rate", max_error_rate},
          {"max_p99_ms", max_p99_ms},
          {"window_seconds", window_seconds},
          {"min_requests", min_requests}};
}

Json ShadowPolicy::ToJson() const { return {{"model", model}, {"sample", sample}}; }

Json CanaryPolicy::ToJson() const {
  return {{"model", model}, {"weight", weight}, {"rollback", rollback.ToJson()}};
}

bool TrafficPolicy::operator==(const TrafficPolicy& o) const {
  auto j = [](const TrafficPolicy& p) {
    Json d = Json::object();
    AddTrafficPolicy(p, d);
    return d;
  };
  return j(*this) == j(o);
}

StatusOr<TrafficPolicy> TrafficPolicyFromSpec(const Json& doc) {
  TrafficPolicy p;
  if (doc.contains("shadow") && !doc["shadow"].is_null()) {
    ASSIGN_OR_RETURN(p.shadow, ReadShadow(doc["shadow"]));
  }
  if (doc.contains("canary") && !doc["canary"].is_null()) {
    ASSIGN_OR_RETURN(p.canary, ReadCanary(doc["canary"]));
  }
  return p;
}

void AddTrafficPolicy(const TrafficPolicy& p, Json& doc) {
  if (p.shadow) doc["shadow"] = p.shadow->ToJson();
  if (p.canary) doc["canary"] = p.canary->ToJson();
}

void AppendTrafficFlags(const TrafficPolicy& p, std::vector<std::string>& argv) {
  auto num = [](double v) {
    char buf[40];
    std::snprintf(buf, sizeof(buf), "%.17g", v);
    return std::string(buf);
  };
  if (p.shadow) {
    argv.insert(argv.end(),
                {"--shadow", p.shadow->model, "--shadow-sample", num(p.shadow->sample)});
  }
  if (p.canary) {
    const RollbackRule& r = p.canary->rollback;
    argv.insert(argv.end(),
                {"--canary", p.canary->model, "--canary-weight", num(p.canary->weight),
                 "--rollback-max-error-rate", num(r.max_error_rate), "--rollback-max-p99-ms",
                 num(r.max_p99_ms), "--rollback-window-s", std::to_string(r.window_seconds),
                 "--rollback-min-requests", std::to_string(r.min_requests)});
  }
}

Status ValidateTrafficPolicy(const TrafficPolicy& p) {
  if (p.shadow) {
    if (!p.shadow->model.empty()) RETURN_IF_ERROR(CheckRef(p.shadow->model, "shadow.model"));
    RETURN_IF_ERROR(InRange(p.shadow->sample, 0, 1, "shadow.sample"));
  }
  if (p.canary) {
    const RollbackRule& r = p.canary->rollback;
    if (!p.canary->model.empty()) RETURN_IF_ERROR(CheckRef(p.canary->model, "canary.model"));
    RETURN_IF_ERROR(InRange(p.canary->weight, 0, 1, "canary.weight"));
    RETURN_IF_ERROR(InRange(r.max_error_rate, 0, 1, "canary.rollback.max_error_rate"));
    RETURN_IF_ERROR(InRange(r.max_p99_ms, 0, 1e6, "canary.rollback.max_p99_ms"));
    RETURN_IF_ERROR(
        InRange(static_cast<double>(r.window_seconds), 1, 86400, "canary.rollback.window_seconds"));
    RETURN_IF_ERROR(
        InRange(static_cast<double>(r.min_requests), 1, 1e6, "canary.rollback.min_requests"));
  }
  return OkStatus();
}

}  // namespace tandem::serving::traffic
