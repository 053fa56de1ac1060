#include "runtime/model_package.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <system_error>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/yaml.h"

namespace tandem::runtime {
namespace {

namespace fs = std::filesystem;

const std::set<std::string>& Datatypes() {
  static const std::set<std::string> kTypes = {"BOOL", "UINT8", "UINT16", "UINT32", "UINT64",
                                               "INT8", "INT16", "INT32",  "INT64",  "FP16",
                                               "FP32", "FP64",  "BYTES"};
  return kTypes;
}

Status FieldError(const std::string& field, const std::string& what) {
  return InvalidArgumentError(absl::StrCat(kManifestFile, ": field '", field, "' ", what));
}

StatusOr<std::string> OptionalString(const Json& doc, const std::string& field) {
  auto it = doc.find(field);
  if (it == doc.end() || it->is_null()) return std::string();
  if (!it->is_string() || it->get<std::string>().empty()) {
    return FieldError(field, "must be a non-empty string");
  }
  return it->get<std::string>();
}

// A file named by the manifest: relative, inside the package, existing.
StatusOr<std::string> PackageFile(const std::string& dir, const std::string& field,
                                  const std::string& name) {
  const fs::path p(name);
  if (p.is_absolute() ||
      std::any_of(p.begin(), p.end(), [](const fs::path& c) { return c == ".."; })) {
    return FieldError(field, absl::StrCat("must be a path inside the package, got '", name, "'"));
  }
  const std::string path = (fs::path(dir) / p).string();
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) {
    return NotFoundError(absl::StrCat(kManifestFile, ": field '", field, "' names '", name,
                                      "', which is not a file in ", dir));
  }
  return path;
}

bool ReadPrefixHasLearner(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  auto parsed = ParseJson(ss.str());
  return parsed.ok() && parsed->is_object() && parsed->contains("learner");
}

// Flavor detection for a package without a manifest.
Status DetectFlavor(const std::string& dir, ModelPackage* package) {
  std::vector<std::string> files, candidates;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (!entry.is_regular_file()) continue;
    const std::string name = entry.path().filename().string();
    files.push_back(name);
    const std::string ext = entry.path().extension().string();
    if (ext == ".json") {
      if (ReadPrefixHasLearner(entry.path().string())) candidates.push_back(name);
    } else if (ext == ".ubj" || ext == ".bin" || ext == ".model" || ext == ".xgb" ||
               name == "xgboost-model") {
      candidates.push_back(name);
    }
  }
  if (ec) return InvalidArgumentError(absl::StrCat("cannot list ", dir, ": ", ec.message()));
  std::sort(files.begin(), files.end());
  std::sort(candidates.begin(), candidates.end());
  if (candidates.size() == 1) {
    package->flavor = "xgboost";
    package->model_file = (fs::path(dir) / candidates[0]).string();
    return OkStatus();
  }
  if (candidates.empty()) {
    return InvalidArgumentError(absl::StrCat(
        "model package ", dir, " has no ", kManifestFile,
        " and no recognisable model file (XGBoost .json with a \"learner\", .ubj, .bin, "
        ".model, .xgb); found: ",
        files.empty() ? "nothing" : absl::StrJoin(files, ", ")));
  }
  return InvalidArgumentError(
      absl::StrCat("model package ", dir, " has no ", kManifestFile, " and several model files (",
                   absl::StrJoin(candidates, ", "), "); add a manifest naming model_file"));
}

StatusOr<TensorSpec> ParseTensor(const Json& value, const std::string& field) {
  if (!value.is_object()) return FieldError(field, "must be a mapping {name, datatype, shape}");
  TensorSpec spec;
  auto name = value.find("name");
  if (name == value.end() || !name->is_string() || name->get<std::string>().empty()) {
    return FieldError(field + ".name", "must be a non-empty string");
  }
  spec.name = name->get<std::string>();
  auto datatype = value.find("datatype");
  if (datatype == value.end() || !datatype->is_string() ||
      !Datatypes().contains(datatype->get<std::string>())) {
    return FieldError(field + ".datatype",
                      absl::StrCat("must be one of ", absl::StrJoin(Datatypes(), ", ")));
  }
  spec.datatype = datatype->get<std::string>();
  auto shape = value.find("shape");
  if (shape == value.end() || !shape->is_array()) {
    return FieldError(field + ".shape", "must be a list of integers (-1 = variable)");
  }
  for (const Json& d : *shape) {
    if (!d.is_number_integer() || d.get<int64_t>() < -1) {
      return FieldError(field + ".shape", "must be a list of integers (-1 = variable)");
    }
    spec.shape.push_back(d.get<int64_t>());
  }
  return spec;
}

}  // namespace

int64_t DeclaredWidth(const std::vector<TensorSpec>& tensors) {
  return tensors.size() == 1 && tensors[0].shape.size() == 2 ? tensors[0].shape[1] : -1;
}

StatusOr<Signature> CompleteSignature(const ModelPackage& package, int64_t features,
                                      int64_t outputs, const std::string& model) {
  Signature sig = package.signature;
  if (int64_t w = DeclaredWidth(sig.inputs); w > 0 && w != features) {
    return InvalidArgumentError(absl::StrCat(kManifestFile, " signature input shape has ", w,
                                             " features but ", model, " takes ", features));
  }
  if (int64_t w = DeclaredWidth(sig.outputs); w > 0 && w != outputs) {
    return InvalidArgumentError(absl::StrCat(kManifestFile, " signature output shape has ", w,
                                             " scores per row but ", model, " produces ", outputs));
  }
  if (sig.inputs.empty()) sig.inputs.push_back({"input", "FP32", {-1, features}});
  if (sig.outputs.empty()) sig.outputs.push_back({"output", "FP32", {-1, outputs}});
  return sig;
}

