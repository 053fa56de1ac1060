// Metric definitions applied to a job's log as it is produced: each line is
// matched against every definition's regex; the first capture group, parsed
// as a number, is a sample. Non-numeric captures are counted and skipped.
// Lines longer than kMaxLine bytes are truncated before matching.
//
// Details:
//  - Lines end at '\n' or '\r' (progress bars redraw with '\r'); empty
//    lines are skipped.
//  - Each definition contributes at most one sample per line: its first match
//    (regex_search). Several definitions may match the same line.
//  - Regexes are RE2 syntax (Perl-like
//    without back-references or lookaround), matched in time linear in the
//    line length whatever the pattern, so a hostile pattern or log line
//    cannot stall the log pump; a pattern whose compiled program exceeds
//    1 MiB is refused. Lines are capped at kMaxLine bytes.
//  - A number is what std::from_chars accepts in general format after
//    trimming spaces and one leading '+' ("3", "-0.5", "1e-3", ".5");
//    nan, inf, hex and trailing junk ("0.5,") count as non-numeric.
//  - step is per metric: the n-th sample of a metric has step n-1.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "compute/jobs/spec.h"

namespace tandem::compute::jobs {

struct MetricSample {
  std::string name;
  double value = 0;
  int64_t timestamp_micros = 0;
  int64_t step = 0;  // 0-based index of this metric's sample
};

class MetricParser {
 public:
  static constexpr size_t kMaxLine = 4 * 1024;

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
  void MatchLine(const std::string& line, int64_t now_micros, std::vector<MetricSample>& out);
  std::vector<MetricDefinition> defs_;
  std::vector<int64_t> steps_;
  std::string partial_;
  int64_t non_numeric_ = 0;
  // Compiled regexes live in a shared_ptr'd impl so the parser is movable.
  std::shared_ptr<const Impl> impl_;
};

}  // namespace tandem::compute::jobs
