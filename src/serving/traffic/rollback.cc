#include "serving/traffic/rollback.h"

#include <algorithm>
#include <cstdio>
#include <vector>

#include "absl/synchronization/mutex.h"

namespace tandem::serving::traffic {

namespace {
std::string Fmt(const char* fmt, double a, double b) {
  char buf[96];
  std::snprintf(buf, sizeof(buf), fmt, a, b);
  return buf;
}
}  // namespace

Json WindowStats::ToJson() const {
  return {
      {"requests", requests}, {"errors", errors}, {"error_rate", error_rate}, {"p99_ms", p99_ms}};
}

RollbackMonitor::RollbackMonitor(RollbackRule rule, Clock& clock)
    : rule_(rule), clock_(clock), last_p99_us_(clock.MonotonicMicros()) {}

void RollbackMonitor::PruneLocked(int64_t now) {
  const int64_t oldest = now - rule_.window_seconds * 1'000'000;
  while (!samples_.empty() && (samples_.front().at_us <= oldest || samples_.size() > kMaxSamples)) {
    if (!samples_.front().ok) --errors_;
    samples_.pop_front();
  }
}

WindowStats RollbackMonitor::StatsLocked(bool with_p99) const {
  WindowStats w;
  w.requests = static_cast<int64_t>(samples_.size());
  w.errors = errors_;
  w.error_rate = w.requests > 0 ? static_cast<double>(w.errors) / w.requests : 0;
  if (with_p99 && !samples_.empty()) {
    std::vector<int64_t> lat;
    lat.reserve(samples_.size());
    for (const Sample& s : samples_) lat.push_back(s.latency_us);
    // Nearest-rank p99.
    size_t rank = (lat.size() * 99 + 99) / 100;
    size_t k = std::min(lat.size() - 1, rank == 0 ? 0 : rank - 1);
    std::nth_element(lat.begin(), lat.begin() + static_cast<std::ptrdiff_t>(k), lat.end());
    w.p99_ms = lat[k] / 1000.0;
  }
  return w;
}

std::optional<RollbackDecision> RollbackMonitor::CheckLocked(bool with_p99) {
  if (fired_ || static_cast<int64_t>(samples_.size()) < rule_.min_requests) return std::nullopt;
  const double rate = static_cast<double>(errors_) / static_cast<double>(samples_.size());
  std::string suffix = " over " + std::to_string(samples_.size()) + " requests in the last " +
                       std::to_string(rule_.window_seconds) + " s";
  if (rate > rule_.max_error_rate) {
    fired_ = true;
    return RollbackDecision{
        Fmt("candidate error rate %.4g > max_error_rate %.4g", rate, rule_.max_error_rate) + suffix,
        StatsLocked(true)};
  }
  if (with_p99 && rule_.max_p99_ms > 0) {
    WindowStats w = StatsLocked(true);
    if (w.p99_ms > rule_.max_p99_ms) {
      fired_ = true;
      return RollbackDecision{
          Fmt("candidate p99 %.4g ms > max_p99_ms %.4g", w.p99_ms, rule_.max_p99_ms) + suffix, w};
    }
  }
  return std::nullopt;
}

std::optional<RollbackDecision> RollbackMonitor::Record(bool ok, int64_t latency_us) {
  const int64_t now = clock_.MonotonicMicros();
  absl::MutexLock lock(&mu_);
  if (fired_) return std::nullopt;
  samples_.push_back({now, latency_us, ok});
  if (!ok) ++errors_;
  PruneLocked(now);
  // The p99 needs a pass over the window: amortized to O(64) per request.
  const int64_t every = std::max<int64_t>(16, static_cast<int64_t>(samples_.size()) / 64);
  bool p99 = ++since_p99_ >= every || now - last_p99_us_ >= 1'000'000;
  if (p99) {
    since_p99_ = 0;
    last_p99_us_ = now;
  }
  return CheckLocked(p99);
}

std::optional<RollbackDecision> RollbackMonitor::Evaluate() {
  absl::MutexLock lock(&mu_);
  PruneLocked(clock_.MonotonicMicros());
  return CheckLocked(true);
}

WindowStats RollbackMonitor::Window() {
  absl::MutexLock lock(&mu_);
  PruneLocked(clock_.MonotonicMicros());
  return StatsLocked(true);
}

bool RollbackMonitor::fired() const {
  absl::MutexLock lock(&mu_);
  return fired_;
}

}  // namespace tandem::serving::traffic
