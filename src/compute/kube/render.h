// A training job spec (compute/jobs/spec.h) as a Kubernetes batch/v1 Job
// that reproduces the SageMaker contract inside its pod:
//
//   ConfigMap <name>-spec    the job spec as JSON (job.json)
//   Job <name>               one pod, restartPolicy Never:
//     initContainer stage    (tandem image) `tandem job-pod stage`: resolves
//                            source_dir and every input channel in the object
//                            store (compute/jobs/staging) and writes the
//                            /opt/ml tree and its config files (contract)
//     initContainer train    (the spec's image) the entry point with the
//                            contract's SM_* environment and arguments, in
//                            /opt/ml/code; a non-zero exit fails the pod
//     container finalize     (tandem image) `tandem job-pod finalize`: packs
//                            /opt/ml/model, uploads it and registers it
//                            (compute/jobs/finalize, the local jobs' code)
//   /opt/ml is an emptyDir shared by the three.
//   activeDeadlineSeconds = max_runtime_seconds, backoffLimit = retries,
//   ttlSecondsAfterFinished from the options, resources from the spec on the
//   train container.
//
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <vector>

#include "common/json.h"
#include "common/status.h"
#include "compute/jobs/spec.h"

namespace tandem::compute::kube {

inline constexpr char kJobApp[] = "tandem-job";

struct JobRenderOptions {
  std::string ns;  // metadata.namespace; "" = leave to kubectl/kustomize
  std::string tandem_image = "tandem-serving:latest";  // stage and finalize
  std::string image;  // the training image; "" = the spec's `image`
  std::string image_pull_policy = "IfNotPresent";
  std::string glue_secret = "tandem-glue";
  int ttl_seconds_after_finished = 86400;
};

// [ConfigMap, Job]. The Job's name is the spec's name lowercased (a DNS
// label); a spec without a name, or without an image (in the spec or the
// options) -> InvalidArgument.
StatusOr<std::vector<Json>> RenderJob(const jobs::JobSpec& spec, const JobRenderOptions& options);

}  // namespace tandem::compute::kube
