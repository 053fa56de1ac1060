// The SageMaker training-container contract (docs/contracts.md): the /opt/ml tree,
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
#include "compute/jobs/spec.h"

namespace tandem::compute::jobs {

inline constexpr char kSandboxBase[] = "/opt/ml";
inline constexpr char kCurrentHost[] = "algo-1";
// Where a job sees tandem's own helper programs (tandem-transform, ...), at
// one fixed path wherever tandem is installed: tandem-job-runner, itself one
// of them (PREFIX/libexec/tandem), binds its own directory here read-only in
// the sandbox (whose fresh /tmp and /opt would hide a host path there), and
// without a sandbox runs a command under this path from that directory.
inline constexpr char kHelperDir[] = "/opt/tandem-libexec";

// Creates input/config, input/data/<channel> (empty), code, model,
// output/data, output/intermediate, checkpoints under `job_dir`. A channel
// name with '/' or equal to "." or ".." -> InvalidArgument.
Status CreateJobTree(const std::string& job_dir, const std::vector<std::string>& channels);

// Writes input/config/{hyperparameters,inputdataconfig,resourceconfig}.json.
// hyperparameters.json is a flat map of strings (values rendered by
// HyperparameterString); limits: 100 entries, 256 chars per key and value.
// inputdataconfig.json: per channel File/FullyReplicated/None and a
// ContentType from the source's extension (.csv text/csv, .libsvm/.svm
// text/libsvm, .json application/json, .jsonl application/jsonlines,
// .parquet application/x-parquet, a trailing .gz etc. ignored; else
// application/octet-stream). resourceconfig.json: one host "algo-1",
// instance type "local", group "homogeneousCluster", interface "lo".
// `job_name` is unused (kept for the signature).
Status WriteConfigFiles(const std::string& job_dir, const JobSpec& spec,
                        const std::string& job_name);

// A hyperparameter value as SageMaker stores it: strings as they are, other
// JSON values dumped ("6", "0.3", "true", "[1,2]").
std::string HyperparameterString(const Json& v);

// The `--key value` arguments the toolkit renders (json.loads each value,
// drop `sagemaker_*` and `_tuning_objective_metric`, sort by key, `-k` for
// one-character keys, dicts as `k1=v1,k2=v2`). Values are rendered as
// Python's str() would: true -> "True", [1,2] -> "[1, 2]", 1e-05, and a
// string "true" is json.loads-ed to True -> "True" too, exactly as the
// toolkit does.
std::vector<std::string> HyperparameterArgs(const std::map<std::string, Json>& hps);

// The environment of the job: the contract's variables (SM_*, TRAINING_JOB_NAME,
// TRAINING_JOB_ARN, PATH, HOME, PYTHONUNBUFFERED...) then spec.environment.
// SM_* are Environment.to_env_vars() of sagemaker-training-toolkit: strings
// as they are, None as "", other values json.dumps(sort_keys, (",", ":"),
// ensure_ascii) with Python's float repr; SM_TRAINING_ENV holds every
// Environment property (hyperparameters, channel_input_dirs, job_name,
// log_level 20, module_dir <base>/code, ...). Also set: TRAINING_JOB_ARN
// "arn:tandem:compute:local:training-job/<name>", SAGEMAKER_BASE_DIR=<base>,
// PATH (system dirs only), HOME=/tmp (writable in both modes), LANG=C.UTF-8,
// PYTHONUNBUFFERED=1, PYTHONDONTWRITEBYTECODE=1. `num_cpus` -> SM_NUM_CPUS,
// spec.resources.gpus -> SM_NUM_GPUS. A job whose spec has `checkpoint:`
// also gets TANDEM_CHECKPOINT_DIR=<base>/checkpoints (kCheckpointDirVariable).
inline constexpr char kCheckpointDirVariable[] = "TANDEM_CHECKPOINT_DIR";
std::map<std::string, std::string> ContractEnvironment(const JobSpec& spec,
                                                       const std::string& job_name,
                                                       const std::string& base, int num_cpus);

// The command: `python3 <base>/code/<entry> <args>` for .py entry points,
// else `<base>/code/<entry> <args>` (or the absolute path as given).
// python3 is Debian's /usr/bin/python3 (which has python3-sklearn/xgboost),
// never a `python3` found on the caller's PATH (e.g. a pyenv shim).
std::vector<std::string> EntryPointCommand(const JobSpec& spec, const std::string& base);

// The failure reason of a failed job: the first 1024 bytes of
// output/failure if present and non-empty, else `fallback`. An incomplete
// UTF-8 sequence at the cut and trailing whitespace are dropped; a symlink,
// FIFO or device at that path is ignored (the job controls the file).
std::string FailureReason(const std::string& job_dir, const std::string& fallback);

}  // namespace tandem::compute::jobs
