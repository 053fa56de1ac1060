#include "serving/traffic/canary.h"

#include "absl/synchronization/mutex.h"
#include "common/log.h"
#include "serving/traffic/shadow.h"

namespace tandem::serving::traffic {

namespace {
std::vector<double> CanaryLatencyBounds() {
  return {25e-6, 50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 5e-3, 10e-3,
          25e-3, 50e-3, 100e-3, 250e-3, 500e-3, 1.0,  2.5,    5.0,  10.0};
}
}  // namespace

std::string_view VariantName(Variant v) {
  return v == Variant::kCandidate ? "candidate" : "primary";
}

VariantMetrics::VariantMetrics() : latency_seconds(CanaryLatencyBounds()) {}

CanarySplit::CanarySplit(CanaryPolicy policy, Clock& clock)
    : policy_(std::move(policy)),
      weight_(policy_.weight),
      monitor_(policy_.rollback, clock),
      clock_(clock) {}

Variant CanarySplit::Choose() {
  const double w = weight_.load(std::memory_order_relaxed);
  if (w <= 0) return Variant::kPrimary;
  return TakeShare(counter_.fetch_add(1, std::memory_order_relaxed), w) ? Variant::kCandidate
                                                                        : Variant::kPrimary;
}

std::optional<RollbackDecision> CanarySplit::Record(Variant v, bool ok, int64_t latency_us) {
  VariantMetrics& m = metrics_[static_cast<int>(v)];
  m.requests.fetch_add(1, std::memory_order_relaxed);
  if (!ok) m.errors.fetch_add(1, std::memory_order_relaxed);
  m.latency_seconds.Observe(latency_us * 1e-6);
  if (v != Variant::kCandidate) return std::nullopt;
  auto decision = monitor_.Record(ok, latency_us);
  if (!decision) return std::nullopt;
  weight_.store(0, std::memory_order_relaxed);
  {
    absl::MutexLock lock(&mu_);
    reason_ = decision->reason;
    rolled_back_at_us_ = clock_.NowMicros();
  }
  LogWarn("canary rolled back", {{"candidate", policy_.model}, {"reason", decision->reason}});
  return decision;
}

void CanarySplit::SetWeight(double weight) {
  weight_.store(std::clamp(weight, 0.0, 1.0), std::memory_order_relaxed);
}

bool CanarySplit::rolled_back() const {
  absl::MutexLock lock(&mu_);
  return !reason_.empty();
}

std::string CanarySplit::rollback_reason() const {
  absl::MutexLock lock(&mu_);
  return reason_;
}

Json CanarySplit::Stats() {
  Json variants = Json::object();
  for (Variant v : {Variant::kPrimary, Variant::kCandidate}) {
    const VariantMetrics& m = metrics(v);
    variants[std::string(VariantName(v))] = {
        {"requests", m.requests.load()},
        {"errors", m.errors.load()},
        {"latency_seconds", HistogramToJson(m.latency_seconds)}};
  }
  Json j = {{"model", policy_.model},
            {"configured_weight", policy_.weight},
            {"weight", weight()},
            {"rollback_rule", policy_.rollback.ToJson()},
            {"window", monitor_.Window().ToJson()},
            {"variants", variants},
            {"rolled_back", false}};
  absl::MutexLock lock(&mu_);
  if (!reason_.empty()) {
    j["rolled_back"] = true;
    j["rollback_reason"] = reason_;
    j["rolled_back_at"] = FormatRfc3339(rolled_back_at_us_);
  }
  return j;
}

void CanarySplit::Render(std::string& out, const std::string& labels) const {
  auto l = [&](Variant v) { return labels + ",variant=\"" + std::string(VariantName(v)) + "\""; };
  out += "# HELP tandem_canary_requests_total Requests answered per canary variant.\n";
  out += "# TYPE tandem_canary_requests_total counter\n";
  for (Variant v : {Variant::kPrimary, Variant::kCandidate}) {
    out += "tandem_canary_requests_total{" + l(v) + "} " +
           std::to_string(metrics(v).requests.load()) + "\n";
  }
  out += "# HELP tandem_canary_errors_total Failed predictions per canary variant.\n";
  out += "# TYPE tandem_canary_errors_total counter\n";
  for (Variant v : {Variant::kPrimary, Variant::kCandidate}) {
    out += "tandem_canary_errors_total{" + l(v) + "} " + std::to_string(metrics(v).errors.load()) +
           "\n";
  }
  out += "# HELP tandem_canary_duration_seconds Request time per canary variant.\n";
  out += "# TYPE tandem_canary_duration_seconds histogram\n";
  for (Variant v : {Variant::kPrimary, Variant::kCandidate}) {
    metrics(v).latency_seconds.Render(out, "tandem_canary_duration_seconds", l(v));
  }
  out += "# HELP tandem_canary_weight Share of live traffic sent to the candidate now.\n";
  out += "# TYPE tandem_canary_weight gauge\n";
  out += "tandem_canary_weight{" + labels + "} " + std::to_string(weight()) + "\n";
  out += "# HELP tandem_canary_rolled_back 1 once the rollback rule restored 100% primary.\n";
  out += "# TYPE tandem_canary_rolled_back gauge\n";
  out += "tandem_canary_rolled_back{" + labels + "} " + (rolled_back() ? "1" : "0") + "\n";
}

}  // namespace tandem::serving::traffic
