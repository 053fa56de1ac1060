#include "compute/jobs/spec.h"

#include <cctype>
#include <cmath>
#include <limits>
#include <set>

#include "common/spec_fields.h"
#include "common/yaml.h"
#include "compute/jobs/contract.h"
#include "compute/jobs/metric_parser.h"
#include "glue/registry/names.h"
#include "glue/store/object_store.h"

namespace tandem::compute::jobs {
namespace {

constexpr size_t kMaxHyperparameters = 100;
constexpr size_t kMaxHyperparameterChars = 256;
constexpr int64_t kMaxRuntimeSeconds = 432'000;  // 5 days
constexpr int64_t kMaxKeepAliveSeconds = 3600;
constexpr int kMaxRetries = 10;
constexpr size_t kMaxCheckpointPrefixBytes = 512;

bool IsAlnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}
bool IsLowerAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

std::string Quote(std::string_view s) {
  constexpr size_t kMax = 100;
  std::string out = "'" + std::string(s.substr(0, kMax));
  if (s.size() > kMax) out += "...";
  return out + "'";
}

using spec::CheckKnown;
using spec::Integer;
using spec::String;
using spec::TypeError;
using spec::TypeName;

// Scalars (string, number, boolean) as text: numbers as JSON renders them.
StatusOr<std::string> ScalarText(const Json& v, const std::string& path) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number() || v.is_boolean()) return v.dump();
  return TypeError(path, "a string, number or boolean", v);
}

bool ValidJobName(std::string_view s) {
  if (s.empty() || s.size() > 63 || !IsAlnum(s.front()) || !IsAlnum(s.back())) return false;
  for (char c : s) {
    if (!IsAlnum(c) && c != '-') return false;
  }
  return true;
}

bool ValidTeam(std::string_view s) {
  if (s.empty() || s.size() > 64) return false;
  for (char c : s) {
    if (!IsLowerAlnum(c) && c != '_' && c != '-') return false;
  }
  return true;
}

bool ValidChannel(std::string_view s) {
  if (s.empty() || s.size() > 64) return false;
  for (char c : s) {
    if (!IsAlnum(c) && c != '.' && c != '_' && c != '-') return false;
  }
  return true;
}

bool ValidEnvName(std::string_view s) {
  if (s.empty() || s.size() > 256 || (s.front() >= '0' && s.front() <= '9')) return false;
  for (char c : s) {
    if (!IsAlnum(c) && c != '_') return false;
  }
  return true;
}

bool HasDotDot(std::string_view path) {
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    if (path.substr(start, end - start) == "..") return true;
    start = end + 1;
  }
  return false;
}

bool HasControl(std::string_view s) {
  for (char c : s) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return true;
  }
  return false;
}

Status ParseHyperparameters(const Json& v, JobSpec& spec) {
  if (!v.is_object()) return TypeError("hyperparameters", "a mapping", v);
  if (v.size() > kMaxHyperparameters) {
    return InvalidArgumentError("'hyperparameters' has " + std::to_string(v.size()) +
                                " entries; at most " + std::to_string(kMaxHyperparameters) +
                                " are allowed");
  }
  for (const auto& [k, hv] : v.items()) {
    std::string path = "hyperparameters." + k;
    if (k.empty() || k.size() > kMaxHyperparameterChars) {
      return InvalidArgumentError("hyperparameter name " + Quote(k) +
                                  " must be 1 to 256 characters");
    }
    if (k.find('=') != std::string::npos || HasControl(k)) {
      return InvalidArgumentError("hyperparameter name " + Quote(k) +
                                  " must not contain '=' or control characters");
    }
    if (hv.is_null()) return TypeError(path, "a scalar, list or mapping", hv);
    std::string rendered = HyperparameterString(hv);
    if (rendered.size() > kMaxHyperparameterChars) {
      return InvalidArgumentError("'" + path + "' renders to " + std::to_string(rendered.size()) +
                                  " characters; at most 256 are allowed");
    }
    if (rendered.find('\0') != std::string::npos) {
      return InvalidArgumentError("'" + path + "' must not contain NUL characters");
    }
    spec.hyperparameters[k] = hv;
  }
  return OkStatus();
}

