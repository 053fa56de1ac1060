#include "compute/jobs/metric_parser.h"

#include <array>
#include <charconv>
#include <cmath>
#include <optional>

#include "re2/re2.h"

namespace tandem::compute::jobs {

constexpr size_t kMaxMetricDefinitions = 40;
// Per compiled regex: a pattern that needs more (e.g. a{1000}{1000}) is refused.
constexpr int64_t kMaxRegexMemory = 1 << 20;

struct MetricParser::Impl {
  std::vector<std::unique_ptr<const re2::RE2>> regexes;
};

namespace {

// Parses `s` as a finite decimal number; nullopt otherwise.
std::optional<double> ParseNumber(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  if (!s.empty() && s.front() == '+') s.remove_prefix(1);
  if (s.empty()) return std::nullopt;
  double v = 0;
  auto r = std::from_chars(s.data(), s.data() + s.size(), v, std::chars_format::general);
  if (r.ec != std::errc() || r.ptr != s.data() + s.size() || !std::isfinite(v)) {
    return std::nullopt;
  }
  return v;
}

}  // namespace

StatusOr<MetricParser> MetricParser::Create(const std::vector<MetricDefinition>& defs) {
  if (defs.size() > kMaxMetricDefinitions) {
    return InvalidArgumentError("at most 40 metric_definitions are allowed, got " +
                                std::to_string(defs.size()));
  }
  Impl impl;
  for (size_t i = 0; i < defs.size(); ++i) {
    std::string where = "metric_definitions[" + std::to_string(i) + "] ('" + defs[i].name + "')";
    re2::RE2::Options options;
    options.set_log_errors(false);
    options.set_max_mem(kMaxRegexMemory);
    auto re = std::make_unique<const re2::RE2>(defs[i].regex, options);
    if (!re->ok()) {
      return InvalidArgumentError(where + ": regex '" + defs[i].regex +
                                  "' does not compile: " + re->error());
    }
    if (re->NumberOfCapturingGroups() == 0) {
      return InvalidArgumentError(where + ": regex '" + defs[i].regex +
                                  "' has no capture group; the first group is the value");
    }
    impl.regexes.push_back(std::move(re));
  }
  MetricParser p;
  p.defs_ = defs;
  p.steps_.assign(defs.size(), 0);
  p.impl_ = std::make_shared<const Impl>(std::move(impl));
  return p;
}

std::vector<MetricSample> MetricParser::Feed(std::string_view chunk, int64_t now_micros) {
  std::vector<MetricSample> out;
  while (!chunk.empty()) {
    size_t eol = chunk.find_first_of("\r\n");
    std::string_view part = chunk.substr(0, eol);
    // Keep at most kMaxLine bytes of a line; the rest is dropped.
    if (partial_.size() < kMaxLine) {
      partial_.append(part.substr(0, kMaxLine - partial_.size()));
    }
    if (eol == std::string_view::npos) break;
    MatchLine(partial_, now_micros, out);
    partial_.clear();
    chunk.remove_prefix(eol + 1);
  }
  return out;
}

std::vector<MetricSample> MetricParser::Finish(int64_t now_micros) {
  std::vector<MetricSample> out;
  MatchLine(partial_, now_micros, out);
  partial_.clear();
  return out;
}

void MetricParser::MatchLine(const std::string& line, int64_t now_micros,
                             std::vector<MetricSample>& out) {
  if (line.empty() || !impl_) return;
  for (size_t i = 0; i < defs_.size(); ++i) {
    // group[0] is the whole match, group[1] the value (null if it did not
    // participate).
    std::array<re2::StringPiece, 2> group;
    if (!impl_->regexes[i]->Match(line, 0, line.size(), re2::RE2::UNANCHORED, group.data(),
                                  static_cast<int>(group.size()))) {
      continue;
    }
    std::optional<double> v =
        group[1].data() == nullptr ? std::nullopt : ParseNumber(std::string_view(group[1]));
    if (!v) {
      ++non_numeric_;
      continue;
    }
    out.push_back(MetricSample{defs_[i].name, *v, now_micros, steps_[i]++});
  }
}

}  // namespace tandem::compute::jobs
