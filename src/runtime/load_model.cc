#include "runtime/load_model.h"

#include "absl/strings/str_cat.h"
#include "runtime/self_test.h"

namespace tandem::runtime {

StatusOr<std::unique_ptr<LoadedModel>> LoadModel(const std::string& dir) {
  static const FlavorRegistry kBuiltins = BuiltinFlavors();  // immutable
  return LoadModel(dir, kBuiltins);
}

StatusOr<std::unique_ptr<LoadedModel>> LoadModel(const std::string& dir,
                                                 const FlavorRegistry& registry) {
  ASSIGN_OR_RETURN(ModelPackage package, ReadModelPackage(dir));
  ASSIGN_OR_RETURN(const FlavorLoader* loader, registry.Find(package.flavor));
  auto predictor = (*loader)(package);
  if (!predictor.ok()) {
    return Annotate(predictor.status(), absl::StrCat("loading model package ", dir));
  }
  size_t rows = 0;
  if (!package.self_test_file.empty()) {
    ASSIGN_OR_RETURN(auto cases, ReadSelfTest(package.self_test_file));
    Status s = RunSelfTest(**predictor, cases, package.self_test_file);
    if (!s.ok()) return Annotate(s, absl::StrCat("model package ", dir, " failed its self-test"));
    rows = cases.size();
  }
  return std::make_unique<LoadedModel>(std::move(package), std::move(*predictor), rows);
}

}  // namespace tandem::runtime
