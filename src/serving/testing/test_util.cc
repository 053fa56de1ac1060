#include "serving/testing/test_util.h"

#include <xgboost/c_api.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <memory>
#include <random>

#include "common/clock.h"
#include "common/ids.h"

namespace tandem::serving::testing {

namespace fs = std::filesystem;

std::vector<float> Rows(size_t n_rows, int n_cols, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  std::vector<float> rows(n_rows * static_cast<size_t>(n_cols));
  for (float& v : rows) v = unit(rng) < 0.05 ? NAN : normal(rng);
  return rows;
}

Status WritePackage(const std::string& dir, const ModelSpec& spec) {
  fs::create_directories(dir);
  const size_t n = 500;
  const int m = spec.num_features;
  std::vector<float> x = Rows(n, m, spec.seed);
  std::vector<float> y(n);
  for (size_t r = 0; r < n; ++r) {
    auto at = [&](int c) {
      float v = x[r * m + c % m];
      return std::isnan(v) ? 0.0f : v;
    };
    float s = at(0) + 0.5f * at(1) * at(2) - at(3);
    y[r] = spec.num_class > 1 ? static_cast<float>(s < -0.5f ? 0 : (s < 0.5f ? 1 : 2))
                              : (s > 0 ? 1.0f : 0.0f);
  }
  DMatrixHandle dh = nullptr;
  if (XGDMatrixCreateFromMat(x.data(), n, m, NAN, &dh) != 0)
    return InternalError(XGBGetLastError());
  std::unique_ptr<void, int (*)(DMatrixHandle)> dmat(dh, XGDMatrixFree);
  XGDMatrixSetFloatInfo(dh, "label", y.data(), n);
  BoosterHandle bh = nullptr;
  if (XGBoosterCreate(&dh, 1, &bh) != 0) return InternalError(XGBGetLastError());
  std::unique_ptr<void, int (*)(BoosterHandle)> booster(bh, XGBoosterFree);
  std::vector<std::pair<std::string, std::string>> params = {
      {"objective", spec.objective},
      {"max_depth", std::to_string(spec.max_depth)},
      {"eta", "0.3"},
      {"seed", std::to_string(spec.seed)},
      {"nthread", "1"},
      {"tree_method", "hist"}};
  if (spec.num_class > 0) params.push_back({"num_class", std::to_string(spec.num_class)});
  for (const auto& [k, v] : params) {
    if (XGBoosterSetParam(bh, k.c_str(), v.c_str()) != 0) return InternalError(XGBGetLastError());
  }
  for (int i = 0; i < spec.rounds; ++i) {
    if (XGBoosterUpdateOneIter(bh, i, dh) != 0) return InternalError(XGBGetLastError());
  }
  std::string model = dir + "/model.json";
  if (XGBoosterSaveModel(bh, model.c_str()) != 0) return InternalError(XGBGetLastError());
  if (spec.feature_names) {
    std::ofstream y(dir + "/tandem-model.yaml");
    y << "flavor: xgboost\nmodel_file: model.json\nfeature_names: [";
    for (int i = 0; i < m; ++i) y << (i ? ", " : "") << "f" << i;
    y << "]\n";
  }
  return OkStatus();
}

SumPredictor::SumPredictor(int features, float scale) : features_(features), scale_(scale) {
  signature_.inputs.push_back({"input", "FP32", {-1, features}});
  signature_.outputs.push_back({"output", "FP32", {-1, 1}});
}

Status SumPredictor::Predict(const float* rows, size_t n_rows, size_t n_cols, float* out) const {
  calls.fetch_add(1);
  if (hook) hook(n_rows);
  if (n_cols > static_cast<size_t>(features_)) return InvalidArgumentError("too many columns");
  for (size_t r = 0; r < n_rows; ++r) {
    float s = 0;
    for (size_t c = 0; c < n_cols; ++c) {
      float v = rows[r * n_cols + c];
      if (!std::isnan(v)) s += v;
    }
    out[r] = s * scale_;
  }
  return OkStatus();
}

}  // namespace tandem::serving::testing
