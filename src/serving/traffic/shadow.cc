#include "serving/traffic/shadow.h"

#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>

#include "absl/synchronization/mutex.h"
#include "serving/traffic/policy.h"

namespace tandem::serving::traffic {

namespace {

std::vector<double> DiffBounds() {
  return {1e-6, 1e-5, 1e-4, 1e-3, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0};
}

std::vector<double> ShadowLatencyBounds() {
  return {25e-6, 50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 5e-3, 10e-3,
          25e-3, 50e-3, 100e-3, 250e-3, 500e-3, 1.0,  2.5,    5.0,  10.0};
}

size_t Label(const float* scores, size_t n_outs) {
  if (n_outs == 1) return scores[0] >= 0.5f ? 1 : 0;
  return static_cast<size_t>(std::max_element(scores, scores + n_outs) - scores);
}

}  // namespace

Json HistogramToJson(const engine::Histogram& h) {
  std::vector<uint64_t> c = h.CumulativeCounts();
  Json buckets = Json::array();
  for (size_t i = 0; i < c.size(); ++i) {
    Json le = i < h.bounds().size() ? Json(h.bounds()[i]) : Json("+Inf");
    buckets.push_back({{"le", le}, {"count", c[i]}});
  }
  auto q = [&](double x) {
    double v = h.Quantile(x);
    return std::isinf(v) ? Json("+Inf") : Json(v);
  };
  return {{"count", c.back()},
          {"sum", h.sum()},
          {"p50", q(0.5)},
          {"p99", q(0.99)},
          {"buckets", buckets}};
}

ShadowMirror::ShadowMirror(ShadowOptions options, Source source, Clock& clock)
    : options_(options),
      source_(std::move(source)),
      clock_(clock),
      abs_diff_(DiffBounds()),
      latency_(ShadowLatencyBounds()) {
  for (int i = 0; i < std::max(1, options_.threads); ++i) threads_.emplace_back([this] { Work(); });
}

ShadowMirror::~ShadowMirror() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    queue_.clear();
  }
  cv_.SignalAll();
  for (auto& t : threads_) t.join();
}

