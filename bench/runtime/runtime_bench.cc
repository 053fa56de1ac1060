// runtime_bench: the native forest evaluator vs XGBoost's own
// XGBoosterPredictFromDense on the same model (binary:logistic, 100 trees,
// depth 6, 20 features) and the same rows (10% missing), one row per call
// and 1,000-row batches. Outputs are checked identical (<= 1e-6) before
// anything is timed. Compare the per_row column (time per row).
#include <benchmark/benchmark.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <vector>

#include "common/json.h"
#include "runtime/forest.h"
#include "runtime/load_model.h"
#include "runtime/testing/xgboost_test_util.h"

namespace tandem::runtime {
namespace {

constexpr int kFeatures = 20;
constexpr size_t kRows = 1000;

struct Setup {
  testing::TempDir dir;
  std::unique_ptr<testing::XgbModel> xgb_single;   // nthread=1
  std::unique_ptr<testing::XgbModel> xgb_default;  // XGBoost's default threads
  std::unique_ptr<LoadedModel> native;
  std::unique_ptr<Forest> scalar;  // the same forest, scalar kernel forced
  std::unique_ptr<Forest> avx2;    // and AVX2 kernel forced (null without AVX2)
  std::vector<float> rows;
};

template <typename T>
T Must(StatusOr<T> v, const char* what) {
  if (!v.ok()) {
    std::fprintf(stderr, "%s: %s\n", what, std::string(v.status().message()).c_str());
    std::exit(1);
  }
  return std::move(*v);
}

void CheckSame(const std::vector<float>& a, const std::vector<float>& b, const char* what,
               float tolerance = 1e-6f) {
  float worst = a.size() == b.size() ? 0.0f : INFINITY;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
    worst = std::max(worst, std::fabs(a[i] - b[i]));
  }
  std::fprintf(stderr, "check %s: max |diff| = %g\n", what, worst);
  if (!(worst <= tolerance)) std::exit(1);
}

// Built in main() and destroyed before exit (XGBoost handles must not
// outlive the library's statics).
std::unique_ptr<Setup> MakeSetup() {
  {
    auto owned = std::make_unique<Setup>();
    Setup& s = *owned;
    testing::TrainSpec spec;
    spec.objective = "binary:logistic";
    spec.rounds = 100;
    spec.max_depth = 6;
    spec.num_features = kFeatures;
    spec.num_rows = 5000;
    auto trained = Must(testing::XgbModel::Train(spec), "training");
    if (!trained.Save(s.dir.File("model.json")).ok()) std::exit(1);
    s.xgb_single = std::make_unique<testing::XgbModel>(
        Must(testing::XgbModel::Load(s.dir.File("model.json")), "loading"));
    if (!s.xgb_single->SetThreads(1).ok()) std::exit(1);
    s.xgb_default = std::make_unique<testing::XgbModel>(
        Must(testing::XgbModel::Load(s.dir.File("model.json")), "loading"));
    s.native = Must(LoadModel(s.dir.path()), "LoadModel");
    std::fprintf(stderr, "model: %s\n", s.native->predictor().Describe().c_str());
    s.rows = testing::RandomRows(kRows, kFeatures, 0.1, 1234);
    std::vector<float> native(kRows), one(1);
    if (!s.native->predictor().Predict(s.rows.data(), kRows, kFeatures, native.data()).ok()) {
      std::exit(1);
    }
    CheckSame(native, Must(s.xgb_single->PredictDense(s.rows.data(), kRows, kFeatures), "xgb"),
              "batch, xgboost nthread=1");
    CheckSame(native, Must(s.xgb_default->PredictDense(s.rows.data(), kRows, kFeatures), "xgb"),
              "batch, xgboost default threads");
    std::vector<float> single(kRows);
    for (size_t r = 0; r < kRows; ++r) {
      (void)s.native->predictor().Predict(&s.rows[r * kFeatures], 1, kFeatures, &single[r]);
      single[r] = Must(s.xgb_single->PredictDense(&s.rows[r * kFeatures], 1, kFeatures), "xgb")[0] -
                  single[r] + native[r];
    }
    CheckSame(native, single, "single rows");
    std::ifstream in(s.dir.File("model.json"));
    std::stringstream text;
    text << in.rdbuf();
    s.scalar = std::make_unique<Forest>(
        Must(Forest::FromXGBoostModel(Must(ParseJson(text.str()), "model.json")), "forest"));
    const Forest::Kernel k = s.scalar->kernel();
    std::fprintf(stderr, "kernel: %s\n",
                 k == Forest::Kernel::kAvx512 ? "avx512"
                 : k == Forest::Kernel::kAvx2 ? "avx2"
                                              : "scalar");
    s.scalar->SetKernel(Forest::Kernel::kScalar);
    std::vector<float> scalar(kRows);
    s.scalar->Predict(s.rows.data(), kRows, kFeatures, scalar.data());
    CheckSame(scalar, native, "scalar kernel vs the default kernel (must be identical)", 0.0f);
    s.avx2 = std::make_unique<Forest>(*s.scalar);
    if (s.avx2->SetKernel(Forest::Kernel::kAvx2)) {
      std::vector<float> avx2(kRows);
      s.avx2->Predict(s.rows.data(), kRows, kFeatures, avx2.data());
      CheckSame(avx2, native, "AVX2 kernel vs the default kernel (must be identical)", 0.0f);
    } else {
      s.avx2.reset();
    }
    return owned;
  }
}

void PerRow(benchmark::State& state, size_t rows_per_call) {
  state.counters["per_row"] = benchmark::Counter(
      static_cast<double>(rows_per_call),
      benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}

void BM_XGBoostOneRow(benchmark::State& state, const Setup& s, bool single_thread) {
  const testing::XgbModel& m = single_thread ? *s.xgb_single : *s.xgb_default;
  size_t r = 0;
  for (auto _ : state) {
    auto out = m.PredictDense(&s.rows[r * kFeatures], 1, kFeatures);
    benchmark::DoNotOptimize(out);
    r = (r + 1) % kRows;
  }
  PerRow(state, 1);
}

void BM_XGBoostBatch(benchmark::State& state, const Setup& s, bool single_thread) {
  const testing::XgbModel& m = single_thread ? *s.xgb_single : *s.xgb_default;
  for (auto _ : state) {
    auto out = m.PredictDense(s.rows.data(), kRows, kFeatures);
    benchmark::DoNotOptimize(out);
  }
  PerRow(state, kRows);
}

void BM_NativeOneRow(benchmark::State& state, const Setup& s) {
  const Predictor& p = s.native->predictor();
  float out = 0;
  size_t r = 0;
  for (auto _ : state) {
    Status st = p.Predict(&s.rows[r * kFeatures], 1, kFeatures, &out);
    benchmark::DoNotOptimize(out);
    benchmark::DoNotOptimize(st);
    r = (r + 1) % kRows;
  }
  PerRow(state, 1);
}

void BM_ForestOneRow(benchmark::State& state, const Setup& s, const Forest& f) {
  float out = 0;
  size_t r = 0;
  for (auto _ : state) {
    f.Predict(&s.rows[r * kFeatures], 1, kFeatures, &out);
    benchmark::DoNotOptimize(out);
    r = (r + 1) % kRows;
  }
  PerRow(state, 1);
}

void BM_ForestBatch(benchmark::State& state, const Setup& s, const Forest& f) {
  std::vector<float> out(kRows);
  for (auto _ : state) {
    f.Predict(s.rows.data(), kRows, kFeatures, out.data());
    benchmark::DoNotOptimize(out.data());
  }
  PerRow(state, kRows);
}

void BM_NativeBatch(benchmark::State& state, const Setup& s) {
  const Predictor& p = s.native->predictor();
  std::vector<float> out(kRows);
  for (auto _ : state) {
    Status st = p.Predict(s.rows.data(), kRows, kFeatures, out.data());
    benchmark::DoNotOptimize(out.data());
    benchmark::DoNotOptimize(st);
  }
  PerRow(state, kRows);
}

}  // namespace
}  // namespace tandem::runtime

