#include "compute/tuning/spec.h"

#include <cmath>
#include <set>

#include "common/spec_fields.h"
#include "common/yaml.h"

namespace tandem::compute::tuning {
namespace {

using spec::CheckKnown;
using spec::Integer;
using spec::Number;
using spec::String;
using spec::TypeError;

constexpr size_t kMaxRanges = 30;
constexpr size_t kMaxValues = 30;

bool IsAlnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

bool ValidName(std::string_view s) {
  if (s.empty() || s.size() > 63 || !IsAlnum(s.front()) || !IsAlnum(s.back())) return false;
  for (char c : s) {
    if (!IsAlnum(c) && c != '-') return false;
  }
  return true;
}

template <typename E>
StatusOr<E> Enum(const Json& v, const std::string& path,
                 const std::vector<std::pair<std::string_view, E>>& names) {
  std::string all;
  for (const auto& [n, e] : names) {
    if (v.is_string() && v.get<std::string>() == n) return e;
    all += (all.empty() ? "" : " | ") + std::string(n);
  }
  if (!v.is_string()) return TypeError(path, "one of " + all, v);
  return InvalidArgumentError("'" + path + "' must be one of " + all + ", got '" +
                              v.get<std::string>() + "'");
}

const std::vector<std::pair<std::string_view, ParamType>> kTypes = {
    {"Integer", ParamType::kInteger},
    {"Continuous", ParamType::kContinuous},
    {"Categorical", ParamType::kCategorical}};
const std::vector<std::pair<std::string_view, Scaling>> kScalings = {
    {"Auto", Scaling::kAuto},
    {"Linear", Scaling::kLinear},
    {"Logarithmic", Scaling::kLogarithmic},
    {"ReverseLogarithmic", Scaling::kReverseLogarithmic}};
const std::vector<std::pair<std::string_view, TuningStrategy>> kStrategies = {
    {"Random", TuningStrategy::kRandom},
    {"Grid", TuningStrategy::kGrid},
    {"Bayesian", TuningStrategy::kBayesian},
    {"Hyperband", TuningStrategy::kHyperband}};
const std::vector<std::pair<std::string_view, HyperbandSampler>> kHyperbandSamplers = {
    {"BOHB", HyperbandSampler::kBohb}, {"Random", HyperbandSampler::kRandom}};

template <typename E>
std::string_view NameOf(E e, const std::vector<std::pair<std::string_view, E>>& names) {
  for (const auto& [n, v] : names) {
    if (v == e) return n;
  }
  return "?";
}

StatusOr<ParameterRange> ParseRange(const Json& j, const std::string& p) {
  if (!j.is_object()) return TypeError(p, "a mapping", j);
  RETURN_IF_ERROR(CheckKnown(j, p + ".", {"name", "type", "min", "max", "scaling", "values"}));
  ParameterRange r;
  if (!j.contains("name")) return InvalidArgumentError("'" + p + ".name' is required");
  ASSIGN_OR_RETURN(r.name, String(j["name"], p + ".name"));
  if (r.name.empty() || r.name.size() > 256 || r.name.find('=') != std::string::npos) {
    return InvalidArgumentError("'" + p + ".name' must be 1..256 characters without '='");
  }
  if (!j.contains("type")) return InvalidArgumentError("'" + p + ".type' is required");
  ASSIGN_OR_RETURN(r.type, Enum(j["type"], p + ".type", kTypes));
  if (r.type == ParamType::kCategorical) {
    for (const char* f : {"min", "max", "scaling"}) {
      if (j.contains(f)) {
        return InvalidArgumentError("'" + p + "." + f + "' does not apply to a Categorical range");
      }
    }
    if (!j.contains("values") || !j["values"].is_array() || j["values"].empty() ||
        j["values"].size() > kMaxValues) {
      return InvalidArgumentError("'" + p + ".values' must be a list of 1.." +
                                  std::to_string(kMaxValues) + " values");
    }
    std::set<std::string> seen;
    for (size_t i = 0; i < j["values"].size(); ++i) {
      const Json& v = j["values"][i];
      std::string vp = p + ".values[" + std::to_string(i) + "]";
      if (!v.is_string() && !v.is_number() && !v.is_boolean()) {
        return TypeError(vp, "a string, number or boolean", v);
      }
      if (!seen.insert(v.dump()).second) {
        return InvalidArgumentError("'" + vp + "' repeats the value " + v.dump());
      }
      r.values.push_back(v);
    }
    r.scaling = Scaling::kLinear;
    return r;
  }
  if (j.contains("values")) {
    return InvalidArgumentError("'" + p + ".values' applies to Categorical ranges only");
  }
  for (const char* f : {"min", "max"}) {
    if (!j.contains(f)) return InvalidArgumentError("'" + p + "." + f + "' is required");
  }
  constexpr double kBig = 1e15;
  constexpr int64_t kBigInt = 1'000'000'000'000'000;
  if (r.type == ParamType::kInteger) {
    ASSIGN_OR_RETURN(int64_t lo, Integer(j["min"], p + ".min", -kBigInt, kBigInt));
    ASSIGN_OR_RETURN(int64_t hi, Integer(j["max"], p + ".max", -kBigInt, kBigInt));
    r.min = static_cast<double>(lo);
    r.max = static_cast<double>(hi);
    if (lo > hi) return InvalidArgumentError("'" + p + ".min' must be <= max");
  } else {
    ASSIGN_OR_RETURN(r.min, Number(j["min"], p + ".min", -kBig, kBig));
    ASSIGN_OR_RETURN(r.max, Number(j["max"], p + ".max", -kBig, kBig));
    if (!(r.min < r.max)) return InvalidArgumentError("'" + p + ".min' must be < max");
  }
  r.scaling = Scaling::kAuto;
  if (j.contains("scaling") && !j["scaling"].is_null()) {
    ASSIGN_OR_RETURN(r.scaling, Enum(j["scaling"], p + ".scaling", kScalings));
  }
  if (r.scaling == Scaling::kAuto) {
    r.scaling = r.min > 0 && r.max / r.min >= 100 ? Scaling::kLogarithmic : Scaling::kLinear;
  }
  if (r.scaling == Scaling::kLogarithmic && r.min <= 0) {
    return InvalidArgumentError("'" + p + ".scaling' Logarithmic needs min > 0");
  }
  if (r.scaling == Scaling::kReverseLogarithmic &&
      (r.type != ParamType::kContinuous || r.min < 0 || r.max >= 1)) {
    return InvalidArgumentError("'" + p +
                                ".scaling' ReverseLogarithmic needs a Continuous range "
                                "with 0 <= min < max < 1");
  }
  return r;
}

Json RangeToJson(const ParameterRange& r) {
  Json j = {{"name", r.name}, {"type", std::string(ParamTypeName(r.type))}};
  if (r.type == ParamType::kCategorical) {
    j["values"] = r.values;
  } else if (r.type == ParamType::kInteger) {
    j["min"] = static_cast<int64_t>(r.min);
    j["max"] = static_cast<int64_t>(r.max);
    j["scaling"] = std::string(ScalingName(r.scaling));
  } else {
    j["min"] = r.min;
    j["max"] = r.max;
    j["scaling"] = std::string(ScalingName(r.scaling));
  }
  return j;
}

Status ParseObjective(const Json& j, TuningObjective& out) {
  if (!j.is_object()) return TypeError("objective", "a mapping", j);
  RETURN_IF_ERROR(CheckKnown(j, "objective.", {"metric", "type"}));
  if (!j.contains("metric")) return InvalidArgumentError("'objective.metric' is required");
  ASSIGN_OR_RETURN(out.metric, String(j["metric"], "objective.metric"));
  if (!j.contains("type")) return InvalidArgumentError("'objective.type' is required");
  ASSIGN_OR_RETURN(out.maximize, Enum(j["type"], "objective.type",
                                      std::vector<std::pair<std::string_view, bool>>{
                                          {"Maximize", true}, {"Minimize", false}}));
  return OkStatus();
}

Status ParseHyperband(const Json& j, HyperbandSpec& h) {
  if (!j.is_object()) return TypeError("hyperband", "a mapping", j);
  RETURN_IF_ERROR(CheckKnown(
      j, "hyperband.",
      {"min_resource", "max_resource", "reduction_factor", "resource_param", "sampler"}));
  constexpr int64_t kMaxRes = 1'000'000;
  if (!j.contains("max_resource")) {
    return InvalidArgumentError("'hyperband.max_resource' is required");
  }
  ASSIGN_OR_RETURN(h.max_resource,
                   Integer(j["max_resource"], "hyperband.max_resource", 2, kMaxRes));
  if (j.contains("reduction_factor")) {
    ASSIGN_OR_RETURN(int64_t eta,
                     Integer(j["reduction_factor"], "hyperband.reduction_factor", 2, 10));
    h.reduction_factor = static_cast<int>(eta);
  }
  if (j.contains("min_resource")) {
    ASSIGN_OR_RETURN(h.min_resource,
                     Integer(j["min_resource"], "hyperband.min_resource", 1, kMaxRes));
  } else {
    // Three rungs: max / eta^2, max / eta, max (bench/hpo: BOHB needs a first
    // rung long enough to rank configurations).
    h.min_resource =
        std::max<int64_t>(1, h.max_resource / (h.reduction_factor * h.reduction_factor));
  }
  if (h.min_resource >= h.max_resource) {
    return InvalidArgumentError("'hyperband.min_resource' must be < max_resource");
  }
  if (j.contains("resource_param")) {
    ASSIGN_OR_RETURN(h.resource_param, String(j["resource_param"], "hyperband.resource_param"));
    if (h.resource_param.empty()) {
      return InvalidArgumentError("'hyperband.resource_param' must not be empty");
    }
  }
  if (j.contains("sampler")) {
    ASSIGN_OR_RETURN(h.sampler, Enum(j["sampler"], "hyperband.sampler", kHyperbandSamplers));
  }
  return OkStatus();
}

// "Off" | "Auto"; YAML 1.1 may have turned them into booleans.
StatusOr<bool> ParseEarlyStopping(const Json& v) {
  if (v.is_boolean()) return v.get<bool>();
  return Enum(v, "early_stopping",
              std::vector<std::pair<std::string_view, bool>>{{"Off", false}, {"Auto", true}});
}

Status ParseWarmStart(const Json& j, std::vector<std::string>& parents) {
  if (!j.is_object()) return TypeError("warm_start", "a mapping", j);
  RETURN_IF_ERROR(CheckKnown(j, "warm_start.", {"parents"}));
  if (!j.contains("parents") || !j["parents"].is_array() || j["parents"].empty() ||
      j["parents"].size() > 5) {
    return InvalidArgumentError("'warm_start.parents' must be a list of 1..5 tuning job names");
  }
  for (size_t i = 0; i < j["parents"].size(); ++i) {
    std::string p = "warm_start.parents[" + std::to_string(i) + "]";
    ASSIGN_OR_RETURN(std::string name, String(j["parents"][i], p));
    if (!ValidName(name)) return InvalidArgumentError("'" + p + "' is not a tuning job name");
    parents.push_back(std::move(name));
  }
  return OkStatus();
}

Status ParseTemplate(const Json& j, TuningSpec& s) {
  if (!j.is_object()) return TypeError("training_job", "a mapping", j);
  Json copy = j;
  for (const char* f : {"name", "register"}) {
    if (copy.contains(f)) {
      return InvalidArgumentError(std::string("'training_job.") + f +
                                  "' is set by the tuning job (use the tuning job's `" +
                                  (std::string(f) == "name" ? "name" : "register") + "`)");
    }
  }
  StatusOr<jobs::JobSpec> job = jobs::JobSpec::FromJson(copy);
  if (!job.ok()) {
    return InvalidArgumentError("training_job: " + std::string(job.status().message()));
  }
  s.training_job = *std::move(job);
  return OkStatus();
}

Status CrossCheck(TuningSpec& s) {
  bool found = false;
  for (const auto& d : s.training_job.metric_definitions) found |= d.name == s.objective.metric;
  if (!found) {
    return InvalidArgumentError("'objective.metric' " + s.objective.metric +
                                " is not one of training_job.metric_definitions");
  }
  std::set<std::string> names;
  for (size_t i = 0; i < s.ranges.size(); ++i) {
    if (!names.insert(s.ranges[i].name).second) {
      return InvalidArgumentError("'parameter_ranges[" + std::to_string(i) + "].name' repeats '" +
                                  s.ranges[i].name + "'");
    }
  }
  if (s.strategy == TuningStrategy::kHyperband) {
    if (names.count(s.hyperband.resource_param) != 0) {
      return InvalidArgumentError("'hyperband.resource_param' " + s.hyperband.resource_param +
                                  " must not also be a parameter range");
    }
    if (s.early_stopping) {
      return InvalidArgumentError(
          "'early_stopping' must be Off with strategy Hyperband (it stops trials itself)");
    }
  }
  if (s.strategy == TuningStrategy::kGrid) {
    for (size_t i = 0; i < s.ranges.size(); ++i) {
      if (s.ranges[i].type == ParamType::kContinuous) {
        return InvalidArgumentError("'parameter_ranges[" + std::to_string(i) +
                                    "]' is Continuous: strategy Grid needs Integer or "
                                    "Categorical ranges");
      }
    }
  }
  if (s.max_parallel_jobs > s.max_jobs) s.max_parallel_jobs = s.max_jobs;
  return OkStatus();
}

}  // namespace

std::string_view ParamTypeName(ParamType t) { return NameOf(t, kTypes); }
std::string_view ScalingName(Scaling s) { return NameOf(s, kScalings); }
std::string_view TuningStrategyName(TuningStrategy s) { return NameOf(s, kStrategies); }

StatusOr<TuningSpec> TuningSpec::FromJson(const Json& j) {
  if (!j.is_object()) return InvalidArgumentError("a tuning spec must be a mapping");
  RETURN_IF_ERROR(CheckKnown(
      j, "",
      {"name", "objective", "strategy", "parameter_ranges", "hyperband", "max_jobs",
       "max_parallel_jobs", "early_stopping", "seed", "warm_start", "register", "training_job"}));
  TuningSpec s;
  auto has = [&](const char* f) { return j.contains(f) && !j[f].is_null(); };
  if (has("name")) {
    ASSIGN_OR_RETURN(s.name, String(j["name"], "name"));
    if (!ValidName(s.name)) {
      return InvalidArgumentError(
          "'name' must be 1..63 of [A-Za-z0-9-], starting and ending "
          "with a letter or digit, got '" +
          s.name.substr(0, 100) + "'");
    }
  }
  if (!has("objective")) return InvalidArgumentError("'objective' is required");
  RETURN_IF_ERROR(ParseObjective(j["objective"], s.objective));
  if (has("strategy")) {
    ASSIGN_OR_RETURN(s.strategy, Enum(j["strategy"], "strategy", kStrategies));
  }
  if (!has("parameter_ranges")) return InvalidArgumentError("'parameter_ranges' is required");
  const Json& ranges = j["parameter_ranges"];
  if (!ranges.is_array() || ranges.empty() || ranges.size() > kMaxRanges) {
    return InvalidArgumentError("'parameter_ranges' must be a list of 1.." +
                                std::to_string(kMaxRanges) + " ranges");
  }
  for (size_t i = 0; i < ranges.size(); ++i) {
    ASSIGN_OR_RETURN(ParameterRange r,
                     ParseRange(ranges[i], "parameter_ranges[" + std::to_string(i) + "]"));
    s.ranges.push_back(std::move(r));
  }
  if (s.strategy == TuningStrategy::kHyperband) {
    if (!has("hyperband")) {
      return InvalidArgumentError("'hyperband' is required with strategy Hyperband");
    }
    RETURN_IF_ERROR(ParseHyperband(j["hyperband"], s.hyperband));
  } else if (has("hyperband")) {
    return InvalidArgumentError("'hyperband' applies to strategy Hyperband only");
  }
  if (has("max_jobs")) {
    ASSIGN_OR_RETURN(int64_t v, Integer(j["max_jobs"], "max_jobs", 1, 500));
    s.max_jobs = static_cast<int>(v);
  }
  if (has("max_parallel_jobs")) {
    ASSIGN_OR_RETURN(int64_t v, Integer(j["max_parallel_jobs"], "max_parallel_jobs", 1, 100));
    s.max_parallel_jobs = static_cast<int>(v);
  }
  if (has("early_stopping")) {
    ASSIGN_OR_RETURN(s.early_stopping, ParseEarlyStopping(j["early_stopping"]));
  }
  if (has("seed")) {
    ASSIGN_OR_RETURN(int64_t v, Integer(j["seed"], "seed", 0, 2147483647));
    s.seed = static_cast<uint64_t>(v);
  }
  if (has("warm_start")) RETURN_IF_ERROR(ParseWarmStart(j["warm_start"], s.warm_start_parents));
  if (has("register")) {
    // The job spec's `register` rules, reused by validating a minimal job.
    StatusOr<jobs::JobSpec> probe =
        jobs::JobSpec::FromJson(Json{{"entry_point", "x"}, {"register", j["register"]}});
    if (!probe.ok()) return probe.status();
    s.register_best = probe->register_model;
  }
  if (!has("training_job")) return InvalidArgumentError("'training_job' is required");
  RETURN_IF_ERROR(ParseTemplate(j["training_job"], s));
  RETURN_IF_ERROR(CrossCheck(s));
  return s;
}

Json TuningSpec::ToJson() const {
  Json j = Json::object();
  if (!name.empty()) j["name"] = name;
  j["objective"] = {{"metric", objective.metric},
                    {"type", objective.maximize ? "Maximize" : "Minimize"}};
  j["strategy"] = std::string(TuningStrategyName(strategy));
  j["parameter_ranges"] = Json::array();
  for (const auto& r : ranges) j["parameter_ranges"].push_back(RangeToJson(r));
  if (strategy == TuningStrategy::kHyperband) {
    j["hyperband"] = {{"min_resource", hyperband.min_resource},
                      {"max_resource", hyperband.max_resource},
                      {"reduction_factor", hyperband.reduction_factor},
                      {"resource_param", hyperband.resource_param},
                      {"sampler", std::string(NameOf(hyperband.sampler, kHyperbandSamplers))}};
  }
  j["max_jobs"] = max_jobs;
  j["max_parallel_jobs"] = max_parallel_jobs;
  j["early_stopping"] = early_stopping ? "Auto" : "Off";
  j["seed"] = seed;
  if (!warm_start_parents.empty()) j["warm_start"] = {{"parents", warm_start_parents}};
  if (register_best) {
    jobs::JobSpec probe;
    probe.entry_point = "x";
    probe.register_model = register_best;
    j["register"] = probe.ToJson()["register"];
  }
  j["training_job"] = training_job.ToJson();
  return j;
}

StatusOr<TuningSpec> TuningSpec::Parse(std::string_view text) {
  size_t first = text.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos) return InvalidArgumentError("tuning spec is empty");
  StatusOr<Json> doc = text[first] == '{' ? ParseJson(text) : ParseYaml(text);
  if (!doc.ok() && text[first] == '{') doc = ParseYaml(text);
  if (!doc.ok()) return InvalidArgumentError(std::string(doc.status().message()));
  return FromJson(*doc);
}

std::optional<std::string> TrialCheckpointPrefix(const TuningSpec& spec,
                                                 const std::string& tuning_name, int64_t config) {
  const std::string leaf = "/config-" + std::to_string(config);
  if (spec.training_job.checkpoint) return spec.training_job.checkpoint->key_prefix + leaf;
  if (spec.strategy != TuningStrategy::kHyperband) return std::nullopt;
  return "teams/" + spec.training_job.team + "/tuning/" + tuning_name + leaf;
}

}  // namespace tandem::compute::tuning