bool ShadowMirror::Submit(const float* rows, size_t n_rows, size_t n_cols, const float* scores,
                          size_t n_outs) {
  if (!TakeShare(seen_.fetch_add(1, std::memory_order_relaxed), options_.sample)) return false;
  Item item;
  item.rows.assign(rows, rows + n_rows * n_cols);
  item.scores.assign(scores, scores + n_rows * n_outs);
  item.n_rows = n_rows;
  item.n_cols = n_cols;
  item.n_outs = n_outs;
  {
    absl::MutexLock lock(&mu_);
    if (stopping_ || queue_.size() >= options_.queue_capacity) {
      dropped_.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
    queue_.push_back(std::move(item));
  }
  mirrored_.fetch_add(1, std::memory_order_relaxed);
  cv_.Signal();
  return true;
}

void ShadowMirror::Work() {
  if (options_.nice > 0) {  // per-thread on Linux: yield CPU to the primary path
    (void)::setpriority(PRIO_PROCESS, static_cast<id_t>(::syscall(SYS_gettid)), options_.nice);
  }
  while (true) {
    Item item;
    {
      absl::MutexLock lock(&mu_);
      while (!stopping_ && queue_.empty()) cv_.Wait(&mu_);
      if (stopping_) return;
      item = std::move(queue_.front());
      queue_.pop_front();
      ++busy_;
    }
    Score(item);
    {
      absl::MutexLock lock(&mu_);
      --busy_;
    }
    done_.fetch_add(1, std::memory_order_relaxed);
    idle_cv_.SignalAll();
  }
}

void ShadowMirror::Score(const Item& item) {
  auto fail = [this](std::string why) {
    errors_.fetch_add(1, std::memory_order_relaxed);
    absl::MutexLock lock(&error_mu_);
    last_error_ = std::move(why);
  };
  auto v = source_();
  if (!v.ok() || *v == nullptr) {
    return fail(v.ok() ? "no shadow version is ready" : std::string(v.status().message()));
  }
  const engine::ServedVersion& sv = **v;
  last_version_.store(sv.version(), std::memory_order_relaxed);
  const runtime::Predictor& p = sv.predictor();
  const size_t outs = static_cast<size_t>(std::max(1, p.num_outputs()));
  if (static_cast<size_t>(p.num_features()) != item.n_cols || outs != item.n_outs) {
    return fail("shadow " + sv.name() + " version " + sv.version_string() + " takes " +
                std::to_string(p.num_features()) + " features and returns " + std::to_string(outs) +
                " outputs; the primary " + std::to_string(item.n_cols) + " and " +
                std::to_string(item.n_outs));
  }
  std::vector<float> out(item.n_rows * outs);
  const int64_t start = clock_.MonotonicMicros();
  Status s = sv.batcher().Predict(item.rows.data(), item.n_rows, item.n_cols, out.data());
  latency_.Observe((clock_.MonotonicMicros() - start) * 1e-6);
  if (!s.ok()) return fail(std::string(s.message()));
  uint64_t agree = 0;
  for (size_t r = 0; r < item.n_rows; ++r) {
    const float* a = item.scores.data() + r * outs;
    const float* b = out.data() + r * outs;
    double diff = 0;
    for (size_t c = 0; c < outs; ++c) {
      double d = std::fabs(static_cast<double>(a[c]) - static_cast<double>(b[c]));
      diff = std::max(diff, std::isnan(d) ? INFINITY : d);
    }
    abs_diff_.Observe(diff);
    if (Label(a, outs) == Label(b, outs)) ++agree;
  }
  rows_.fetch_add(item.n_rows, std::memory_order_relaxed);
  agree_.fetch_add(agree, std::memory_order_relaxed);
}

bool ShadowMirror::WaitIdle(int64_t timeout_ms) {
  absl::MutexLock lock(&mu_);
  const absl::Time until = absl::Now() + absl::Milliseconds(timeout_ms);
  while (!(queue_.empty() && busy_ == 0)) {
    if (idle_cv_.WaitWithDeadline(&mu_, until)) return queue_.empty() && busy_ == 0;
  }
  return true;
}

Json ShadowMirror::Stats() const {
  const uint64_t rows = rows_.load(), agree = agree_.load();
  Json j = {{"sample", options_.sample},
            {"mirrored", mirrored_.load()},
            {"dropped", dropped_.load()},
            {"scored", done_.load() - errors_.load()},
            {"errors", errors_.load()},
            {"compared_rows", rows},
            {"agreeing_rows", agree},
            {"label_agreement", rows > 0 ? Json(static_cast<double>(agree) / rows) : Json()},
            {"abs_diff", HistogramToJson(abs_diff_)},
            {"latency_seconds", HistogramToJson(latency_)}};
  if (int64_t v = last_version_.load(); v > 0) j["version"] = v;
  absl::MutexLock lock(&error_mu_);
  if (!last_error_.empty()) j["last_error"] = last_error_;
  return j;
}

void ShadowMirror::Render(std::string& out, const std::string& labels) const {
  auto counter = [&](const char* name, const char* help, uint64_t v) {
    out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " counter\n";
    out += std::string(name) + "{" + labels + "} " + std::to_string(v) + "\n";
  };
  counter("tandem_shadow_requests_total", "Requests copied to the shadow model.", mirrored_.load());
  counter("tandem_shadow_dropped_total", "Copies dropped because the shadow queue was full.",
          dropped_.load());
  counter("tandem_shadow_errors_total", "Shadow copies that failed (no version, shape, predict).",
          errors_.load());
  counter("tandem_shadow_compared_rows_total", "Rows scored by both primary and shadow.",
          rows_.load());
  counter("tandem_shadow_label_agreements_total",
          "Compared rows whose label (argmax, or score >= 0.5) agreed.", agree_.load());
  out +=
      "# HELP tandem_shadow_abs_score_diff Largest absolute score difference per compared row.\n"
      "# TYPE tandem_shadow_abs_score_diff histogram\n";
  abs_diff_.Render(out, "tandem_shadow_abs_score_diff", labels);
  out +=
      "# HELP tandem_shadow_duration_seconds Time of the shadow model's prediction.\n"
      "# TYPE tandem_shadow_duration_seconds histogram\n";
  latency_.Render(out, "tandem_shadow_duration_seconds", labels);
}

}  // namespace tandem::serving::traffic
