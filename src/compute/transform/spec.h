// A batch transform spec (YAML or JSON), modelled on SageMaker's
// CreateTransformJob: score every object under an input prefix with a
// registered model and write `<input-name>.out` per object.
//
//   name: churn-scores
//   team: growth
//   model: churn@champion            # or churn/3, or churn (the latest READY version)
//   input:
//     uri: datasets/churn/2026-11/   # object-store prefix or absolute local path
//     content_type: text/csv         # or application/jsonlines
//   split_type: Line                 # the only split supported
//   batch_strategy: MultiRecord      # or SingleRecord
//   max_payload_mb: 6                # 1..100 (MultiRecord batches up to this)
//   max_concurrent_transforms: 2     # 1..64 scoring threads
//   assemble_with: Line
//   join_source: None                # or Input: the input line precedes its scores
//   output: {prefix: results/churn/2026-11}
//   resources: {cpus: 2, memory_mb: 4096}
//   max_runtime_seconds: 3600
//
// Validation (FromJson): unknown or ill-typed fields -> InvalidArgument
// naming the field's full path ("unknown field 'input.url'").
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/json.h"
#include "common/status.h"
#include "compute/jobs/spec.h"
#include "glue/registry/names.h"

namespace tandem::compute::transform {

enum class TransformContentType { kCsv, kJsonLines };
enum class BatchStrategy { kMultiRecord, kSingleRecord };

// "text/csv" / "application/jsonlines" and back (also accepts
// application/x-jsonlines and application/jsonl); unknown -> InvalidArgument.
std::string_view ContentTypeName(TransformContentType t);
StatusOr<TransformContentType> ParseContentType(std::string_view s);
std::string_view BatchStrategyName(BatchStrategy b);
StatusOr<BatchStrategy> ParseBatchStrategy(std::string_view s);

struct TransformSpec {
  std::string name;  // job name rule ([A-Za-z0-9-]{1,63}); optional
  std::string team = "default";
  registry::ModelRef model;  // NAME, NAME@alias or NAME/version
  std::string input_uri;
  TransformContentType content_type = TransformContentType::kCsv;
  BatchStrategy batch_strategy = BatchStrategy::kMultiRecord;
  int64_t max_payload_mb = 6;
  int max_concurrent_transforms = 1;
  bool join_input = false;    // join_source: Input
  std::string output_prefix;  // object-store key prefix, required
  jobs::Resources resources;
  int64_t max_runtime_seconds = 86'400;

  bool operator==(const TransformSpec&) const = default;

  Json ToJson() const;  // FromJson(ToJson()) == *this
  static StatusOr<TransformSpec> FromJson(const Json& j);
  // YAML or JSON text, then FromJson.
  static StatusOr<TransformSpec> Parse(std::string_view text);
};

// Hyperparameter names carrying the transform settings to tandem-transform
// (rendered as `--key value` arguments by the training contract).
inline constexpr char kTransformModelChannel[] = "model";
inline constexpr char kTransformInputChannel[] = "input";

// The helper program a transform job runs (common/helper_programs.h).
inline constexpr char kTransformProgram[] = "tandem-transform";

// The training job that runs `spec`: entry_point
// /opt/tandem-libexec/tandem-transform (jobs::kHelperDir, where every job sees
// tandem's helper programs wherever tandem is installed), channels `model` (`model_source`: the
// registry version's artifact, a digest or key of a model.tar.gz or a
// directory) and `input`, the settings as hyperparameters, and
// `publish_prefix` = output.prefix so each `<input-name>.out` left in
// /opt/ml/output/data is uploaded there.
jobs::JobSpec TransformJobSpec(const TransformSpec& spec, const std::string& model_source);

// The kind of transform jobs (jobs::JobSpec::Kind(), marked through
// jobs::kJobKindVariable), so stores and listings can tell them apart.
inline constexpr char kTransformKind[] = "transform";
using jobs::kJobKindVariable;

}  // namespace tandem::compute::transform
