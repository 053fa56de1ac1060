#include "runtime/flavor_registry.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "runtime/plugin_flavor.h"
#include "runtime/python_flavor.h"
#include "runtime/xgboost_flavor.h"

namespace tandem::runtime {

Status FlavorRegistry::Register(const std::string& flavor, FlavorLoader loader) {
  if (flavor.empty() || !loader) {
    return InvalidArgumentError("a flavor needs a non-empty name and a loader");
  }
  if (!loaders_.emplace(flavor, std::move(loader)).second) {
    return AlreadyExistsError(absl::StrCat("flavor '", flavor, "' is already registered"));
  }
  return OkStatus();
}

StatusOr<const FlavorLoader*> FlavorRegistry::Find(const std::string& flavor) const {
  auto it = loaders_.find(flavor);
  if (it == loaders_.end()) {
    return InvalidArgumentError(absl::StrCat(
        "unknown model flavor '", flavor, "' (registered: ", absl::StrJoin(flavors(), ", "), ")"));
  }
  return &it->second;
}

std::vector<std::string> FlavorRegistry::flavors() const {
  std::vector<std::string> names;
  for (const auto& [name, _] : loaders_) names.push_back(name);
  return names;
}

FlavorRegistry BuiltinFlavors() {
  FlavorRegistry registry;
  Status s = registry.Register(kXGBoostFlavor, LoadXGBoostModel);
  s.Update(registry.Register(kPythonFlavor, LoadPythonModel));
  s.Update(registry.Register(kPluginFlavor, LoadPluginModel));
  (void)s;  // cannot fail on an empty registry
  return registry;
}

FlavorRegistry ImageFlavors(SandboxProvider provider) {
  FlavorRegistry registry;
  Status s = registry.Register(kXGBoostFlavor, LoadXGBoostModel);
  s.Update(registry.Register(
      kPythonFlavor,
      [provider = std::move(provider)](
          const ModelPackage& package) -> StatusOr<std::unique_ptr<Predictor>> {
        ASSIGN_OR_RETURN(WorkerSandbox sandbox, provider());
        return LoadPythonModelIn(package, &sandbox);
      }));
  s.Update(registry.Register(kPluginFlavor, LoadPluginModel));
  (void)s;  // cannot fail on an empty registry
  return registry;
}

}  // namespace tandem::runtime
