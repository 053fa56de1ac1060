#include "compute/transform/spec.h"

#include "common/spec_fields.h"
#include "common/yaml.h"
#include "compute/jobs/contract.h"

namespace tandem::compute::transform {
namespace {

using spec::CheckKnown;
using spec::Integer;
using spec::String;
using spec::TypeError;

bool ValidPrefix(std::string_view s) {
  if (s.empty() || s.size() > 512 || s.front() == '/') return false;
  size_t start = 0;
  while (start <= s.size()) {
    size_t end = s.find('/', start);
    if (end == std::string_view::npos) end = s.size();
    std::string_view part = s.substr(start, end - start);
    if (part == ".." || part == ".") return false;
    start = end + 1;
  }
  for (char c : s) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return false;
  }
  return true;
}

// Validates the fields shared with a job spec (name, team, resources,
// max_runtime_seconds) with the job spec's own rules and messages.
Status ParseJobFields(const Json& j, TransformSpec& spec) {
  Json job = {{"entry_point", "tandem-transform"}};
  for (const char* k : {"name", "team", "resources", "max_runtime_seconds"}) {
    if (j.contains(k)) job[k] = j[k];
  }
  ASSIGN_OR_RETURN(jobs::JobSpec parsed, jobs::JobSpec::FromJson(job));
  spec.name = parsed.name;
  spec.team = parsed.team;
  spec.resources = parsed.resources;
  spec.max_runtime_seconds = parsed.max_runtime_seconds;
  return OkStatus();
}

// `field` must equal `only` (case-sensitive, SageMaker's spelling).
Status OneOf(const Json& v, const std::string& path, std::string_view only) {
  ASSIGN_OR_RETURN(std::string s, String(v, path));
  if (s != only) {
    return InvalidArgumentError("'" + path + "' must be " + std::string(only) + ", got '" + s +
                                "'");
  }
  return OkStatus();
}

Status ParseInput(const Json& v, TransformSpec& spec) {
  if (!v.is_object()) return TypeError("input", "a mapping {uri, content_type}", v);
  RETURN_IF_ERROR(CheckKnown(v, "input.", {"uri", "content_type"}));
  if (!v.contains("uri") || v["uri"].is_null())
    return InvalidArgumentError("'input.uri' is required");
  ASSIGN_OR_RETURN(spec.input_uri, String(v["uri"], "input.uri"));
  if (spec.input_uri.empty()) return InvalidArgumentError("'input.uri' must not be empty");
  if (v.contains("content_type") && !v["content_type"].is_null()) {
    ASSIGN_OR_RETURN(std::string ct, String(v["content_type"], "input.content_type"));
    auto parsed = ParseContentType(ct);
    if (!parsed.ok()) {
      return InvalidArgumentError("'input.content_type' " + std::string(parsed.status().message()));
    }
    spec.content_type = *parsed;
  }
  return OkStatus();
}

}  // namespace

std::string_view ContentTypeName(TransformContentType t) {
  return t == TransformContentType::kCsv ? "text/csv" : "application/jsonlines";
}

StatusOr<TransformContentType> ParseContentType(std::string_view s) {
  if (s == "text/csv") return TransformContentType::kCsv;
  if (s == "application/jsonlines" || s == "application/x-jsonlines" || s == "application/jsonl") {
    return TransformContentType::kJsonLines;
  }
  return InvalidArgumentError("must be text/csv or application/jsonlines, got '" + std::string(s) +
                              "'");
}

std::string_view BatchStrategyName(BatchStrategy b) {
  return b == BatchStrategy::kMultiRecord ? "MultiRecord" : "SingleRecord";
}

StatusOr<BatchStrategy> ParseBatchStrategy(std::string_view s) {
  if (s == "MultiRecord") return BatchStrategy::kMultiRecord;
  if (s == "SingleRecord") return BatchStrategy::kSingleRecord;
  return InvalidArgumentError("must be MultiRecord or SingleRecord, got '" + std::string(s) + "'");
}

Json TransformSpec::ToJson() const {
  Json j = {
      {"team", team},
      {"model", model.ToString()},
      {"input", {{"uri", input_uri}, {"content_type", ContentTypeName(content_type)}}},
      {"split_type", "Line"},
      {"batch_strategy", BatchStrategyName(batch_strategy)},
      {"max_payload_mb", max_payload_mb},
      {"max_concurrent_transforms", max_concurrent_transforms},
      {"assemble_with", "Line"},
      {"join_source", join_input ? "Input" : "None"},
      {"output", {{"prefix", output_prefix}}},
      {"resources",
       {{"cpus", resources.cpus}, {"memory_mb", resources.memory_mb}, {"gpus", resources.gpus}}},
      {"max_runtime_seconds", max_runtime_seconds}};
  if (!name.empty()) j["name"] = name;
  return j;
}

