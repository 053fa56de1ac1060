// Metric definitions applied to a job's log as it is produced: each line is
// matched against every definition's regex; the first capture group, parsed
// as a number, is a sample. Non-numeric captures are counted and skipped.
// Lines longer than kMaxLine bytes are truncated before matching.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "compute/job_spec.h"

namespace tandem::compute {

struct MetricSample {
  std::string name;
  double value = 0;
  int64_t timestamp_micros = 0;
  int64_t step = 0;  // 0-based index of this metric's sample
};

class MetricParser {
 public:
  static constexpr size_t kMaxLine = 64 * 1024;

  // InvalidArgument naming the definition whose regex does not compile or
  // has no capture group; more than 40 definitions are refused.
  static StatusOr<MetricParser> Create(const std::vector<MetricDefinition>& defs);

  // Feeds a chunk of log bytes (any split); complete lines are matched.
  // Returns the samples found. Not thread-safe.
  std::vector<MetricSample> Feed(std::string_view chunk, int64_t now_micros);
  // Matches a trailing partial line at end of log.
  std::vector<MetricSample> Finish(int64_t now_micros);

  int64_t non_numeric_captures() const { return non_numeric_; }

 private:
  struct Impl;
  MetricParser() = default;
  std::vector<MetricDefinition> defs_;
  std::vector<int64_t> steps_;
  std::string partial_;
  int64_t non_numeric_ = 0;
  // Compiled regexes live in a shared_ptr'd impl so the parser is movable.
  std::shared_ptr<const Impl> impl_;
};

}  // namespace tandem::compute
