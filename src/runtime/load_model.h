// LoadModel: package -> flavor loader -> predictor -> self-test. A model that
// fails any step is never returned.
#pragma once

#include <memory>
#include <string>

#include "common/status.h"
#include "runtime/flavor_registry.h"
#include "runtime/model_package.h"
#include "runtime/predictor.h"

namespace tandem::runtime {

// A loaded, self-tested model. Immutable; share it across threads freely.
class LoadedModel {
 public:
  LoadedModel(ModelPackage package, std::unique_ptr<Predictor> predictor, size_t self_test_rows)
      : package_(std::move(package)),
        predictor_(std::move(predictor)),
        self_test_rows_(self_test_rows) {}

  const ModelPackage& package() const { return package_; }
  const Predictor& predictor() const { return *predictor_; }
  // Rows of the package's self-test that passed at load (0 if none shipped).
  size_t self_test_rows() const { return self_test_rows_; }

 private:
  ModelPackage package_;
  std::unique_ptr<Predictor> predictor_;
  size_t self_test_rows_;
};

// Loads the package in `dir` with the built-in flavors, then runs its
// self-test; a failing self-test fails the load, naming the first bad row.
StatusOr<std::unique_ptr<LoadedModel>> LoadModel(const std::string& dir);
// Same with a caller-built registry (extra flavors).
StatusOr<std::unique_ptr<LoadedModel>> LoadModel(const std::string& dir,
                                                 const FlavorRegistry& registry);

}  // namespace tandem::runtime
