#include "runtime/xgboost_flavor.h"

#include <xgboost/c_api.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace tandem::runtime {
namespace {

struct BoosterFree {
  void operator()(void* handle) const { XGBoosterFree(handle); }
};
using Booster = std::unique_ptr<void, BoosterFree>;

Status XgbError(const std::string& what) {
  return InvalidArgumentError(absl::StrCat(what, ": ", XGBGetLastError()));
}

StatusOr<Booster> LoadBooster(const std::string& path) {
  BoosterHandle handle = nullptr;
  if (XGBoosterCreate(nullptr, 0, &handle) != 0) return XgbError("creating an XGBoost booster");
  Booster booster(handle);
  if (XGBoosterLoadModel(handle, path.c_str()) != 0) {
    return XgbError(absl::StrCat("XGBoost cannot load model file ", path));
  }
  if (XGBoosterSetParam(handle, "nthread", "1") != 0) return XgbError("setting nthread");
  return booster;
}

StatusOr<Forest> Compile(void* handle, const std::string& path) {
  bst_ulong len = 0;
  const char* data = nullptr;
  // UBJSON keeps thresholds and leaves as exact float32 (no decimal round trip).
  if (XGBoosterSaveModelToBuffer(handle, R"({"format":"ubj"})", &len, &data) != 0) {
    return XgbError(absl::StrCat("serialising model ", path));
  }
  Json doc;
  try {
    doc = Json::from_ubjson(data, data + len);
  } catch (const Json::exception& e) {
    return InvalidArgumentError(
        absl::StrCat("model ", path, ": cannot read XGBoost's UBJSON: ", e.what()));
  }
  auto forest = Forest::FromXGBoostModel(doc);
  if (!forest.ok()) return Annotate(forest.status(), absl::StrCat("model ", path));
  return forest;
}

// Rows that reach many leaves: per feature, NaN (15%), a split threshold, its
// float neighbours, or a value between thresholds.
std::vector<float> ProbeRows(const Forest& forest, size_t n_rows) {
  const auto thresholds = forest.SplitThresholds();
  const size_t width = static_cast<size_t>(forest.num_features());
  std::mt19937 rng(20240601);
  std::uniform_real_distribution<float> unit(0.0f, 1.0f);
  std::vector<float> rows(n_rows * width);
  for (size_t r = 0; r < n_rows; ++r) {
    for (size_t f = 0; f < width; ++f) {
      float& v = rows[r * width + f];
      const auto& ts = thresholds[f];
      const float u = unit(rng);
      if (u < 0.15f) {
        v = std::numeric_limits<float>::quiet_NaN();
      } else if (ts.empty()) {
        v = unit(rng);
      } else {
        const float t = ts[rng() % ts.size()];
        const float t2 = ts[rng() % ts.size()];
        if (u < 0.4f) {
          v = t;
        } else if (u < 0.55f) {
          v = std::nextafter(t, -std::numeric_limits<float>::infinity());
        } else if (u < 0.7f) {
          v = std::nextafter(t, std::numeric_limits<float>::infinity());
        } else {
          v = t + (t2 - t) * unit(rng);
        }
      }
    }
  }
  return rows;
}

Status CheckAgainstXGBoost(void* handle, const Forest& forest, const std::string& path) {
  constexpr size_t kRows = 256;
  const size_t width = static_cast<size_t>(forest.num_features());
  const std::vector<float> rows = ProbeRows(forest, kRows);
  StatusOr<std::vector<float>> predicted = PredictWithXGBoost(handle, rows.data(), kRows, width);
  if (!predicted.ok()) {
    return Annotate(predicted.status(), absl::StrCat("XGBoost cannot predict with model ", path));
  }
  const std::vector<float>& expected = *predicted;
  const size_t total = expected.size();
  const size_t outputs = static_cast<size_t>(forest.num_outputs());
  if (total != kRows * outputs) {
    return FailedPreconditionError(
        absl::StrCat("model ", path, ": XGBoost predicts ", total / kRows,
                     " outputs per row, the native evaluator ", outputs, "; refusing the model"));
  }
  std::vector<float> got(kRows * outputs);
  forest.Predict(rows.data(), kRows, width, got.data());
  for (size_t i = 0; i < got.size(); ++i) {
    const double diff = std::fabs(static_cast<double>(got[i]) - expected[i]);
    if (!(diff <= 1e-6 * std::max(1.0, std::fabs(static_cast<double>(expected[i]))))) {
      return FailedPreconditionError(absl::StrFormat(
          "model %s: the native evaluator disagrees with XGBoost on probe row %d output %d "
          "(%.9g vs %.9g); refusing the model",
          path, i / outputs, i % outputs, got[i], expected[i]));
    }
  }
  return OkStatus();
}

class XGBoostPredictor : public Predictor {
 public:
  XGBoostPredictor(Forest forest, Signature signature, std::vector<std::string> feature_names)
      : forest_(std::move(forest)),
        signature_(std::move(signature)),
        feature_names_(std::move(feature_names)) {}

