// A training job spec (YAML or JSON), modelled on SageMaker's CreateTrainingJob
// and the Python SDK's Estimator, so scripts and habits carry over.
//
//   name: churn-xgb
//   team: growth
//   entry_point: train.py            # .py runs with python3; anything else is executed
//   source_dir: ./src                # copied to /opt/ml/code
//   hyperparameters: {max_depth: 6, eta: 0.3}
//   inputs: {train: ./data/train.csv, validation: datasets/val.csv}
//   metric_definitions: [{name: validation:auc, regex: 'validation-auc:([0-9.]+)'}]
//   resources: {cpus: 2, memory_mb: 4096}
//   max_runtime_seconds: 3600
//   environment: {OMP_NUM_THREADS: "2"}
//   register: {model: churn, alias: challenger, tags: {data: 2026-11}}
//   retries: 1
//   keep_alive_seconds: 300
//   network: false
//   image: team/train:1.2            # run in this image of tandem's image store (docs/images.md)
//   publish_prefix: results/run-7    # output/data files also land under this key prefix
//   checkpoint: {key_prefix: teams/growth/ckpt/churn, local_path: /opt/ml/checkpoints}
//   secrets: [{name: db-password, env: DB_PASSWORD}, {name: gcp-key, file: gcp.json}]
//
// Validation (FromJson; every error is InvalidArgument naming the field's
// full path, e.g. "unknown field 'resources.cpu'", "'retries' must be an
// integer between 0 and 10, got a string"). A null value means "default".
//   name         optional (the service may assign one); SageMaker's rule:
//                1..63 of [A-Za-z0-9-], first and last a letter or digit
//   team         [a-z0-9_-]{1,64}, default "default"
//   entry_point  required without `image` (with one, absent = the image's `train`,
//                SageMaker's bring-your-own-container); no `..` path component,
//                no control characters
//   hyperparameters  mapping; values scalars, lists or mappings (not null);
//                at most 100; name 1..256 chars without '=' or control chars;
//                the rendered value (HyperparameterString) at most 256 chars
//   inputs       channel [A-Za-z0-9._-]{1,64} -> non-empty string
//   metric_definitions  at most 40 {name (1..255), regex (1..500)}; the regex
//                must compile as ECMAScript and have at least one group
//   resources    {cpus: number in (0, 4096], memory_mb: integer >= 0,
//                gpus: integer 0..64}
//   max_runtime_seconds 1..432000 (5 days); retries 0..10;
//   keep_alive_seconds 0..3600; network boolean; image, source_dir strings
//   environment  names [A-Za-z_][A-Za-z0-9_]*, not SM_* or TRAINING_JOB_*
//                (the contract owns those); values strings, or numbers and
//                booleans which are stringified as JSON renders them ("2", "true")
//   register     {model: [A-Za-z0-9][A-Za-z0-9._-]{0,127} (required),
//                alias: [a-z0-9_-]{1,64} not all digits, tags: key 1..250 ->
//                scalar (stringified), value <= 5000 chars}
//   checkpoint   {key_prefix: a valid object key of at most 512 bytes (a
//                trailing '/' is dropped), local_path: /opt/ml/checkpoints
//                (the default and the only path supported)}
//   secrets      at most 32 {name: a secret of the job's team (1..128 of
//                [A-Za-z0-9._-], first a letter or digit), and exactly one of
//                env: a variable name as in `environment` (not also set there)
//                or file: a file name (1..128 of [A-Za-z0-9._-], not . or ..)
//                the job reads at /run/secrets/<file> (0400, sandboxed jobs
//                only)}; env names and file names unique
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/json.h"
#include "common/status.h"

