// Prometheus text exposition (format 0.0.4): HELP/TYPE headers, samples,
// label escaping and a fixed-bucket histogram, shared by the replicas'
// /metrics and the control plane's.
//
// Thread-safety: the free functions are pure; Histogram is thread-safe
// (lock-free counters; a render reads each counter once).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace tandem::prometheus {

// The content type of the exposition.
inline constexpr std::string_view kContentType = "text/plain; version=0.0.4; charset=utf-8";

// Appends `v` as Prometheus prints numbers (+Inf, -Inf, NaN, shortest form).
void AppendNumber(std::string& out, double v);
// Appends "# HELP name help" and "# TYPE name type" lines.
void Header(std::string& out, std::string_view name, std::string_view type, std::string_view help);
// Appends "name{labels} value" (no braces without labels).
void Sample(std::string& out, std::string_view name, std::string_view labels, double v);
// A label value with backslash, double quote and newline escaped.
std::string EscapeLabel(std::string_view value);
// `name="value"` with the value escaped.
std::string Label(std::string_view name, std::string_view value);

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

}  // namespace tandem::prometheus
