#include "runtime/python_flavor.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>

#include "absl/strings/str_cat.h"
#include "runtime/self_test.h"

namespace tandem::runtime {
namespace {

Status OptionError(const std::string& field, const std::string& what) {
  return InvalidArgumentError(absl::StrCat(kManifestFile, ": field 'python.", field, "' ", what));
}

StatusOr<int64_t> PositiveInt(const Json& v, const std::string& field) {
  if (!v.is_number_integer() || v.get<int64_t>() < 1) {
    return OptionError(field, "must be a positive integer");
  }
  return v.get<int64_t>();
}

class PythonPredictor : public Predictor {
 public:
  PythonPredictor(std::unique_ptr<PythonHandlerPool> pool, std::string handler, int features,
                  std::vector<std::string> names)
      : pool_(std::move(pool)),
        handler_(std::move(handler)),
        features_(features),
        names_(std::move(names)) {}

  void Finish(int outputs, Signature signature) {
    outputs_ = outputs;
    signature_ = std::move(signature);
  }

  int num_features() const override { return features_; }
  int num_outputs() const override { return outputs_; }

  Status Predict(const float* rows, size_t n_rows, size_t n_cols, float* out) const override {
    if (n_cols > static_cast<size_t>(features_)) {
      return InvalidArgumentError(
          absl::StrCat("got ", n_cols, " columns but the model takes ", features_, " features"));
    }
    std::vector<float> padded;
    if (n_cols < static_cast<size_t>(features_)) {
      padded.assign(n_rows * features_, std::numeric_limits<float>::quiet_NaN());
      for (size_t r = 0; r < n_rows; ++r) {
        std::copy(rows + r * n_cols, rows + (r + 1) * n_cols, padded.begin() + r * features_);
      }
      rows = padded.data();
      n_cols = static_cast<size_t>(features_);
    }
    std::vector<float> scores;
    size_t n_out = 0;
    RETURN_IF_ERROR(pool_->Predict(rows, n_rows, n_cols, scores, &n_out));
    if (outputs_ > 0 && n_out != static_cast<size_t>(outputs_)) {
      return InternalError(absl::StrCat("handler ", handler_, " returned ", n_out,
                                        " scores per row, the model declares ", outputs_));
    }
    std::copy(scores.begin(), scores.end(), out);
    return OkStatus();
  }

  // Predicts one zero row to learn the number of scores per row.
  StatusOr<int> Probe() const {
    std::vector<float> row(static_cast<size_t>(features_), 0.0f), scores;
    size_t n_out = 0;
    Status s = pool_->Predict(row.data(), 1, row.size(), scores, &n_out);
    if (!s.ok()) return Annotate(s, "probing the handler's output width on a zero row");
    return static_cast<int>(n_out);
  }

  const PythonHandlerPool& pool() const { return *pool_; }
  const Signature& signature() const override { return signature_; }
  const std::vector<std::string>& feature_names() const override { return names_; }
  // Each worker process scores one batch at a time.
  int batch_concurrency() const override { return std::max(1, pool_->stats().workers); }
  std::string flavor() const override { return kPythonFlavor; }
  std::string Describe() const override {
    PythonPoolStats st = pool_->stats();
    const PythonPoolOptions& o = pool_->options();
    return absl::StrCat("python handler ", handler_, " (", st.workers, " workers, ",
                        o.interpreter, o.sandbox ? " in image " + o.sandbox->image : "", ")");
  }