namespace tandem::compute::jobs {

struct MetricDefinition {
  std::string name;
  std::string regex;  // the first capture group is the value
  bool operator==(const MetricDefinition&) const = default;
};

struct Resources {
  double cpus = 1;        // > 0; used for scheduling and SM_NUM_CPUS (rounded up)
  int64_t memory_mb = 0;  // 0 = no limit; else exceeding it fails the job (OutOfMemory)
  int gpus = 0;           // SM_NUM_GPUS; must be 0 on machines without accelerators
  bool operator==(const Resources&) const = default;
};

struct RegisterSpec {
  std::string model;                        // registry model name
  std::string alias;                        // optional alias to move to the new version
  std::map<std::string, std::string> tags;  // scalar values are stringified
  bool operator==(const RegisterSpec&) const = default;
};

// SageMaker's CheckpointConfig (S3Uri -> key_prefix, LocalPath -> local_path):
// objects under `<key_prefix>/` are restored into /opt/ml/checkpoints before
// the job's code starts, and what the job writes there is uploaded to
// `<key_prefix>/<relative path>` while it runs and when it ends
// (compute/jobs/checkpoints.h).
struct CheckpointSpec {
  std::string key_prefix;  // no trailing '/'
  std::string local_path = "/opt/ml/checkpoints";
  bool operator==(const CheckpointSpec&) const = default;
};

inline constexpr char kCheckpointLocalPath[] = "/opt/ml/checkpoints";
// A stored secret of the job's team, injected when the job starts: as an
// environment variable (`env`) or a read-only file /run/secrets/<file>. The
// spec holds only the reference; the value never enters the job's record.
struct SecretRef {
  std::string name;
  std::string env;
  std::string file;
  bool operator==(const SecretRef&) const = default;
};

// Where a job finds its file secrets (inside its sandbox).
inline constexpr char kSecretsDir[] = "/run/secrets";

struct JobSpec {
  std::string name;  // [A-Za-z0-9-]{1,63} (SageMaker's TrainingJobName rule)
  std::string team = "default";
  std::string entry_point;  // relative to source_dir (or an absolute executable path); "" = the image's train
  // Where the code comes from: a local directory (absolute after the CLI
  // resolved it), or an object-store digest/key of a tar.gz the CLI uploaded.
  std::string source_dir;
  std::map<std::string, Json> hyperparameters;  // rendered as strings per the contract
  // channel -> source: local path, file:// URI, object-store key or sha256 digest.
  std::map<std::string, std::string> inputs;
  std::vector<MetricDefinition> metric_definitions;  // at most 40
  Resources resources;
  int64_t max_runtime_seconds = 86'400;
  std::map<std::string, std::string> environment;
  std::optional<RegisterSpec> register_model;  // key `register`
  int retries = 0;                             // extra attempts after a failure (not after Stop)
  int64_t keep_alive_seconds = 0;              // warm pool retention, 0..3600
  bool network = false;                        // sandboxed jobs get no network unless true
  std::string image;  // image reference in tandem's image store; "" = the host's environment
  // Every file the job leaves in /opt/ml/output/data is also uploaded to
  // `<publish_prefix>/<relative path>` when it ends, whatever its outcome
  // (batch transform's per-object outputs). "" = nothing is published.
  std::string publish_prefix;
  std::optional<CheckpointSpec> checkpoint;  // key `checkpoint`
  std::vector<SecretRef> secrets;  // at most 32

  bool operator==(const JobSpec&) const = default;

  // The spec as JSON; FromJson(ToJson()) == *this. Empty optional strings
  // (name, source_dir, image) and an absent `register` are omitted.
  Json ToJson() const;
  // Validates every field; unknown or ill-typed fields -> InvalidArgument
  // naming the field (e.g. "resources.cpus must be a positive number").
  static StatusOr<JobSpec> FromJson(const Json& j);
  // Parses YAML or JSON text, then FromJson.
  static StatusOr<JobSpec> Parse(std::string_view text);

  // The job's kind: environment[kJobKindVariable], or "training" without it.
  std::string Kind() const;
};

// Environment marker naming a job's kind when it is not "training" (batch
// transforms set "transform"), so stores and listings can tell kinds apart.
inline constexpr char kJobKindVariable[] = "TANDEM_JOB_KIND";
inline constexpr char kTrainingKind[] = "training";

}  // namespace tandem::compute::jobs
