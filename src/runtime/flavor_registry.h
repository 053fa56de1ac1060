// Flavor -> loader table. Loaders are registered explicitly by whoever
// builds the registry (no static self-registration): BuiltinFlavors() adds
// the three built-in ones (xgboost, python, plugin); a caller may register
// more on top.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "runtime/model_package.h"
#include "runtime/predictor.h"
#include "runtime/worker_sandbox.h"

namespace tandem::runtime {

// Builds a predictor from a package whose flavor it handles. Must be safe to
// call from several threads at once.
using FlavorLoader =
    std::function<StatusOr<std::unique_ptr<Predictor>>(const ModelPackage& package)>;

// Not thread-safe to mutate; const use (Find) is thread-safe.
class FlavorRegistry {
 public:
  // AlreadyExists if `flavor` is taken; InvalidArgument if empty/null.
  Status Register(const std::string& flavor, FlavorLoader loader);
  // InvalidArgument naming the flavor and the registered ones if unknown.
  StatusOr<const FlavorLoader*> Find(const std::string& flavor) const;
  std::vector<std::string> flavors() const;

 private:
  std::map<std::string, FlavorLoader> loaders_;
};

// A registry with the built-in flavors ("xgboost", "python", "plugin").
FlavorRegistry BuiltinFlavors();
// The built-in flavors with Python handler workers inside an image
// (docs/images.md): "python" runs its workers under the sandbox `provider`
// returns, asking it at each python load (so an image is only pulled when a
// Python handler needs it; its error fails that load); the native flavors
// (xgboost, and plugin libraries, which load into the serving process
// itself) are unchanged. `provider` must be thread-safe.
using SandboxProvider = std::function<StatusOr<WorkerSandbox>()>;
FlavorRegistry ImageFlavors(SandboxProvider provider);

}  // namespace tandem::runtime
