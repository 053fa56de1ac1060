// The runtime's prediction interface, implemented by each flavor: the native
// XGBoost forest (xgboost_flavor.h), Python handlers (python_flavor.h) and
// C-ABI plugins (plugin_flavor.h).
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "common/status.h"
#include "runtime/model_package.h"

namespace tandem::runtime {

class Predictor {
 public:
  virtual ~Predictor() = default;

  // Number of input features the model was trained on.
  virtual int num_features() const = 0;
  // Scores per row: 1 for binary/regression (and multi:softmax), num_class
  // for multi:softprob.
  virtual int num_outputs() const = 0;

  // Scores `n_rows` rows of a dense row-major float matrix with `n_cols`
  // columns (NaN = missing; columns past n_cols count as missing; more
  // columns than num_features() -> InvalidArgument) into `out`, which must
  // hold n_rows * num_outputs() floats. Thread-safe; on the native path it
  // neither allocates nor parses anything.
  virtual Status Predict(const float* rows, size_t n_rows, size_t n_cols, float* out) const = 0;

  // The model's declared (or derived) signature; stable for the lifetime.
  virtual const Signature& signature() const = 0;
  // Feature names from the manifest or the model file; may be empty.
  virtual const std::vector<std::string>& feature_names() const = 0;
  // How many batches may usefully run at once when requests are batched
  // (e.g. a Python pool's workers); 0 = batching does not pay (one row costs
  // about the same alone as in a batch), so requests run one by one.
  virtual int batch_concurrency() const { return 0; }
  // The flavor that built this predictor, e.g. "xgboost".
  virtual std::string flavor() const = 0;
  // One line describing the model, for logs (objective, trees, ...).
  virtual std::string Describe() const = 0;
};

}  // namespace tandem::runtime