Status ParseInputs(const Json& v, JobSpec& spec) {
  if (!v.is_object()) return TypeError("inputs", "a mapping of channel to source", v);
  for (const auto& [k, iv] : v.items()) {
    if (!ValidChannel(k)) {
      return InvalidArgumentError("channel name " + Quote(k) + " must match [A-Za-z0-9._-]{1,64}");
    }
    std::string path = "inputs." + k;
    ASSIGN_OR_RETURN(std::string src, String(iv, path));
    if (src.empty()) return InvalidArgumentError("'" + path + "' must be a non-empty string");
    spec.inputs[k] = std::move(src);
  }
  return OkStatus();
}

Status ParseMetricDefinitions(const Json& v, JobSpec& spec) {
  if (!v.is_array()) return TypeError("metric_definitions", "a list of {name, regex}", v);
  for (size_t i = 0; i < v.size(); ++i) {
    std::string path = "metric_definitions[" + std::to_string(i) + "]";
    const Json& d = v[i];
    if (!d.is_object()) return TypeError(path, "a mapping {name, regex}", d);
    RETURN_IF_ERROR(CheckKnown(d, path + ".", {"name", "regex"}));
    MetricDefinition def;
    if (!d.contains("name")) return InvalidArgumentError("'" + path + ".name' is required");
    if (!d.contains("regex")) return InvalidArgumentError("'" + path + ".regex' is required");
    ASSIGN_OR_RETURN(def.name, String(d["name"], path + ".name"));
    ASSIGN_OR_RETURN(def.regex, String(d["regex"], path + ".regex"));
    if (def.name.empty() || def.name.size() > 255) {
      return InvalidArgumentError("'" + path + ".name' must be 1 to 255 characters");
    }
    if (def.regex.empty() || def.regex.size() > 500) {
      return InvalidArgumentError("'" + path + ".regex' must be 1 to 500 characters");
    }
    spec.metric_definitions.push_back(std::move(def));
  }
  // Compiles every regex (and applies the 40-definition limit).
  return MetricParser::Create(spec.metric_definitions).status();
}

Status ParseResources(const Json& v, Resources& r) {
  if (!v.is_object()) return TypeError("resources", "a mapping {cpus, memory_mb, gpus}", v);
  RETURN_IF_ERROR(CheckKnown(v, "resources.", {"cpus", "memory_mb", "gpus"}));
  if (v.contains("cpus")) {
    const Json& c = v["cpus"];
    if (!c.is_number()) return TypeError("resources.cpus", "a positive number", c);
    r.cpus = c.get<double>();
    if (!(r.cpus > 0) || !std::isfinite(r.cpus) || r.cpus > 4096) {
      return InvalidArgumentError(
          "'resources.cpus' must be a positive number (at most 4096), got " + c.dump());
    }
  }
  if (v.contains("memory_mb")) {
    ASSIGN_OR_RETURN(r.memory_mb,
                     Integer(v["memory_mb"], "resources.memory_mb", 0, int64_t{1} << 40));
  }
  if (v.contains("gpus")) {
    ASSIGN_OR_RETURN(int64_t g, Integer(v["gpus"], "resources.gpus", 0, 64));
    r.gpus = static_cast<int>(g);
  }
  return OkStatus();
}

Status ParseEnvironment(const Json& v, JobSpec& spec) {
  if (!v.is_object()) return TypeError("environment", "a mapping of strings", v);
  for (const auto& [k, ev] : v.items()) {
    if (!ValidEnvName(k)) {
      return InvalidArgumentError("environment variable name " + Quote(k) +
                                  " must match [A-Za-z_][A-Za-z0-9_]*");
    }
    if (k.rfind("SM_", 0) == 0 || k.rfind("TRAINING_JOB_", 0) == 0) {
      return InvalidArgumentError("environment variable '" + k +
                                  "' is set by the training contract and cannot be overridden");
    }
    ASSIGN_OR_RETURN(std::string value, ScalarText(ev, "environment." + k));
    if (value.find('\0') != std::string::npos) {
      return InvalidArgumentError("'environment." + k + "' must not contain NUL characters");
    }
    spec.environment[k] = std::move(value);
  }
  return OkStatus();
}

