// The "xgboost" flavor: the model file is loaded with the XGBoost C API,
// compiled into a native Forest, and checked against XGBoost's own
// predictions on probe rows before it is accepted. XGBoost is not used on
// the prediction path (and its headers stay out of this one).
#pragma once

#include <memory>
#include <string>

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

}  // namespace tandem::runtime