int main(int argc, char** argv) {
  using namespace tandem::runtime;
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  std::unique_ptr<Setup> setup = MakeSetup();  // train, load, check outputs before timing
  const Setup& s = *setup;
  benchmark::RegisterBenchmark("BM_XGBoostOneRow/nthread_1",
                               [&](benchmark::State& st) { BM_XGBoostOneRow(st, s, true); });
  benchmark::RegisterBenchmark("BM_XGBoostOneRow/default_threads",
                               [&](benchmark::State& st) { BM_XGBoostOneRow(st, s, false); });
  benchmark::RegisterBenchmark("BM_NativeOneRow",
                               [&](benchmark::State& st) { BM_NativeOneRow(st, s); });
  benchmark::RegisterBenchmark("BM_XGBoostBatch/nthread_1",
                               [&](benchmark::State& st) { BM_XGBoostBatch(st, s, true); });
  benchmark::RegisterBenchmark("BM_XGBoostBatch/default_threads",
                               [&](benchmark::State& st) { BM_XGBoostBatch(st, s, false); });
  benchmark::RegisterBenchmark("BM_NativeBatch",
                               [&](benchmark::State& st) { BM_NativeBatch(st, s); });
  if (s.avx2) {
    benchmark::RegisterBenchmark("BM_NativeAvx2KernelOneRow",
                                 [&](benchmark::State& st) { BM_ForestOneRow(st, s, *s.avx2); });
    benchmark::RegisterBenchmark("BM_NativeAvx2KernelBatch",
                                 [&](benchmark::State& st) { BM_ForestBatch(st, s, *s.avx2); });
  }
  benchmark::RegisterBenchmark("BM_NativeScalarKernelOneRow",
                               [&](benchmark::State& st) { BM_ForestOneRow(st, s, *s.scalar); });
  benchmark::RegisterBenchmark("BM_NativeScalarKernelBatch",
                               [&](benchmark::State& st) { BM_ForestBatch(st, s, *s.scalar); });
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  setup.reset();
  return 0;
}
