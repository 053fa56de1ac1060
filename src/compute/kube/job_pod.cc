#include "compute/kube/job_pod.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "compute/jobs/contract.h"
#include "compute/jobs/staging.h"

namespace tandem::compute::kube {

namespace fs = std::filesystem;

Status StageJobPod(const jobs::JobSpec& spec, const std::string& ml_dir,
                   store::ObjectStore& store) {
  std::error_code ec;
  if (!fs::is_directory(ml_dir, ec)) {
    return InvalidArgumentError("'" + ml_dir + "' is not a directory");
  }
  ASSIGN_OR_RETURN(jobs::Source code, jobs::ResolveCode(spec, store));
  ASSIGN_OR_RETURN(auto inputs, jobs::ResolveInputs(spec, store));
  std::vector<std::string> channels;
  for (const auto& [channel, src] : inputs) channels.push_back(channel);
  RETURN_IF_ERROR(jobs::CreateJobTree(ml_dir, channels));
  Json lineage = {{"code_digest", ""}, {"input_digests", Json::object()}};
  ASSIGN_OR_RETURN(std::string code_digest, jobs::SourceDigest(code, store));
  lineage["code_digest"] = code_digest;
  RETURN_IF_ERROR(jobs::StageCode(code, store, ml_dir + "/code"));
  for (const auto& [channel, src] : inputs) {
    ASSIGN_OR_RETURN(std::string digest, jobs::SourceDigest(src, store));
    lineage["input_digests"][channel] = digest;
    Status s = jobs::StageInput(src, store, ml_dir + "/input/data/" + channel);
    if (!s.ok()) return Annotate(s, "staging input channel '" + channel + "'");
  }
  RETURN_IF_ERROR(jobs::WriteConfigFiles(ml_dir, spec, spec.name));
  std::ofstream out(ml_dir + "/" + kLineageFile, std::ios::trunc);
  out << lineage.dump() << "\n";
  if (!out) return InternalError("cannot write " + ml_dir + "/" + kLineageFile);
  return OkStatus();
}

StatusOr<jobs::Outcome> FinalizeJobPod(const jobs::JobSpec& spec, const std::string& job_id,
                                       int attempt, const std::string& ml_dir,
                                       store::ObjectStore& store,
                                       registry::ModelRegistry* registry) {
  if (job_id.empty()) return InvalidArgumentError("the job id must not be empty");
  if (attempt < 1) return InvalidArgumentError("the attempt must be >= 1");
  std::error_code ec;
  if (!fs::is_directory(ml_dir + "/model", ec)) {
    return FailedPreconditionError("'" + ml_dir + "/model' is missing: was the job staged?");
  }
  jobs::JobRecord record;
  record.id = job_id;
  record.name = spec.name;
  record.team = spec.team;
  record.spec = spec;
  record.attempt = attempt;
  record.state = jobs::JobState::kRunning;
  jobs::FinalizeRequest req;
  req.record = &record;
  req.ml_dir = ml_dir;
  req.log_path = ml_dir + "/.tandem-no-log";  // the training log stays with the pod
  req.exit.kind = jobs::ExitKind::kExited;
  req.exit.exit_code = 0;
  std::ifstream in(ml_dir + "/" + kLineageFile);
  if (in) {
    std::stringstream ss;
    ss << in.rdbuf();
    Json lineage = Json::parse(ss.str(), nullptr, /*allow_exceptions=*/false);
    if (lineage.is_object()) {
      req.code_digest = lineage.value("code_digest", "");
      if (lineage.contains("input_digests") && lineage["input_digests"].is_object()) {
        for (const auto& [k, v] : lineage["input_digests"].items()) {
          if (v.is_string()) req.input_digests[k] = v.get<std::string>();
        }
      }
    }
  }
  return jobs::FinalizeAttempt(req, store, registry);
}

}  // namespace tandem::compute::kube
