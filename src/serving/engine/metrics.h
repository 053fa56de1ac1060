// The model server's Prometheus metrics (text exposition format 0.0.4,
// common/prometheus.h): a handful of counters, gauges and histograms with lock-free
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

#include "common/prometheus.h"
#include "absl/synchronization/mutex.h"

namespace tandem::serving::engine {

using Histogram = prometheus::Histogram;
using prometheus::EscapeLabel;

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

}  // namespace tandem::serving::engine
