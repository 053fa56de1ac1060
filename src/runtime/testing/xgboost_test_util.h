// Test-only helpers: train small XGBoost models through the C API, save
// them, and predict with XGBoost itself as the reference.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"
#include "common/testing/temp_dir.h"

namespace tandem::runtime::testing {

struct TrainSpec {
  std::string objective = "binary:logistic";
  std::string booster = "gbtree";
  int num_class = 0;
  int rounds = 60;
  int max_depth = 6;
  int num_features = 20;
  size_t num_rows = 1000;
  double missing = 0.1;
  unsigned seed = 7;
  std::vector<std::pair<std::string, std::string>> params;  // extra XGBoost params
};

// Dense rows with `missing` of the values NaN.
std::vector<float> RandomRows(size_t n_rows, int n_cols, double missing, unsigned seed);

class XgbModel {
 public:
  static StatusOr<XgbModel> Train(const TrainSpec& spec);
  // Loads a saved model (XGBoost's default nthread).
  static StatusOr<XgbModel> Load(const std::string& path);
  XgbModel(XgbModel&&) = default;
  XgbModel& operator=(XgbModel&&) = default;
  ~XgbModel();

  // Saves to `path`; the extension picks the format (.json, .ubj, else binary).
  Status Save(const std::string& path) const;
  Status SetAttr(const std::string& key, const std::string& value);
  // XGBoosterPredictFromDense (inplace, missing = NaN) with `nthread` threads.
  StatusOr<std::vector<float>> PredictDense(const float* rows, size_t n_rows, size_t n_cols) const;
  // XGBoosterPredict on a DMatrix built from the same rows.
  StatusOr<std::vector<float>> PredictDMatrix(const float* rows, size_t n_rows,
                                              size_t n_cols) const;
  Status SetThreads(int nthread);
  void* handle() const { return handle_.get(); }

 private:
  struct Free {
    void operator()(void* h) const;
  };
  explicit XgbModel(void* h) : handle_(h) {}
  std::unique_ptr<void, Free> handle_;
};

// A fresh directory under the temp directory, removed by the destructor.
class TempDir : public tandem::testing::TempDir {
 public:
  TempDir() : tandem::testing::TempDir("tandem-runtime") {}
};

}  // namespace tandem::runtime::testing
