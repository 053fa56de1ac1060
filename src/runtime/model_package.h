// A model package: the directory a training job left in /opt/ml/model
// (unpacked from model.tar.gz), described by an optional tandem-model.yaml
// manifest, else by the single model file found in it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/json.h"
#include "common/status.h"

namespace tandem::runtime {

// One named tensor of a model's signature (Open Inference Protocol terms).
struct TensorSpec {
  std::string name;
  std::string datatype;        // FP32, FP64, INT8..INT64, UINT8..UINT64, BOOL, BYTES
  std::vector<int64_t> shape;  // -1 = variable (the batch dimension)
};

struct Signature {
  std::vector<TensorSpec> inputs;
  std::vector<TensorSpec> outputs;
  bool empty() const { return inputs.empty() && outputs.empty(); }
};

struct ModelPackage {
  std::string dir;             // the package directory as given
  std::string flavor;          // e.g. "xgboost"
  std::string model_file;      // path of the model file (dir + "/" + name)
  std::string self_test_file;  // path of the self-test file, empty if none
  std::string handler_file;    // flavor "python": the `handler` (handler.py) path
  std::string library_file;    // flavor "plugin": the `library` (libfoo.so) path
  Signature signature;         // empty if the manifest declares none
  std::optional<int64_t> num_features;
  std::vector<std::string> feature_names;  // empty if not declared
  bool has_manifest = false;               // true if tandem-model.yaml was read
  Json manifest = Json::object();          // the whole manifest (flavor options)
};

inline constexpr char kManifestFile[] = "tandem-model.yaml";
inline constexpr char kDefaultSelfTestFile[] = "self_test.jsonl";

// Reads the package in `dir`. With tandem-model.yaml: every field is
// validated (a bad one -> InvalidArgument naming the field; a named file that
// does not exist -> NotFound). Without it the flavor is detected: exactly one
// XGBoost model file (`.json` holding a "learner", `.ubj`, or a legacy binary
// `.bin`/`.model`/`.xgb`/`xgboost-model`); none or several -> InvalidArgument
// naming the directory and what was found. A `self_test.jsonl` beside the
// model is picked up in both cases unless the manifest names another file.
StatusOr<ModelPackage> ReadModelPackage(const std::string& dir);

// The second dimension of a single [-1, N] tensor when one is declared, else -1.
int64_t DeclaredWidth(const std::vector<TensorSpec>& tensors);

// The package's signature completed for a model with `features` inputs and
// `outputs` scores per row: a declared [-1, N] width that disagrees ->
// InvalidArgument naming `model`; undeclared tensors become
// input/output FP32 [-1, N].
StatusOr<Signature> CompleteSignature(const ModelPackage& package, int64_t features,
                                      int64_t outputs, const std::string& model);

// Parses a signature object {inputs: [...], outputs: [...]}; errors name the
// field, prefixed by `field` (e.g. "signature").
StatusOr<Signature> ParseSignature(const Json& value, const std::string& field);

}  // namespace tandem::runtime
