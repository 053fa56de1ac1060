#include "serving/engine/metrics.h"

#include <functional>

#include "absl/synchronization/mutex.h"

namespace tandem::serving::engine {

namespace {

using prometheus::Header;
using prometheus::Sample;

// Latency buckets in seconds: 25 µs .. 10 s.
std::vector<double> LatencyBounds() {
  return {25e-6, 50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 5e-3, 10e-3,
          25e-3, 50e-3, 100e-3, 250e-3, 500e-3, 1.0,  2.5,    5.0,  10.0};
}

std::vector<double> BatchBounds() { return {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024}; }

}  // namespace

std::string_view FailureReasonName(FailureReason r) {
  switch (r) {
    case FailureReason::kBadRequest:
      return "bad_request";
    case FailureReason::kNotFound:
      return "not_found";
    case FailureReason::kTooLarge:
      return "too_large";
    case FailureReason::kQueueFull:
      return "queue_full";
    case FailureReason::kUnavailable:
      return "unavailable";
    case FailureReason::kInternal:
      return "internal";
  }
  return "internal";
}

ModelMetrics::ModelMetrics()
    : request_seconds(LatencyBounds()),
      queue_seconds(LatencyBounds()),
      compute_seconds(LatencyBounds()),
      batch_rows(BatchBounds()) {}

ServingMetrics::ServingMetrics() = default;

ModelMetrics& ServingMetrics::ForModel(const std::string& name) {
  absl::MutexLock lock(&mu_);
  auto& slot = models_[name];
  if (!slot) slot = std::make_unique<ModelMetrics>();
  return *slot;
}

void ServingMetrics::CountUnroutedFailure(FailureReason reason) {
  unrouted_[static_cast<int>(reason)].fetch_add(1, std::memory_order_relaxed);
}

std::string ServingMetrics::Render() const {
  std::string out;
  out.reserve(16 << 10);
  absl::MutexLock lock(&mu_);
  using Fn = std::function<void(const std::string& labels, const ModelMetrics& m)>;
  // Called only below, with mu_ held.
  auto each = [&](const Fn& fn) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    for (const auto& [name, m] : models_) fn("model=\"" + EscapeLabel(name) + "\"", *m);
  };
  auto load = [](const std::atomic<uint64_t>& a) {
    return static_cast<double>(a.load(std::memory_order_relaxed));
  };

  Header(out, "tandem_inference_requests_total", "counter",
         "Inference requests answered successfully.");
  each([&](const std::string& l, const ModelMetrics& m) {
    Sample(out, "tandem_inference_requests_total", l, load(m.success));
  });
  Header(out, "tandem_inference_failures_total", "counter",
         "Inference requests that failed, by reason (model=\"\" when no model was resolved).");
  for (int r = 0; r < kNumFailureReasons; ++r) {
    std::string reason = "reason=\"" + std::string(FailureReasonName(FailureReason(r))) + "\"";
    Sample(out, "tandem_inference_failures_total", "model=\"\"," + reason, load(unrouted_[r]));
    each([&](const std::string& l, const ModelMetrics& m) {
      Sample(out, "tandem_inference_failures_total", l + "," + reason, load(m.failures[r]));
    });
  }
  Header(out, "tandem_inference_rows_total", "counter", "Rows scored.");
  each([&](const std::string& l, const ModelMetrics& m) {
    Sample(out, "tandem_inference_rows_total", l, load(m.rows));
  });
  Header(out, "tandem_inference_batches_total", "counter", "Batches executed (Predict calls).");
  each([&](const std::string& l, const ModelMetrics& m) {
    Sample(out, "tandem_inference_batches_total", l, load(m.batches));
  });
  Header(out, "tandem_inference_request_duration_seconds", "histogram",
         "Total time of successful inference requests, parse to response.");
  each([&](const std::string& l, const ModelMetrics& m) {
    m.request_seconds.Render(out, "tandem_inference_request_duration_seconds", l);
  });
  Header(out, "tandem_inference_queue_duration_seconds", "histogram",
         "Time a request waited in the batch queue.");
  each([&](const std::string& l, const ModelMetrics& m) {
    m.queue_seconds.Render(out, "tandem_inference_queue_duration_seconds", l);
  });
  Header(out, "tandem_inference_compute_duration_seconds", "histogram",
         "Time of the model execution that scored a request's batch.");
  each([&](const std::string& l, const ModelMetrics& m) {
    m.compute_seconds.Render(out, "tandem_inference_compute_duration_seconds", l);
  });
  Header(out, "tandem_inference_batch_size", "histogram", "Rows per executed batch.");
  each([&](const std::string& l, const ModelMetrics& m) {
    m.batch_rows.Render(out, "tandem_inference_batch_size", l);
  });
  Header(out, "tandem_inference_in_flight_requests", "gauge",
         "Inference requests being processed now.");
  Sample(out, "tandem_inference_in_flight_requests", "",
         static_cast<double>(in_flight.load(std::memory_order_relaxed)));
  Header(out, "tandem_model_loads_total", "counter",
         "Model loads (pull, unpack, load, self-test, warm-up), by result.");
  each([&](const std::string& l, const ModelMetrics& m) {
    Sample(out, "tandem_model_loads_total", l + ",result=\"success\"", load(m.loads_ok));
    Sample(out, "tandem_model_loads_total", l + ",result=\"failure\"", load(m.loads_failed));
  });
  Header(out, "tandem_model_swaps_total", "counter",
         "Hot swaps from one served version to another.");
  each([&](const std::string& l, const ModelMetrics& m) {
    Sample(out, "tandem_model_swaps_total", l, load(m.swaps));
  });
  Header(out, "tandem_model_version", "gauge", "Version served now (0 = none).");
  each([&](const std::string& l, const ModelMetrics& m) {
    Sample(out, "tandem_model_version", l,
           static_cast<double>(m.version.load(std::memory_order_relaxed)));
  });
  Header(out, "tandem_replica_ready", "gauge", "1 when the replica is ready for traffic.");
  Sample(out, "tandem_replica_ready", "", ready.load(std::memory_order_relaxed));
  return out;
}

}  // namespace tandem::serving::engine
