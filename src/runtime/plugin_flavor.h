// The "plugin" flavor: a model package shipping a native shared library that
// implements the C ABI of include/tandem/plugin.h.
//
//   flavor: plugin
//   library: liblinear_plugin.so   # inside the package
//   config: {link: logistic}       # optional; passed to init() as JSON text
//
// Loading: dlopen (RTLD_NOW | RTLD_LOCAL) -> every ABI symbol resolved (a
// missing one -> InvalidArgument naming it) -> tandem_plugin_abi_version()
// must equal TANDEM_PLUGIN_ABI_VERSION (else FailedPrecondition naming both)
// -> init -> self_test (a failure refuses the model: FailedPrecondition with
// the plugin's message). Plugin errors from predict -> Internal with the
// plugin's message. A declared num_features/signature must agree with what
// init reports.
#pragma once

#include <memory>

#include "common/status.h"
#include "runtime/model_package.h"
#include "runtime/predictor.h"

namespace tandem::runtime {

inline constexpr char kPluginFlavor[] = "plugin";

// FlavorLoader for "plugin".
StatusOr<std::unique_ptr<Predictor>> LoadPluginModel(const ModelPackage& package);

}  // namespace tandem::runtime
