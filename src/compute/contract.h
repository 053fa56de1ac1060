// The SageMaker training-container contract (CONTRACTS.md): the /opt/ml tree,
// its config files, the SM_* environment and the hyperparameters as
// `--key value` arguments, rendered the way sagemaker-training-toolkit does,
// so a script written for SageMaker runs here unchanged.
//
// `base` is where the job sees the tree: "/opt/ml" when sandboxed (the job
// directory is mounted there), else the job directory itself.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "common/json.h"
#include "common/status.h"
#include "compute/job_spec.h"

namespace tandem::compute {

inline constexpr char kSandboxBase[] = "/opt/ml";
inline constexpr char kCurrentHost[] = "algo-1";

// Creates input/config, input/data/<channel> (empty), code, model,
// output/data, checkpoints under `job_dir`.
Status CreateJobTree(const std::string& job_dir, const std::vector<std::string>& channels);

// Writes input/config/{hyperparameters,inputdataconfig,resourceconfig}.json.
// hyperparameters.json is a flat map of strings (values rendered by
// HyperparameterString); limits: 100 entries, 256 chars per key and value.
Status WriteConfigFiles(const std::string& job_dir, const JobSpec& spec,
                        const std::string& job_name);

// A hyperparameter value as SageMaker stores it: strings as they are, other
// JSON values dumped ("6", "0.3", "true", "[1,2]").
std::string HyperparameterString(const Json& v);

// The `--key value` arguments the toolkit renders (json.loads each value,
// drop `sagemaker_*` and `_tuning_objective_metric`, sort by key, `-k` for
// one-character keys, dicts as `k1=v1,k2=v2`).
std::vector<std::string> HyperparameterArgs(const std::map<std::string, Json>& hps);

// The environment of the job: the contract's variables (SM_*, TRAINING_JOB_NAME,
// TRAINING_JOB_ARN, PATH, HOME, PYTHONUNBUFFERED...) then spec.environment.
std::map<std::string, std::string> ContractEnvironment(const JobSpec& spec,
                                                       const std::string& job_name,
                                                       const std::string& base, int num_cpus);

// The command: `python3 <base>/code/<entry> <args>` for .py entry points,
// else `<base>/code/<entry> <args>` (or the absolute path as given).
std::vector<std::string> EntryPointCommand(const JobSpec& spec, const std::string& base);

// The failure reason of a failed job: the first 1024 bytes of
// output/failure if present and non-empty, else `fallback`.
std::string FailureReason(const std::string& job_dir, const std::string& fallback);

}  // namespace tandem::compute