StatusOr<TransformSpec> TransformSpec::FromJson(const Json& j) {
  if (!j.is_object()) return TypeError("transform spec", "a mapping", j);
  RETURN_IF_ERROR(CheckKnown(j, "",
                             {"name", "team", "model", "input", "split_type", "batch_strategy",
                              "max_payload_mb", "max_concurrent_transforms", "assemble_with",
                              "join_source", "output", "resources", "max_runtime_seconds"}));
  auto has = [&](const char* k) { return j.contains(k) && !j[k].is_null(); };
  TransformSpec spec;
  RETURN_IF_ERROR(ParseJobFields(j, spec));
  if (!has("model"))
    return InvalidArgumentError("'model' is required (NAME, NAME@alias or NAME/version)");
  ASSIGN_OR_RETURN(std::string model, String(j["model"], "model"));
  StatusOr<registry::ModelRef> ref = registry::ParseModelRef(model);
  if (!ref.ok()) return InvalidArgumentError("'model': " + std::string(ref.status().message()));
  spec.model = *std::move(ref);
  if (!has("input")) return InvalidArgumentError("'input' is required");
  RETURN_IF_ERROR(ParseInput(j["input"], spec));
  if (has("split_type")) RETURN_IF_ERROR(OneOf(j["split_type"], "split_type", "Line"));
  if (has("assemble_with")) RETURN_IF_ERROR(OneOf(j["assemble_with"], "assemble_with", "Line"));
  if (has("batch_strategy")) {
    ASSIGN_OR_RETURN(std::string b, String(j["batch_strategy"], "batch_strategy"));
    auto parsed = ParseBatchStrategy(b);
    if (!parsed.ok()) {
      return InvalidArgumentError("'batch_strategy' " + std::string(parsed.status().message()));
    }
    spec.batch_strategy = *parsed;
  }
  if (has("max_payload_mb")) {
    ASSIGN_OR_RETURN(spec.max_payload_mb, Integer(j["max_payload_mb"], "max_payload_mb", 1, 100));
  }
  if (has("max_concurrent_transforms")) {
    ASSIGN_OR_RETURN(int64_t n,
                     Integer(j["max_concurrent_transforms"], "max_concurrent_transforms", 1, 64));
    spec.max_concurrent_transforms = static_cast<int>(n);
  }
  if (has("join_source")) {
    ASSIGN_OR_RETURN(std::string js, String(j["join_source"], "join_source"));
    if (js != "Input" && js != "None") {
      return InvalidArgumentError("'join_source' must be Input or None, got '" + js + "'");
    }
    spec.join_input = js == "Input";
  }
  if (!has("output")) return InvalidArgumentError("'output' is required ({prefix: KEY-PREFIX})");
  const Json& out = j["output"];
  if (!out.is_object()) return TypeError("output", "a mapping {prefix}", out);
  RETURN_IF_ERROR(CheckKnown(out, "output.", {"prefix"}));
  if (!out.contains("prefix") || out["prefix"].is_null()) {
    return InvalidArgumentError("'output.prefix' is required");
  }
  ASSIGN_OR_RETURN(spec.output_prefix, String(out["prefix"], "output.prefix"));
  while (spec.output_prefix.size() > 1 && spec.output_prefix.back() == '/') {
    spec.output_prefix.pop_back();
  }
  if (!ValidPrefix(spec.output_prefix)) {
    return InvalidArgumentError("'output.prefix' '" + spec.output_prefix.substr(0, 200) +
                                "' must be a relative object-store key prefix without '.' or "
                                "'..' components");
  }
  return spec;
}

StatusOr<TransformSpec> TransformSpec::Parse(std::string_view text) {
  if (text.find_first_not_of(" \t\r\n") == std::string_view::npos) {
    return InvalidArgumentError("transform spec is empty");
  }
  StatusOr<Json> doc = ParseYaml(text);  // JSON is a YAML subset
  if (!doc.ok()) return Annotate(doc.status(), "transform spec");
  return FromJson(*doc);
}

jobs::JobSpec TransformJobSpec(const TransformSpec& spec, const std::string& model_source) {
  jobs::JobSpec job;
  job.name = spec.name;
  job.team = spec.team;
  job.entry_point = std::string(jobs::kHelperDir) + "/" + kTransformProgram;
  job.inputs[kTransformModelChannel] = model_source;
  job.inputs[kTransformInputChannel] = spec.input_uri;
  job.hyperparameters["content_type"] = std::string(ContentTypeName(spec.content_type));
  job.hyperparameters["batch_strategy"] = std::string(BatchStrategyName(spec.batch_strategy));
  job.hyperparameters["max_payload_mb"] = spec.max_payload_mb;
  job.hyperparameters["max_concurrent_transforms"] = spec.max_concurrent_transforms;
  job.hyperparameters["join_source"] = spec.join_input ? "Input" : "None";
  job.hyperparameters["model"] = spec.model.ToString();
  job.resources = spec.resources;
  job.max_runtime_seconds = spec.max_runtime_seconds;
  job.environment[kJobKindVariable] = kTransformKind;
  job.publish_prefix = spec.output_prefix;
  return job;
}

}  // namespace tandem::compute::transform