Status ParseRegister(const Json& v, JobSpec& spec) {
  if (!v.is_object()) return TypeError("register", "a mapping {model, alias, tags}", v);
  RETURN_IF_ERROR(CheckKnown(v, "register.", {"model", "alias", "tags"}));
  RegisterSpec r;
  if (!v.contains("model")) return InvalidArgumentError("'register.model' is required");
  ASSIGN_OR_RETURN(r.model, String(v["model"], "register.model"));
  if (Status st = registry::ValidateModelName(r.model); !st.ok()) {
    return InvalidArgumentError("'register.model': " + std::string(st.message()));
  }
  if (v.contains("alias") && !v["alias"].is_null()) {
    ASSIGN_OR_RETURN(r.alias, String(v["alias"], "register.alias"));
    if (Status st = registry::ValidateAlias(r.alias); !st.ok()) {
      return InvalidArgumentError("'register.alias': " + std::string(st.message()));
    }
  }
  if (v.contains("tags") && !v["tags"].is_null()) {
    const Json& t = v["tags"];
    if (!t.is_object()) return TypeError("register.tags", "a mapping of strings", t);
    for (const auto& [k, tv] : t.items()) {
      ASSIGN_OR_RETURN(std::string value, ScalarText(tv, "register.tags." + k));
      if (Status st = registry::ValidateTag(k, value); !st.ok()) {
        return InvalidArgumentError("'register.tags': " + std::string(st.message()));
      }
      r.tags[k] = std::move(value);
    }
  }
  spec.register_model = std::move(r);
  return OkStatus();
}

Status ParseCheckpoint(const Json& v, JobSpec& spec) {
  if (!v.is_object()) return TypeError("checkpoint", "a mapping {key_prefix, local_path}", v);
  RETURN_IF_ERROR(CheckKnown(v, "checkpoint.", {"key_prefix", "local_path"}));
  CheckpointSpec c;
  if (!v.contains("key_prefix") || v["key_prefix"].is_null()) {
    return InvalidArgumentError("'checkpoint.key_prefix' is required");
  }
  ASSIGN_OR_RETURN(c.key_prefix, String(v["key_prefix"], "checkpoint.key_prefix"));
  while (!c.key_prefix.empty() && c.key_prefix.back() == '/') c.key_prefix.pop_back();
  if (c.key_prefix.empty() || c.key_prefix.size() > kMaxCheckpointPrefixBytes) {
    return InvalidArgumentError("'checkpoint.key_prefix' must be 1 to 512 bytes");
  }
  if (Status st = store::ValidateKey(c.key_prefix); !st.ok()) {
    return InvalidArgumentError("'checkpoint.key_prefix': " + std::string(st.message()));
  }
  if (v.contains("local_path") && !v["local_path"].is_null()) {
    ASSIGN_OR_RETURN(std::string local, String(v["local_path"], "checkpoint.local_path"));
    while (local.size() > 1 && local.back() == '/') local.pop_back();
    if (local != kCheckpointLocalPath) {
      return InvalidArgumentError("'checkpoint.local_path' " + Quote(local) +
                                  " is not supported; only /opt/ml/checkpoints is synced");
    }
  }
  spec.checkpoint = std::move(c);
  return OkStatus();
}

bool SecretNameChars(const std::string& s) {
  if (s.empty() || s.size() > 128) return false;
  for (char c : s) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-') {
      return false;
    }
  }
  return true;
}

Status ParseSecrets(const Json& v, JobSpec& spec) {
  if (!v.is_array()) return TypeError("secrets", "a list of {name, env|file}", v);
  if (v.size() > 32) return InvalidArgumentError("'secrets' has more than 32 entries");
  std::set<std::string> envs, files;
  for (size_t i = 0; i < v.size(); ++i) {
    const std::string path = "secrets[" + std::to_string(i) + "]";
    const Json& e = v[i];
    if (!e.is_object()) return TypeError(path, "a mapping {name, env|file}", e);
    RETURN_IF_ERROR(CheckKnown(e, path + ".", {"name", "env", "file"}));
    SecretRef ref;
    if (!e.contains("name")) return InvalidArgumentError("'" + path + ".name' is required");
    ASSIGN_OR_RETURN(ref.name, String(e["name"], path + ".name"));
    if (!SecretNameChars(ref.name) || !std::isalnum(static_cast<unsigned char>(ref.name[0]))) {
      return InvalidArgumentError("'" + path + ".name' " + Quote(ref.name) +
                                  " must be 1..128 of [A-Za-z0-9._-], starting with a letter or "
                                  "digit");
    }
    if (e.contains("env") == e.contains("file")) {
      return InvalidArgumentError("'" + path + "' needs exactly one of env or file");
    }
    if (e.contains("env")) {
      ASSIGN_OR_RETURN(ref.env, String(e["env"], path + ".env"));
      if (!ValidEnvName(ref.env) || ref.env.rfind("SM_", 0) == 0 ||
          ref.env.rfind("TRAINING_JOB_", 0) == 0) {
        return InvalidArgumentError("'" + path + ".env' " + Quote(ref.env) +
                                    " must match [A-Za-z_][A-Za-z0-9_]* and not be SM_* or "
                                    "TRAINING_JOB_*");
      }
      if (spec.environment.count(ref.env) > 0 || !envs.insert(ref.env).second) {
        return InvalidArgumentError("'" + path + ".env' " + Quote(ref.env) +
                                    " is set twice (environment or another secret)");
      }
    } else {
      ASSIGN_OR_RETURN(ref.file, String(e["file"], path + ".file"));
      if (!SecretNameChars(ref.file) || ref.file == "." || ref.file == "..") {
        return InvalidArgumentError("'" + path + ".file' " + Quote(ref.file) +
                                    " must be a file name of 1..128 [A-Za-z0-9._-] (it lands in " +
                                    kSecretsDir + ")");
      }
      if (!files.insert(ref.file).second) {
        return InvalidArgumentError("'" + path + ".file' " + Quote(ref.file) + " is used twice");
      }
    }
    spec.secrets.push_back(std::move(ref));
  }
  return OkStatus();
}

}  // namespace

