#include "compute/transform/service.h"

namespace tandem::compute::transform {

StatusOr<jobs::JobRecord> SubmitTransform(const TransformSpec& spec, jobs::JobService& jobs,
                                          registry::ModelRegistry& registry,
                                          const HelperSearch& helpers) {
  // The job runs it from the runner's helper directory (jobs::kHelperDir):
  // refuse at once here when this installation lacks it.
  if (StatusOr<std::string> program = FindHelperProgram(kTransformProgram, helpers);
      !program.ok()) {
    return FailedPreconditionError(program.status().message());
  }
  StatusOr<registry::ModelVersion> version = registry.Resolve(spec.model);
  if (!version.ok()) return Annotate(version.status(), "model " + spec.model.ToString());
  if (version->status != registry::VersionStatus::kReady) {
    return FailedPreconditionError("model " + spec.model.ToString() + " (version " +
                                   std::to_string(version->version) + ") is not READY");
  }
  // The artifact's key keeps its file name (a single registered model.json
  // must stage as *.json); the digest is the fallback.
  auto key = version->tags.find("artifact_key");
  const std::string source =
      key != version->tags.end() && !key->second.empty() ? key->second : version->source;
  jobs::JobSpec job = TransformJobSpec(spec, source);
  job.hyperparameters["model_version"] = version->version;
  return jobs.Submit(job);
}

bool IsTransformJob(const jobs::JobRecord& record) { return record.spec.Kind() == kTransformKind; }

Json TransformJobJson(const jobs::JobRecord& record) {
  Json j = record.ToJson();
  j["kind"] = IsTransformJob(record) ? "transform" : "training";
  Json t = Json::object();
  auto hp = [&](const char* k) {
    auto it = record.spec.hyperparameters.find(k);
    return it == record.spec.hyperparameters.end() ? Json() : it->second;
  };
  auto in = record.spec.inputs.find(kTransformInputChannel);
  t["model"] = hp("model");
  t["model_version"] = hp("model_version");
  t["input"] = in == record.spec.inputs.end() ? "" : in->second;
  t["content_type"] = hp("content_type");
  t["batch_strategy"] = hp("batch_strategy");
  t["output_prefix"] = record.spec.publish_prefix;
  j["transform"] = t;
  return j;
}

}  // namespace tandem::compute::transform
