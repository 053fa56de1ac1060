// What `tandem job-pod` does inside a rendered Job's pod (render.h), with
// the same compute/jobs code a local job runs through:
//
//   StageJobPod     before the training container: resolve source_dir and
//                   every input channel (local path, file://, store key or
//                   digest), create the /opt/ml tree, copy the code and the
//                   channels in, write the contract's config files, and keep
//                   the code and input digests for the lineage in
//                   <ml_dir>/.tandem-lineage.json
//   FinalizeJobPod  after it exited 0: the local jobs' FinalizeAttempt --
//                   pack /opt/ml/model into jobs/<id>/output/model.tar.gz,
//                   upload output/data, register the version (with the
//                   staged lineage) and move the alias if the spec says so.
//                   Idempotent per (job id, attempt): a retried finalize
//                   registers no second version.
//
// Thread-safety: free functions over thread-safe store and registry.
#pragma once

#include <string>

#include "common/status.h"
#include "compute/jobs/finalize.h"
#include "compute/jobs/spec.h"
#include "glue/registry/model_registry.h"
#include "glue/store/object_store.h"

namespace tandem::compute::kube {

inline constexpr char kLineageFile[] = ".tandem-lineage.json";

// `ml_dir` must exist (the pod's emptyDir); errors name the channel or path.
Status StageJobPod(const jobs::JobSpec& spec, const std::string& ml_dir, store::ObjectStore& store);

// The outcome of a training container that exited 0. `job_id` names the
// store keys and the version's lineage; `attempt` is 1-based. A Failed
// outcome (an invalid model directory, a refused registration) is returned
// as it is; the caller reports its reason and exits non-zero.
StatusOr<jobs::Outcome> FinalizeJobPod(const jobs::JobSpec& spec, const std::string& job_id,
                                       int attempt, const std::string& ml_dir,
                                       store::ObjectStore& store,
                                       registry::ModelRegistry* registry);

}  // namespace tandem::compute::kube
