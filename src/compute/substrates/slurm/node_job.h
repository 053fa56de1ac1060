// Slurm jobs without a shared filesystem (`compute.shared_fs: false`,
// docs/backends/slurm.md): what the control plane hands a node and what the
// node hands back, both through the object store.
//
//   Submit (control plane)  the batch script carries a NodePayload on
//                           tandem-slurm-node's stdin: the job's spec, the
//                           runner request as the control plane built it, the
//                           store (and image store) the node opens, the node
//                           directory root and the store key of the bundle.
//   the node                (tandem-slurm-node, RunNodeJob) stages the /opt/ml
//                           tree under <node_dir>/<job>-<attempt>/ with the
//                           Kubernetes job pods' StageJobPod (channels and code
//                           come from the object store), pulls the job's image
//                           into a node-local layer cache, runs the same
//                           tandem-job-runner under the same step loop
//                           (step.h), then packs the results -- /opt/ml/model,
//                           /opt/ml/output (failure file included), the
//                           runner's result/started/log and the job log -- into
//                           one tar.gz and puts it at `bundle_key`.
//   Poll (control plane)    FetchNodeBundle unpacks it into the control
//                           plane's own attempt: the model and output into the
//                           job directory, the runner files into the state
//                           directory, the log onto the job log; the job
//                           service then finalizes (pack, upload, register)
//                           exactly as for a job on a shared filesystem.
//
// The node never writes into the control plane's directories, and the
// control plane never reads the node's.
//
// Thread-safety: free functions.
#pragma once

#include <string>

#include "common/json.h"
#include "common/status.h"
#include "glue/store/object_store.h"

namespace tandem::compute::slurm {

struct NodePayload {
  Json spec;                   // jobs::JobSpec::ToJson()
  Json runner_request;         // runner::RunnerRequestToJson, control-plane paths
  std::string store_uri;       // the object store the node opens
  std::string images_uri;      // the image store ("embedded": inside store_uri)
  std::string node_dir;        // absolute root of node-local job directories
  uint64_t image_cache_bytes = 20ULL << 30;
  std::string bundle_key;      // where the node puts its results

  Json ToJson() const;
  static StatusOr<NodePayload> FromJson(const Json& j);  // InvalidArgument naming the field
};

// The store key of an attempt's bundle.
std::string NodeBundleKey(const std::string& job_id, int attempt);

// Node side: everything tandem-slurm-node does with `payload`; returns the
// exit status Slurm should record (step.h). A failure before the job could
// run (the store, staging, the image) still uploads a bundle whose
// result.json says Lost with the reason, so the control plane reports it.
int RunNodeJob(const NodePayload& payload, const std::string& runner_path);

// Control-plane side: when the bundle is at `key`, unpacks it into
// `job_dir` (model/, output/), `state_dir` (result.json, started,
// runner.log) and appends its job log to `log_path`, then deletes the key.
// False when there is no bundle yet, or when it was corrupt or unsafe:
// then nothing of it is kept, the key is deleted and the reason appended to
// `state_dir`/runner.log (the outcome falls back to Slurm's state).
StatusOr<bool> FetchNodeBundle(store::ObjectStore& store, const std::string& key,
                               const std::string& job_dir, const std::string& state_dir,
                               const std::string& log_path);

}  // namespace tandem::compute::slurm
