// Submitting batch transforms as ordinary compute jobs: the model reference
// is resolved in the registry to its version's artifact (the model.tar.gz
// digest), the spec becomes a job running tandem-transform
// (TransformJobSpec), and the job service schedules, meters and finalizes it
// like any training job (publishing each `<input-name>.out`).
//
// Thread-safety: free functions over thread-safe services.
#pragma once

#include <string>

#include "common/helper_programs.h"
#include "common/json.h"
#include "common/status.h"
#include "compute/jobs/service.h"
#include "compute/transform/spec.h"
#include "glue/registry/model_registry.h"

namespace tandem::compute::transform {

// Resolves spec.model (NotFound naming it; FailedPrecondition if the version
// is not READY, or if tandem-transform is not among tandem's helper programs
// as `helpers` finds them) and submits the job (the job service's validation
// errors as they are: a missing input names the `input` channel and the path).
StatusOr<jobs::JobRecord> SubmitTransform(const TransformSpec& spec, jobs::JobService& jobs,
                                          registry::ModelRegistry& registry,
                                          const HelperSearch& helpers = CurrentHelperSearch());

// True for jobs submitted by SubmitTransform.
bool IsTransformJob(const jobs::JobRecord& record);

// The job's JSON (JobRecord::ToJson) plus "kind": "transform" and a
// "transform" summary {model, input, output_prefix}.
Json TransformJobJson(const jobs::JobRecord& record);

}  // namespace tandem::compute::transform
