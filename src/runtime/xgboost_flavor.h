// The "xgboost" flavor: the model file is loaded with the XGBoost C API,
// compiled into a native Forest, and checked against XGBoost's own
// predictions on probe rows before it is accepted. XGBoost is not used on
// the prediction path (and its headers stay out of this one).
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "runtime/forest.h"
#include "runtime/model_package.h"
#include "runtime/predictor.h"

namespace tandem::runtime {

inline constexpr char kXGBoostFlavor[] = "xgboost";

// Loads any model file XGBoost 1.7 reads (.json, .ubj, legacy binary) and
// compiles it. A file XGBoost cannot read -> InvalidArgument naming it.
StatusOr<Forest> CompileXGBoostModelFile(const std::string& path);

// FlavorLoader for "xgboost": compile, check against the package's manifest
// (num_features, signature shapes), then verify the native evaluator against
// XGBoost on probe rows (including NaNs and values equal to thresholds); any
// disagreement refuses the model (FailedPrecondition).
StatusOr<std::unique_ptr<Predictor>> LoadXGBoostModel(const ModelPackage& package);

// XGBoost's own predictions for `n_rows` dense float rows of `n_cols` (NaN =
// missing) from a booster handle of the C API (BoosterHandle): every output
// of every row, row-major. The reference the native evaluator is checked
// against, here and in tests. InvalidArgument carrying XGBoost's error.
StatusOr<std::vector<float>> PredictWithXGBoost(void* booster, const float* rows, size_t n_rows,
                                                size_t n_cols);

}  // namespace tandem::runtime