StatusOr<Signature> ParseSignature(const Json& value, const std::string& field) {
  if (!value.is_object()) return FieldError(field, "must be a mapping {inputs, outputs}");
  Signature sig;
  for (const char* key : {"inputs", "outputs"}) {
    auto it = value.find(key);
    if (it == value.end()) continue;
    const std::string sub = absl::StrCat(field, ".", key);
    if (!it->is_array()) return FieldError(sub, "must be a list of tensors");
    auto& list = std::string(key) == "inputs" ? sig.inputs : sig.outputs;
    std::set<std::string> names;
    for (size_t i = 0; i < it->size(); ++i) {
      ASSIGN_OR_RETURN(TensorSpec spec, ParseTensor((*it)[i], absl::StrCat(sub, "[", i, "]")));
      if (!names.insert(spec.name).second) {
        return FieldError(absl::StrCat(sub, "[", i, "].name"),
                          absl::StrCat("repeats '", spec.name, "'"));
      }
      list.push_back(std::move(spec));
    }
  }
  for (const auto& [key, _] : value.items()) {
    if (key != "inputs" && key != "outputs") {
      return FieldError(absl::StrCat(field, ".", key), "is not a signature field");
    }
  }
  return sig;
}

StatusOr<ModelPackage> ReadModelPackage(const std::string& dir) {
  std::error_code ec;
  if (!fs::exists(dir, ec)) return NotFoundError(absl::StrCat("model package ", dir, " not found"));
  if (!fs::is_directory(dir, ec)) {
    return InvalidArgumentError(absl::StrCat("model package ", dir, " is not a directory"));
  }
  ModelPackage package;
  package.dir = dir;
  const std::string manifest_path = (fs::path(dir) / kManifestFile).string();
  if (!fs::exists(manifest_path, ec)) {
    RETURN_IF_ERROR(DetectFlavor(dir, &package));
    const std::string self_test = (fs::path(dir) / kDefaultSelfTestFile).string();
    if (fs::is_regular_file(self_test, ec)) package.self_test_file = self_test;
    return package;
  }

  auto doc = ReadYamlFile(manifest_path);
  if (!doc.ok()) return Annotate(doc.status(), absl::StrCat("model package ", dir));
  if (!doc->is_object()) {
    return InvalidArgumentError(absl::StrCat(kManifestFile, " in ", dir, " is not a mapping"));
  }
  package.has_manifest = true;
  package.manifest = *doc;
  ASSIGN_OR_RETURN(package.flavor, OptionalString(*doc, "flavor"));
  ASSIGN_OR_RETURN(std::string model_file, OptionalString(*doc, "model_file"));
  if (package.flavor.empty() && model_file.empty()) {
    RETURN_IF_ERROR(DetectFlavor(dir, &package));
  } else if (package.flavor.empty()) {
    return FieldError("flavor", "is required when model_file is given");
  } else if (model_file.empty()) {
    if (package.flavor != "xgboost" && package.flavor != "python" && package.flavor != "plugin") {
      return FieldError("model_file", "is required");
    }
    if (package.flavor == "xgboost") {
      ModelPackage detected;
      RETURN_IF_ERROR(DetectFlavor(dir, &detected));
      package.model_file = detected.model_file;
    }
  } else {
    ASSIGN_OR_RETURN(package.model_file, PackageFile(dir, "model_file", model_file));
  }
  // Code shipped with the model: `handler` (python) or `library` (plugin).
  for (const auto& [flavor, field, path] :
       {std::tuple{"python", "handler", &package.handler_file},
        std::tuple{"plugin", "library", &package.library_file}}) {
    if (package.flavor != flavor) continue;
    ASSIGN_OR_RETURN(std::string name, OptionalString(*doc, field));
    if (name.empty()) return FieldError(field, absl::StrCat("is required for flavor ", flavor));
    ASSIGN_OR_RETURN(*path, PackageFile(dir, field, name));
  }

  ASSIGN_OR_RETURN(std::string self_test, OptionalString(*doc, "self_test"));
  if (!self_test.empty()) {
    ASSIGN_OR_RETURN(package.self_test_file, PackageFile(dir, "self_test", self_test));
  } else {
    const std::string path = (fs::path(dir) / kDefaultSelfTestFile).string();
    if (fs::is_regular_file(path, ec)) package.self_test_file = path;
  }

  if (auto it = doc->find("signature"); it != doc->end() && !it->is_null()) {
    ASSIGN_OR_RETURN(package.signature, ParseSignature(*it, "signature"));
  }
  if (auto it = doc->find("num_features"); it != doc->end() && !it->is_null()) {
    if (!it->is_number_integer() || it->get<int64_t>() < 1) {
      return FieldError("num_features", "must be a positive integer");
    }
    package.num_features = it->get<int64_t>();
  }
  if (auto it = doc->find("feature_names"); it != doc->end() && !it->is_null()) {
    if (!it->is_array()) return FieldError("feature_names", "must be a list of strings");
    for (const Json& n : *it) {
      if (!n.is_string()) return FieldError("feature_names", "must be a list of strings");
      package.feature_names.push_back(n.get<std::string>());
    }
    if (package.num_features &&
        static_cast<int64_t>(package.feature_names.size()) != *package.num_features) {
      return FieldError("feature_names",
                        absl::StrCat("has ", package.feature_names.size(),
                                     " names but num_features is ", *package.num_features));
    }
  }
  return package;
}

}  // namespace tandem::runtime
