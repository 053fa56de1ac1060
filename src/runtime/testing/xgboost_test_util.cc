#include "runtime/testing/xgboost_test_util.h"

#include <xgboost/c_api.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "runtime/xgboost_flavor.h"

namespace tandem::runtime::testing {
namespace {

Status Err(const std::string& what) {
  return InternalError(absl::StrCat(what, ": ", XGBGetLastError()));
}

struct DMatrixFree {
  void operator()(void* h) const { XGDMatrixFree(h); }
};

}  // namespace

std::vector<float> RandomRows(size_t n_rows, int n_cols, double missing, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  std::vector<float> rows(n_rows * n_cols);
  for (float& v : rows) {
    v = unit(rng) < missing ? std::numeric_limits<float>::quiet_NaN() : normal(rng);
  }
  return rows;
}

void XgbModel::Free::operator()(void* h) const { XGBoosterFree(h); }
XgbModel::~XgbModel() = default;

StatusOr<XgbModel> XgbModel::Train(const TrainSpec& spec) {
  const size_t n = spec.num_rows;
  const int m = spec.num_features;
  std::vector<float> x = RandomRows(n, m, spec.missing, spec.seed);
  std::vector<float> y(n);
  auto at = [&](size_t r, int c) {
    float v = x[r * m + c % m];
    return std::isnan(v) ? 0.0f : v;
  };
  for (size_t r = 0; r < n; ++r) {
    const float s = at(r, 0) + 0.5f * at(r, 1) * at(r, 2) - at(r, 3) + 0.3f * std::sin(at(r, 4));
    if (spec.num_class > 1) {
      y[r] = s < -0.5f ? 0.0f : (s < 0.5f ? 1.0f : 2.0f);
    } else if (spec.objective.rfind("binary:", 0) == 0 || spec.objective == "reg:logistic") {
      y[r] = s + 0.3f * at(r, 5) > 0 ? 1.0f : 0.0f;
    } else if (spec.objective == "count:poisson" || spec.objective == "reg:gamma") {
      y[r] = std::exp(0.5f * s) + (spec.objective == "reg:gamma" ? 0.1f : 0.0f);
    } else if (spec.objective.rfind("rank:", 0) == 0) {
      y[r] = static_cast<float>(static_cast<int>(std::fabs(s) * 2) % 3);
    } else {
      y[r] = 3.0f * s + 10.0f;
    }
  }
  DMatrixHandle dh = nullptr;
  if (XGDMatrixCreateFromMat(x.data(), n, m, std::numeric_limits<float>::quiet_NaN(), &dh) != 0) {
    return Err("XGDMatrixCreateFromMat");
  }
  std::unique_ptr<void, DMatrixFree> dmat(dh);
  if (XGDMatrixSetFloatInfo(dh, "label", y.data(), n) != 0) return Err("label");
  BoosterHandle bh = nullptr;
  if (XGBoosterCreate(&dh, 1, &bh) != 0) return Err("XGBoosterCreate");
  XgbModel model(bh);
  std::vector<std::pair<std::string, std::string>> params = {
      {"objective", spec.objective},
      {"booster", spec.booster},
      {"max_depth", std::to_string(spec.max_depth)},
      {"eta", "0.1"},
      {"tree_method", "hist"},
      {"seed", std::to_string(spec.seed)},
      {"nthread", "1"}};
  if (spec.num_class > 0) params.push_back({"num_class", std::to_string(spec.num_class)});
  params.insert(params.end(), spec.params.begin(), spec.params.end());
  for (const auto& [k, v] : params) {
    if (XGBoosterSetParam(bh, k.c_str(), v.c_str()) != 0) return Err("SetParam " + k);
  }
  for (int i = 0; i < spec.rounds; ++i) {
    if (XGBoosterUpdateOneIter(bh, i, dh) != 0) return Err("UpdateOneIter");
  }
  return model;
}

StatusOr<XgbModel> XgbModel::Load(const std::string& path) {
  BoosterHandle bh = nullptr;
  if (XGBoosterCreate(nullptr, 0, &bh) != 0) return Err("XGBoosterCreate");
  XgbModel model(bh);
  if (XGBoosterLoadModel(bh, path.c_str()) != 0) return Err("load " + path);
  return model;
}

Status XgbModel::Save(const std::string& path) const {
  if (XGBoosterSaveModel(handle_.get(), path.c_str()) != 0) return Err("save " + path);
  return OkStatus();
}

Status XgbModel::SetAttr(const std::string& key, const std::string& value) {
  if (XGBoosterSetAttr(handle_.get(), key.c_str(), value.c_str()) != 0) return Err("attr");
  return OkStatus();
}

Status XgbModel::SetThreads(int nthread) {
  if (XGBoosterSetParam(handle_.get(), "nthread", std::to_string(nthread).c_str()) != 0) {
    return Err("nthread");
  }
  return OkStatus();
}

StatusOr<std::vector<float>> XgbModel::PredictDense(const float* rows, size_t n_rows,
                                                    size_t n_cols) const {
  return PredictWithXGBoost(handle_.get(), rows, n_rows, n_cols);
}

StatusOr<std::vector<float>> XgbModel::PredictDMatrix(const float* rows, size_t n_rows,
                                                      size_t n_cols) const {
  DMatrixHandle dh = nullptr;
  if (XGDMatrixCreateFromMat(rows, n_rows, n_cols, std::numeric_limits<float>::quiet_NaN(), &dh) !=
      0) {
    return Err("XGDMatrixCreateFromMat");
  }
  std::unique_ptr<void, DMatrixFree> dmat(dh);
  bst_ulong len = 0;
  const float* out = nullptr;
  if (XGBoosterPredict(handle_.get(), dh, 0, 0, 0, &len, &out) != 0) return Err("Predict");
  return std::vector<float>(out, out + len);
}

}  // namespace tandem::runtime::testing
