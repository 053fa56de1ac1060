// Test-only helpers for the serving tests: temp dirs, small XGBoost model
// packages trained through the C API, and a predictor fake.
#pragma once

#include <atomic>
#include <functional>
#include <string>
#include <vector>

#include "common/status.h"
#include "runtime/predictor.h"
#include "runtime/testing/xgboost_test_util.h"

namespace tandem::serving::testing {

// A fresh directory under /tmp, removed by the destructor.
using TempDir = runtime::testing::TempDir;

struct ModelSpec {
  std::string objective = "binary:logistic";
  int num_class = 0;
  int rounds = 10;
  int max_depth = 4;
  int num_features = 20;
  unsigned seed = 7;
  bool feature_names = false;  // write f0..fN-1 into tandem-model.yaml
};

// Trains a model and writes a package to `dir` (created): model.json, plus
// tandem-model.yaml when feature_names is set.
Status WritePackage(const std::string& dir, const ModelSpec& spec);

// Deterministic rows (some NaN).
std::vector<float> Rows(size_t n_rows, int n_cols, unsigned seed);

// A predictor whose score per row is the sum of its non-NaN values (times
// `scale`); `hook` runs at the start of each Predict call (to block, count).
class SumPredictor : public runtime::Predictor {
 public:
  explicit SumPredictor(int features, float scale = 1.0f);
  int num_features() const override { return features_; }
  int num_outputs() const override { return 1; }
  Status Predict(const float* rows, size_t n_rows, size_t n_cols, float* out) const override;
  const runtime::Signature& signature() const override { return signature_; }
  const std::vector<std::string>& feature_names() const override { return names_; }
  std::string flavor() const override { return "sum"; }
  std::string Describe() const override { return "sum"; }
  int batch_concurrency() const override { return concurrency; }

  std::function<void(size_t n_rows)> hook;
  int concurrency = 0;  // batch_concurrency(): 0 = batching does not pay
  mutable std::atomic<int> calls{0};

 private:
  int features_;
  float scale_;
  runtime::Signature signature_;
  std::vector<std::string> names_;
};

}  // namespace tandem::serving::testing