std::string JobSpec::Kind() const {
  auto it = environment.find(kJobKindVariable);
  return it == environment.end() || it->second.empty() ? kTrainingKind : it->second;
}

Json JobSpec::ToJson() const {
  Json j = Json::object();
  if (!name.empty()) j["name"] = name;
  j["team"] = team;
  if (!entry_point.empty()) j["entry_point"] = entry_point;
  if (!source_dir.empty()) j["source_dir"] = source_dir;
  j["hyperparameters"] = Json::object();
  for (const auto& [k, v] : hyperparameters) j["hyperparameters"][k] = v;
  j["inputs"] = inputs;
  j["metric_definitions"] = Json::array();
  for (const auto& d : metric_definitions) {
    j["metric_definitions"].push_back({{"name", d.name}, {"regex", d.regex}});
  }
  j["resources"] = {
      {"cpus", resources.cpus}, {"memory_mb", resources.memory_mb}, {"gpus", resources.gpus}};
  j["max_runtime_seconds"] = max_runtime_seconds;
  j["environment"] = environment;
  if (register_model) {
    Json r = {{"model", register_model->model}};
    if (!register_model->alias.empty()) r["alias"] = register_model->alias;
    if (!register_model->tags.empty()) r["tags"] = register_model->tags;
    j["register"] = std::move(r);
  }
  j["retries"] = retries;
  j["keep_alive_seconds"] = keep_alive_seconds;
  j["network"] = network;
  if (!image.empty()) j["image"] = image;
  if (!publish_prefix.empty()) j["publish_prefix"] = publish_prefix;
  if (checkpoint) {
    j["checkpoint"] = {{"key_prefix", checkpoint->key_prefix},
                       {"local_path", checkpoint->local_path}};
  }
  if (!secrets.empty()) {
    Json list = Json::array();
    for (const SecretRef& r : secrets) {
      Json e = {{"name", r.name}};
      if (!r.env.empty()) e["env"] = r.env;
      if (!r.file.empty()) e["file"] = r.file;
      list.push_back(std::move(e));
    }
    j["secrets"] = std::move(list);
  }
  return j;
}

