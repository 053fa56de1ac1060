#include "runtime/plugin_flavor.h"

#include <dlfcn.h>

#include <algorithm>
#include <limits>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "tandem/plugin.h"

namespace tandem::runtime {
namespace {

constexpr size_t kErrLen = 1024;

using AbiVersionFn = decltype(&tandem_plugin_abi_version);
using InitFn = decltype(&tandem_plugin_init);
using PredictFn = decltype(&tandem_plugin_predict);
using SelfTestFn = decltype(&tandem_plugin_self_test);
using DestroyFn = decltype(&tandem_plugin_destroy);

struct DlCloser {
  void operator()(void* h) const {
    if (h != nullptr) ::dlclose(h);
  }
};
using Library = std::unique_ptr<void, DlCloser>;

struct Symbols {
  AbiVersionFn abi_version = nullptr;
  InitFn init = nullptr;
  PredictFn predict = nullptr;
  SelfTestFn self_test = nullptr;
  DestroyFn destroy = nullptr;
};

template <typename Fn>
Status Resolve(void* lib, const char* name, const std::string& path, Fn* fn) {
  ::dlerror();
  void* sym = ::dlsym(lib, name);
  if (sym == nullptr) {
    return InvalidArgumentError(absl::StrCat("plugin library ", path, " does not export ", name,
                                             " (see include/tandem/plugin.h)"));
  }
  *fn = reinterpret_cast<Fn>(sym);
  return OkStatus();
}

std::string PluginMessage(const char* errbuf) {
  std::string msg(errbuf, strnlen(errbuf, kErrLen));
  return msg.empty() ? std::string("(the plugin gave no message)") : msg;
}

class PluginPredictor : public Predictor {
 public:
  PluginPredictor(Library lib, Symbols sym, void* handle, tandem_plugin_info info, std::string path,
                  std::vector<std::string> names)
      : lib_(std::move(lib)),
        sym_(sym),
        handle_(handle),
        info_(info),
        path_(std::move(path)),
        names_(std::move(names)) {}
  ~PluginPredictor() override { sym_.destroy(handle_); }  // before lib_ closes

  void SetSignature(Signature s) { signature_ = std::move(s); }

  int num_features() const override { return info_.num_features; }
  int num_outputs() const override { return info_.num_outputs; }

  Status Predict(const float* rows, size_t n_rows, size_t n_cols, float* out) const override {
    const auto width = static_cast<size_t>(info_.num_features);
    if (n_cols > width) {
      return InvalidArgumentError(
          absl::StrCat("got ", n_cols, " columns but the model takes ", width, " features"));
    }
    std::vector<float> padded;
    if (n_cols < width) {
      padded.assign(n_rows * width, std::numeric_limits<float>::quiet_NaN());
      for (size_t r = 0; r < n_rows; ++r) {
        std::copy(rows + r * n_cols, rows + (r + 1) * n_cols, padded.begin() + r * width);
      }
      rows = padded.data();
    }
    char err[kErrLen] = {0};
    if (sym_.predict(handle_, rows, n_rows, width, out, static_cast<size_t>(info_.num_outputs), err,
                     sizeof(err)) != 0) {
      return InternalError(absl::StrCat("plugin ", path_, " failed: ", PluginMessage(err)));
    }
    return OkStatus();
  }

  Status SelfTest() const {
    char err[kErrLen] = {0};
    if (sym_.self_test(handle_, err, sizeof(err)) != 0) {
      return FailedPreconditionError(
          absl::StrCat("plugin ", path_, " failed its self-test: ", PluginMessage(err)));
    }
    return OkStatus();
  }

  const Signature& signature() const override { return signature_; }
  const std::vector<std::string>& feature_names() const override { return names_; }
  // predict() is thread-safe (plugin.h): one batch per CPU.
  int batch_concurrency() const override {
    return std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  }
  std::string flavor() const override { return kPluginFlavor; }
  std::string Describe() const override {
    return absl::StrCat("native plugin ", path_, " (ABI ", TANDEM_PLUGIN_ABI_VERSION, ", ",
                        info_.num_features, " features -> ", info_.num_outputs, " outputs)");
  }

 private:
  Library lib_;
  Symbols sym_;
  void* handle_;
  tandem_plugin_info info_;
  std::string path_;
  std::vector<std::string> names_;
  Signature signature_;
};

}  // namespace

StatusOr<std::unique_ptr<Predictor>> LoadPluginModel(const ModelPackage& package) {
  const std::string& path = package.library_file;
  if (path.empty()) {
    return InvalidArgumentError(
        absl::StrCat(kManifestFile, ": field 'library' is required for flavor plugin"));
  }
  Library lib(::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL));
  if (!lib) {
    const char* why = ::dlerror();
    return InvalidArgumentError(
        absl::StrCat("cannot load plugin library ", path, ": ", why ? why : "unknown error"));
  }
  Symbols sym;
  RETURN_IF_ERROR(Resolve(lib.get(), "tandem_plugin_abi_version", path, &sym.abi_version));
  const uint32_t abi = sym.abi_version();
  if (abi != TANDEM_PLUGIN_ABI_VERSION) {
    return FailedPreconditionError(
        absl::StrCat("plugin library ", path, " was built for plugin ABI version ", abi,
                     " but this runtime speaks version ", TANDEM_PLUGIN_ABI_VERSION,
                     "; rebuild it against "
                     "the matching include/tandem/plugin.h"));
  }
  RETURN_IF_ERROR(Resolve(lib.get(), "tandem_plugin_init", path, &sym.init));
  RETURN_IF_ERROR(Resolve(lib.get(), "tandem_plugin_predict", path, &sym.predict));
  RETURN_IF_ERROR(Resolve(lib.get(), "tandem_plugin_self_test", path, &sym.self_test));
  RETURN_IF_ERROR(Resolve(lib.get(), "tandem_plugin_destroy", path, &sym.destroy));

  std::string config = "{}";
  if (auto it = package.manifest.find("config"); it != package.manifest.end() && !it->is_null()) {
    config = it->dump();
  }
  void* handle = nullptr;
  tandem_plugin_info info{0, 0};
  char err[kErrLen] = {0};
  if (sym.init(package.dir.c_str(), config.c_str(), &handle, &info, err, sizeof(err)) != 0) {
    return InvalidArgumentError(
        absl::StrCat("plugin ", path, " could not load the model: ", PluginMessage(err)));
  }
  auto predictor = std::make_unique<PluginPredictor>(std::move(lib), sym, handle, info, path,
                                                     package.feature_names);
  if (info.num_features <= 0 || info.num_outputs <= 0) {
    return InternalError(absl::StrCat("plugin ", path, " reported ", info.num_features,
                                      " features and ", info.num_outputs,
                                      " outputs per row; both must be positive"));
  }
  if (package.num_features && *package.num_features != info.num_features) {
    return InvalidArgumentError(absl::StrCat(kManifestFile, " says num_features ",
                                             *package.num_features, " but plugin ", path, " takes ",
                                             info.num_features));
  }
  ASSIGN_OR_RETURN(Signature signature, CompleteSignature(package, info.num_features,
                                                          info.num_outputs, "plugin " + path));
  predictor->SetSignature(std::move(signature));
  RETURN_IF_ERROR(predictor->SelfTest());
  return predictor;
}

}  // namespace tandem::runtime