  int num_features() const override { return forest_.num_features(); }
  int num_outputs() const override { return forest_.num_outputs(); }

  Status Predict(const float* rows, size_t n_rows, size_t n_cols, float* out) const override {
    if (n_cols > static_cast<size_t>(forest_.num_features())) {
      return InvalidArgumentError(absl::StrCat("rows have ", n_cols, " features; the model takes ",
                                               forest_.num_features()));
    }
    forest_.Predict(rows, n_rows, n_cols, out);
    return OkStatus();
  }

  const Signature& signature() const override { return signature_; }
  const std::vector<std::string>& feature_names() const override { return feature_names_; }
  std::string flavor() const override { return kXGBoostFlavor; }
  std::string Describe() const override {
    return absl::StrCat("xgboost objective=", forest_.objective(), " trees=", forest_.num_trees(),
                        " nodes=", forest_.num_nodes(), " features=", forest_.num_features(),
                        " outputs=", forest_.num_outputs());
  }

 private:
  Forest forest_;
  Signature signature_;
  std::vector<std::string> feature_names_;
};

}  // namespace

StatusOr<std::vector<float>> PredictWithXGBoost(void* booster, const float* rows, size_t n_rows,
                                                size_t n_cols) {
  const std::string array =
      absl::StrFormat(R"({"data": [%d, true], "shape": [%d, %d], "typestr": "<f4", "version": 3})",
                      reinterpret_cast<uintptr_t>(rows), n_rows, n_cols);
  const char* config =
      R"({"type": 0, "training": false, "iteration_begin": 0, "iteration_end": 0, "cache_id": 0,)"
      R"( "strict_shape": false, "missing": NaN})";
  const bst_ulong* shape = nullptr;
  bst_ulong dim = 0;
  const float* out = nullptr;
  if (XGBoosterPredictFromDense(booster, array.c_str(), config, nullptr, &shape, &dim, &out) != 0) {
    return XgbError("XGBoosterPredictFromDense");
  }
  bst_ulong total = 1;
  for (bst_ulong d = 0; d < dim; ++d) total *= shape[d];
  return std::vector<float>(out, out + total);
}

StatusOr<Forest> CompileXGBoostModelFile(const std::string& path) {
  ASSIGN_OR_RETURN(Booster booster, LoadBooster(path));
  return Compile(booster.get(), path);
}

StatusOr<std::unique_ptr<Predictor>> LoadXGBoostModel(const ModelPackage& package) {
  const std::string& path = package.model_file;
  ASSIGN_OR_RETURN(Booster booster, LoadBooster(path));
  ASSIGN_OR_RETURN(Forest forest, Compile(booster.get(), path));
  const int64_t features = forest.num_features();
  const int64_t outputs = forest.num_outputs();
  if (package.num_features && *package.num_features != features) {
    return InvalidArgumentError(absl::StrCat(kManifestFile, " says num_features ",
                                             *package.num_features, " but model ", path, " has ",
                                             features));
  }
  ASSIGN_OR_RETURN(Signature signature,
                   CompleteSignature(package, features, outputs, "model " + path));
  std::vector<std::string> names =
      package.feature_names.empty() ? forest.feature_names() : package.feature_names;
  RETURN_IF_ERROR(CheckAgainstXGBoost(booster.get(), forest, path));
  return std::make_unique<XGBoostPredictor>(std::move(forest), std::move(signature),
                                            std::move(names));
}

}  // namespace tandem::runtime