StatusOr<JobSpec> JobSpec::FromJson(const Json& j) {
  if (j.is_null()) return InvalidArgumentError("job spec is empty");
  if (!j.is_object()) return InvalidArgumentError("job spec must be a mapping, got " + TypeName(j));
  RETURN_IF_ERROR(CheckKnown(
      j, "",
      {"name", "team", "entry_point", "source_dir", "hyperparameters", "inputs",
       "metric_definitions", "resources", "max_runtime_seconds", "environment", "register",
       "retries", "keep_alive_seconds", "network", "image", "publish_prefix", "checkpoint",
       "secrets"}));
  JobSpec spec;
  // A null value (`key:` with nothing after it in YAML) means "default".
  auto has = [&](const char* k) { return j.contains(k) && !j[k].is_null(); };

  if (has("name")) {
    ASSIGN_OR_RETURN(spec.name, String(j["name"], "name"));
    if (!ValidJobName(spec.name)) {
      return InvalidArgumentError(
          "'name' " + Quote(spec.name) +
          " must be 1 to 63 letters, digits or dashes, starting and ending with a letter or digit");
    }
  }
  if (has("team")) {
    ASSIGN_OR_RETURN(spec.team, String(j["team"], "team"));
    if (!ValidTeam(spec.team)) {
      return InvalidArgumentError("'team' " + Quote(spec.team) + " must match [a-z0-9_-]{1,64}");
    }
  }
  // With an image, no entry_point runs the image's own `train` (SageMaker's
  // bring-your-own-container); without one it is required.
  const bool has_image = has("image");
  if (!has("entry_point") && !has_image) {
    return InvalidArgumentError("'entry_point' is required (or an 'image' whose train program runs)");
  }
  if (has("entry_point")) {
    ASSIGN_OR_RETURN(spec.entry_point, String(j["entry_point"], "entry_point"));
    if (spec.entry_point.empty() || spec.entry_point.size() > 1024 ||
        HasControl(spec.entry_point)) {
      return InvalidArgumentError("'entry_point' must be a non-empty path");
    }
    if (HasDotDot(spec.entry_point)) {
      return InvalidArgumentError("'entry_point' " + Quote(spec.entry_point) +
                                  " must not contain '..'");
    }
  }
  if (has("source_dir")) {
    ASSIGN_OR_RETURN(spec.source_dir, String(j["source_dir"], "source_dir"));
  }
  if (has("hyperparameters")) RETURN_IF_ERROR(ParseHyperparameters(j["hyperparameters"], spec));
  if (has("inputs")) RETURN_IF_ERROR(ParseInputs(j["inputs"], spec));
  if (has("metric_definitions")) {
    RETURN_IF_ERROR(ParseMetricDefinitions(j["metric_definitions"], spec));
  }
  if (has("resources")) RETURN_IF_ERROR(ParseResources(j["resources"], spec.resources));
  if (has("max_runtime_seconds")) {
    ASSIGN_OR_RETURN(
        spec.max_runtime_seconds,
        Integer(j["max_runtime_seconds"], "max_runtime_seconds", 1, kMaxRuntimeSeconds));
  }
  if (has("environment")) RETURN_IF_ERROR(ParseEnvironment(j["environment"], spec));
  if (has("register")) RETURN_IF_ERROR(ParseRegister(j["register"], spec));
  if (has("secrets")) RETURN_IF_ERROR(ParseSecrets(j["secrets"], spec));  // after environment
  if (has("retries")) {
    ASSIGN_OR_RETURN(int64_t r, Integer(j["retries"], "retries", 0, kMaxRetries));
    spec.retries = static_cast<int>(r);
  }
  if (has("keep_alive_seconds")) {
    ASSIGN_OR_RETURN(spec.keep_alive_seconds, Integer(j["keep_alive_seconds"], "keep_alive_seconds",
                                                      0, kMaxKeepAliveSeconds));
  }
  if (has("network")) {
    if (!j["network"].is_boolean()) return TypeError("network", "a boolean", j["network"]);
    spec.network = j["network"].get<bool>();
  }
  if (has_image) {
    ASSIGN_OR_RETURN(spec.image, String(j["image"], "image"));
    if (spec.image.empty() || spec.image.size() > 1024 || HasControl(spec.image)) {
      return InvalidArgumentError("'image' must be an image reference (repo:tag or repo@sha256:...)");
    }
  }
  if (has("publish_prefix")) {
    ASSIGN_OR_RETURN(spec.publish_prefix, String(j["publish_prefix"], "publish_prefix"));
    if (spec.publish_prefix.empty() || spec.publish_prefix.front() == '/' ||
        HasDotDot(spec.publish_prefix) || HasControl(spec.publish_prefix)) {
      return InvalidArgumentError("'publish_prefix' " + Quote(spec.publish_prefix) +
                                  " must be a relative object-store key prefix without '..'");
    }
  }
  if (has("checkpoint")) RETURN_IF_ERROR(ParseCheckpoint(j["checkpoint"], spec));
  return spec;
}

StatusOr<JobSpec> JobSpec::Parse(std::string_view text) {
  size_t first = text.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos) return InvalidArgumentError("job spec is empty");
  StatusOr<Json> doc = InvalidArgumentError("unparsed");
  if (text[first] == '{') {
    doc = ParseJson(text);
    if (!doc.ok()) {
      // `{name: x}` is YAML flow style, not JSON; keep the JSON error if both fail.
      StatusOr<Json> yaml = ParseYaml(text);
      if (yaml.ok()) doc = std::move(yaml);
    }
  } else {
    doc = ParseYaml(text);
  }
  if (!doc.ok()) return Annotate(doc.status(), "job spec");
  return FromJson(*doc);
}

}  // namespace tandem::compute::jobs
