// Shadow traffic: a copy of sampled requests (with the scores the caller got)
// goes to a bounded queue; worker threads at a lower CPU priority score it on
// the shadow model and compare. The request path only copies and enqueues:
// when the queue is full the copy is dropped and counted, never waited for.
// The shadow's answers never reach the caller.
//
// Agreement per row: the largest absolute score difference (histogram) and
// the label (argmax for several outputs, score >= 0.5 for one). Errors count
// shadow failures: no shadow version ready, a shape unlike the primary's, or
// a failed prediction.
//
// Thread-safety: every method is thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "common/json.h"
#include "serving/engine/metrics.h"
#include "serving/engine/model_manager.h"

namespace tandem::serving::traffic {

struct ShadowOptions {
  double sample = 1.0;           // share of requests mirrored (deterministic)
  size_t queue_capacity = 1024;  // requests waiting for the shadow
  int threads = 1;
  int nice = 10;  // added to the workers' nice value (0 = same priority)
};

// {"count", "sum", "p50", "p99", "buckets": [{"le", "count"} cumulative]}.
Json HistogramToJson(const engine::Histogram& h);

class ShadowMirror {
 public:
  // The shadow version to score with now (null or an error: none ready).
  using Source = std::function<StatusOr<std::shared_ptr<const engine::ServedVersion>>()>;
  // `clock` is not owned and must outlive the mirror. Starts the workers.
  ShadowMirror(ShadowOptions options, Source source, Clock& clock);
  ~ShadowMirror();  // discards what is queued, joins the workers

  // Copies a request the primary answered (rows n_rows x n_cols, scores
  // n_rows x n_outs) to the queue if sampled. Never blocks on the shadow.
  // Returns true if queued.
  bool Submit(const float* rows, size_t n_rows, size_t n_cols, const float* scores, size_t n_outs);

  // Waits until every queued copy is scored (tests, benchmarks).
  bool WaitIdle(int64_t timeout_ms);

  uint64_t mirrored() const { return mirrored_.load(); }
  uint64_t dropped() const { return dropped_.load(); }
  uint64_t errors() const { return errors_.load(); }
  uint64_t compared_rows() const { return rows_.load(); }
  uint64_t agreeing_rows() const { return agree_.load(); }
  Json Stats() const;
  // Prometheus families tandem_shadow_* labelled with `labels`.
  void Render(std::string& out, const std::string& labels) const;

 private:
  struct Item {
    std::vector<float> rows;
    std::vector<float> scores;
    size_t n_rows = 0;
    size_t n_cols = 0;
    size_t n_outs = 0;
  };
  void Work();
  void Score(const Item& item);

  const ShadowOptions options_;
  Source source_;
  Clock& clock_;

  std::atomic<uint64_t> seen_{0};
  std::atomic<uint64_t> mirrored_{0};
  std::atomic<uint64_t> dropped_{0};
  std::atomic<uint64_t> done_{0};
  std::atomic<uint64_t> errors_{0};
  std::atomic<uint64_t> rows_{0};
  std::atomic<uint64_t> agree_{0};
  engine::Histogram abs_diff_;
  engine::Histogram latency_;
  std::atomic<int64_t> last_version_{0};
  mutable absl::Mutex error_mu_;
  std::string last_error_ ABSL_GUARDED_BY(error_mu_);

  absl::Mutex mu_;
  absl::CondVar cv_;       // work or stop
  absl::CondVar idle_cv_;  // an item finished
  std::deque<Item> queue_ ABSL_GUARDED_BY(mu_);
  size_t busy_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

}  // namespace tandem::serving::traffic
