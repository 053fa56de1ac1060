// The model server's Prometheus metrics, written by hand (text exposition
// format 0.0.4): a handful of counters, gauges and histograms with lock-free
// updates on the request path. Label sets are per served model name (bounded:
// only models the replica serves get one; requests for unknown models count
// under model="").
//
// Thread-safety: every method is thread-safe. A ModelMetrics returned by
// ForModel lives as long as the ServingMetrics.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/synchronization/mutex.h"

namespace tandem::serving::engine {

// A Prometheus histogram with fixed bucket upper bounds.
class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);
  void Observe(double value);
  // Appends `name_bucket{labels,le=...}`, `name_sum`, `name_count` lines.
  void Render(std::string& out, std::string_view name, std::string_view labels) const;
  uint64_t count() const { return count_.load(std::memory_order_relaxed); }
  double sum() const { return sum_.load(std::memory_order_relaxed); }
  const std::vector<double>& bounds() const { return bounds_; }
  // Cumulative counts per bound, +Inf last (bounds().size() + 1 entries).
  std::vector<uint64_t> CumulativeCounts() const;
  // The upper bound of the bucket holding quantile q (0..1); 0 if empty,
  // +Inf if it falls in the last bucket.
  double Quantile(double q) const;

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> buckets_;  // non-cumulative, +Inf last
  std::atomic<double> sum_{0};
  std::atomic<uint64_t> count_{0};
};

// Why a request failed (the `reason` label).
enum class FailureReason {
  kBadRequest,   // 400
  kNotFound,     // 404
  kTooLarge,     // 413
  kQueueFull,    // 429
  kUnavailable,  // 503
  kInternal,     // 5xx
};
inline constexpr int kNumFailureReasons = 6;
std::string_view FailureReasonName(FailureReason r);

// Metrics of one served model name.
struct ModelMetrics {
  ModelMetrics();
  std::atomic<uint64_t> success{0};
  std::array<std::atomic<uint64_t>, kNumFailureReasons> failures{};
  std::atomic<uint64_t> rows{0};          // inference rows scored
  std::atomic<uint64_t> batches{0};       // Predict calls
  Histogram request_seconds;              // total, from request parsed to response built
  Histogram queue_seconds;                // waiting for a batch
  Histogram compute_seconds;              // the batch's Predict call
  Histogram batch_rows;                   // rows per Predict call
  std::atomic<uint64_t> loads_ok{0};      // successful loads (first load and swaps)
  std::atomic<uint64_t> loads_failed{0};  // failed pulls/loads/self-tests
  std::atomic<uint64_t> swaps{0};         // version changes while serving
  std::atomic<int64_t> version{0};        // version served now (0 = none)
};

class ServingMetrics {
 public:
  ServingMetrics();
  // The metrics of model `name` (created on first use). Call only for models
  // the replica serves or is loading, never with unvalidated request input.
  ModelMetrics& ForModel(const std::string& name);
  // Failures of requests that never reached a model (unknown model, bad path).
  void CountUnroutedFailure(FailureReason reason);

  std::atomic<int64_t> in_flight{0};
  std::atomic<int> ready{0};

  // The whole exposition, e.g. for GET /metrics.
  std::string Render() const;

 private:
  mutable absl::Mutex mu_;
  // The map, not the values (each ModelMetrics is thread-safe itself).
  std::map<std::string, std::unique_ptr<ModelMetrics>> models_ ABSL_GUARDED_BY(mu_);
  std::array<std::atomic<uint64_t>, kNumFailureReasons> unrouted_{};
};

// Escapes a label value per the exposition format (\\, \", \n).
std::string EscapeLabel(std::string_view value);

}  // namespace tandem::serving::engine