 private:
  std::unique_ptr<PythonHandlerPool> pool_;
  std::string handler_;
  int features_;
  int outputs_ = 0;
  std::vector<std::string> names_;
  Signature signature_;
};

}  // namespace

StatusOr<PythonPoolOptions> PythonOptionsFor(const ModelPackage& package) {
  PythonPoolOptions o;
  if (const char* py = std::getenv("TANDEM_PYTHON"); py != nullptr && *py != '\0') {
    o.interpreter = py;
  }
  if (const char* w = std::getenv("TANDEM_PYTHON_WORKERS"); w != nullptr && *w != '\0') {
    char* end = nullptr;
    long n = std::strtol(w, &end, 10);
    if (*end != '\0' || n < 1 || n > 1024) {
      return InvalidArgumentError(
          absl::StrCat("TANDEM_PYTHON_WORKERS must be an integer 1..1024, got '", w, "'"));
    }
    o.workers = static_cast<int>(n);
  }
  auto section = package.manifest.find("python");
  if (section == package.manifest.end() || section->is_null()) return o;
  if (!section->is_object()) {
    return InvalidArgumentError(absl::StrCat(kManifestFile, ": field 'python' must be a mapping"));
  }
  for (const auto& [key, v] : section->items()) {
    if (key == "workers") {
      ASSIGN_OR_RETURN(int64_t n, PositiveInt(v, key));
      if (n > 1024) return OptionError(key, "must be at most 1024");
      o.workers = static_cast<int>(n);
    } else if (key == "timeout_ms") {
      ASSIGN_OR_RETURN(int64_t n, PositiveInt(v, key));
      o.timeout = std::chrono::milliseconds(n);
    } else if (key == "start_timeout_ms") {
      ASSIGN_OR_RETURN(int64_t n, PositiveInt(v, key));
      o.start_timeout = std::chrono::milliseconds(n);
    } else if (key == "interpreter") {
      if (!v.is_string() || v.get<std::string>().empty()) {
        return OptionError(key, "must be a non-empty path");
      }
      o.interpreter = v.get<std::string>();
    } else if (key == "env") {
      if (!v.is_object()) return OptionError(key, "must be a mapping of names to values");
      for (const auto& [name, value] : v.items()) {
        if (!value.is_string() && !value.is_number() && !value.is_boolean()) {
          return OptionError(absl::StrCat("env.", name), "must be a string or number");
        }
        o.env[name] = value.is_string() ? value.get<std::string>() : value.dump();
      }
    } else if (key == "test_tolerance") {
      if (!v.is_number() || v.get<double>() < 0) return OptionError(key, "must be a number >= 0");
    } else {
      return OptionError(key,
                         "is not a python option (workers, timeout_ms, start_timeout_ms, "
                         "interpreter, env, test_tolerance)");
    }
  }
  return o;
}

StatusOr<std::unique_ptr<Predictor>> LoadPythonModel(const ModelPackage& package) {
  return LoadPythonModelIn(package, nullptr);
}

StatusOr<std::unique_ptr<Predictor>> LoadPythonModelIn(const ModelPackage& package,
                                                       const WorkerSandbox* sandbox) {
  if (package.handler_file.empty()) {
    return InvalidArgumentError(
        absl::StrCat(kManifestFile, ": field 'handler' is required for flavor python"));
  }
  ASSIGN_OR_RETURN(PythonPoolOptions options, PythonOptionsFor(package));
  if (sandbox != nullptr) {
    // The image's python3 (on its PATH) unless the package names one; the
    // host's TANDEM_PYTHON means nothing inside an image.
    options.interpreter = "python3";
    if (auto p = package.manifest.find("python"); p != package.manifest.end() && p->is_object()) {
      if (auto i = p->find("interpreter"); i != p->end()) options.interpreter = i->get<std::string>();
    }
    options.sandbox = *sandbox;
  }
  double tolerance = kDefaultSelfTestTolerance;
  if (auto p = package.manifest.find("python"); p != package.manifest.end() && p->is_object()) {
    if (auto t = p->find("test_tolerance"); t != p->end()) tolerance = t->get<double>();
  }
  ASSIGN_OR_RETURN(auto pool,
                   PythonHandlerPool::Start(package.handler_file, package.dir, std::move(options)));
  const HandlerTestData& td = pool->test_data();
  if (td.inputs.size() != td.outputs.size()) {
    return InvalidArgumentError(absl::StrCat("test_data() of ", package.handler_file, " has ",
                                             td.inputs.size(), " input rows but ",
                                             td.outputs.size(), " output rows"));
  }
  int64_t features = package.num_features.value_or(DeclaredWidth(package.signature.inputs));
  if (features <= 0) features = pool->reported_features();
  if (features <= 0 && !td.inputs.empty()) features = static_cast<int64_t>(td.inputs[0].size());
  if (features <= 0) {
    return InvalidArgumentError(
        absl::StrCat("model package ", package.dir,
                     " (flavor python) does not say how many features it takes: "
                     "set num_features in ",
                     kManifestFile, " or a signature input [-1, N]"));
  }
  std::vector<std::string> names = package.feature_names;
  const std::string handler = package.handler_file;
  auto predictor = std::make_unique<PythonPredictor>(std::move(pool), handler,
                                                     static_cast<int>(features), std::move(names));
  int64_t outputs = DeclaredWidth(package.signature.outputs);
  if (outputs <= 0 && !td.outputs.empty()) outputs = static_cast<int64_t>(td.outputs[0].size());
  if (outputs <= 0) {
    ASSIGN_OR_RETURN(int probed, predictor->Probe());
    outputs = probed;
  }
  ASSIGN_OR_RETURN(Signature signature,
                   CompleteSignature(package, features, outputs, "handler " + handler));
  predictor->Finish(static_cast<int>(outputs), std::move(signature));

  if (!td.inputs.empty()) {
    std::vector<SelfTestCase> cases;
    for (size_t i = 0; i < td.inputs.size(); ++i) {
      cases.push_back({static_cast<int>(i + 1), td.inputs[i], td.outputs[i], tolerance});
    }
    Status s = RunSelfTest(*predictor, cases, absl::StrCat(handler, " test_data()"));
    if (!s.ok()) return Annotate(s, "the handler's test_data() check failed");
  }
  return predictor;
}

}  // namespace tandem::runtime
