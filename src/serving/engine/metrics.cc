#include "serving/engine/metrics.h"

#include <charconv>
#include <cmath>
#include <functional>

#include "absl/synchronization/mutex.h"

namespace tandem::serving::engine {

namespace {

// Latency buckets in seconds: 25 µs .. 10 s.
std::vector<double> LatencyBounds() {
  return {25e-6, 50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 5e-3, 10e-3,
          25e-3, 50e-3, 100e-3, 250e-3, 500e-3, 1.0,  2.5,    5.0,  10.0};
}

std::vector<double> BatchBounds() { return {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024}; }

void AppendNumber(std::string& out, double v) {
  if (std::isinf(v)) {
    out += v > 0 ? "+Inf" : "-Inf";
    return;
  }
  if (std::isnan(v)) {
    out += "NaN";
    return;
  }
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof(buf), v);
  out.append(buf, res.ptr);
}

void Header(std::string& out, std::string_view name, std::string_view type, std::string_view help) {
  out += "# HELP ";
  out += name;
  out += ' ';
  out += help;
  out += "\n# TYPE ";
  out += name;
  out += ' ';
  out += type;
  out += '\n';
}

void Sample(std::string& out, std::string_view name, std::string_view labels, double v) {
  out += name;
  if (!labels.empty()) {
    out += '{';
    out += labels;
    out += '}';
  }
  out += ' ';
  AppendNumber(out, v);
  out += '\n';
}

}  // namespace

std::string EscapeLabel(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

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

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)),
      buckets_(std::make_unique<std::atomic<uint64_t>[]>(bounds_.size() + 1)) {}

void Histogram::Observe(double value) {
  size_t i = 0;
  while (i < bounds_.size() && value > bounds_[i]) ++i;
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(value, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
}

std::vector<uint64_t> Histogram::CumulativeCounts() const {
  std::vector<uint64_t> out(bounds_.size() + 1);
  uint64_t cumulative = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    cumulative += buckets_[i].load(std::memory_order_relaxed);
    out[i] = cumulative;
  }
  return out;
}

double Histogram::Quantile(double q) const {
  std::vector<uint64_t> c = CumulativeCounts();
  if (c.back() == 0) return 0;
  const double rank = q * static_cast<double>(c.back());
  for (size_t i = 0; i < bounds_.size(); ++i) {
    if (static_cast<double>(c[i]) >= rank) return bounds_[i];
  }
  return INFINITY;
}

void Histogram::Render(std::string& out, std::string_view name, std::string_view labels) const {
  std::string prefix(labels);
  if (!prefix.empty()) prefix += ',';
  uint64_t cumulative = 0;
  std::string bucket = std::string(name) + "_bucket";
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    cumulative += buckets_[i].load(std::memory_order_relaxed);
    std::string le;
    AppendNumber(le, i < bounds_.size() ? bounds_[i] : INFINITY);
    Sample(out, bucket, prefix + "le=\"" + le + "\"", static_cast<double>(cumulative));
  }
  Sample(out, std::string(name) + "_sum", labels, sum_.load(std::memory_order_relaxed));
  // The count equals the +Inf bucket (read once, so a scrape is consistent).
  Sample(out, std::string(name) + "_count", labels, static_cast<double>(cumulative));
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
