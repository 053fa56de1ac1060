#include "api/replica_metrics.h"

#include <charconv>
#include <cmath>
#include <limits>
#include <map>
#include <string>

namespace tandem::api {
namespace {

constexpr std::string_view kLatency = "tandem_inference_request_duration_seconds";

struct Sample {
  std::string_view name;
  std::string_view labels;  // without braces
  double value = 0;
};

// The value of label `key` in `k1="v1",k2="v2"` ("" if absent). Label values
// here are model names and bucket bounds, which never contain quotes.
std::string_view Label(std::string_view labels, std::string_view key) {
  size_t pos = 0;
  while (pos < labels.size()) {
    size_t eq = labels.find("=\"", pos);
    if (eq == std::string_view::npos) return "";
    size_t end = labels.find('"', eq + 2);
    if (end == std::string_view::npos) return "";
    if (labels.substr(pos, eq - pos) == key) return labels.substr(eq + 2, end - eq - 2);
    pos = end + 1;
    if (pos < labels.size() && labels[pos] == ',') ++pos;
  }
  return "";
}

StatusOr<double> Number(std::string_view text) {
  if (text == "+Inf") return std::numeric_limits<double>::infinity();
  if (text == "-Inf") return -std::numeric_limits<double>::infinity();
  if (text == "NaN") return std::nan("");
  double v = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || ptr != text.data() + text.size()) {
    return InvalidArgumentError("not a number: '" + std::string(text) + "'");
  }
  return v;
}

StatusOr<Sample> ParseLine(std::string_view line) {
  Sample s;
  size_t brace = line.find('{');
  size_t space;
  if (brace != std::string_view::npos && brace < line.find(' ')) {
    size_t close = line.find('}', brace);
    if (close == std::string_view::npos) {
      return InvalidArgumentError("unclosed labels in metrics line '" + std::string(line) + "'");
    }
    s.name = line.substr(0, brace);
    s.labels = line.substr(brace + 1, close - brace - 1);
    space = line.find(' ', close);
  } else {
    space = line.find(' ');
    s.name = line.substr(0, space);
  }
  if (space == std::string_view::npos) {
    return InvalidArgumentError("no value in metrics line '" + std::string(line) + "'");
  }
  std::string_view value = line.substr(space + 1);
  value = value.substr(0, value.find(' '));  // an optional timestamp follows
  auto v = Number(value);
  if (!v.ok())
    return InvalidArgumentError("metrics line '" + std::string(line) +
                                "': " + std::string(v.status().message()));
  s.value = *v;
  return s;
}

}  // namespace

StatusOr<Json> SummarizeReplicaMetrics(std::string_view exposition, std::string_view model) {
  double requests = 0, failures = 0, in_flight = 0, version = 0, ready = 0, count = 0, sum = 0;
  std::map<double, double> buckets;  // le -> cumulative count
  while (!exposition.empty()) {
    size_t nl = exposition.find('\n');
    std::string_view line = exposition.substr(0, nl);
    exposition = nl == std::string_view::npos ? std::string_view() : exposition.substr(nl + 1);
    if (line.empty() || line.front() == '#') continue;
    ASSIGN_OR_RETURN(Sample s, ParseLine(line));
    if (s.name == "tandem_inference_in_flight_requests") in_flight = s.value;
    if (s.name == "tandem_replica_ready") ready = s.value;
    if (Label(s.labels, "model") != model) continue;
    if (s.name == "tandem_inference_requests_total") {
      requests += s.value;
    } else if (s.name == "tandem_inference_failures_total") {
      failures += s.value;
    } else if (s.name == "tandem_model_version") {
      version = s.value;
    } else if (s.name.substr(0, kLatency.size()) == kLatency) {
      std::string_view suffix = s.name.substr(kLatency.size());
      if (suffix == "_bucket") {
        ASSIGN_OR_RETURN(double le, Number(Label(s.labels, "le")));
        buckets[le] += s.value;
      } else if (suffix == "_count") {
        count = s.value;
      } else if (suffix == "_sum") {
        sum = s.value;
      }
    }
  }
  Json bounds = Json::array();
  Json cumulative = Json::array();
  for (const auto& [le, n] : buckets) {
    if (!std::isinf(le)) bounds.push_back(le);
    cumulative.push_back(n);
  }
  if (!buckets.empty() && !std::isinf(buckets.rbegin()->first)) {
    return InvalidArgumentError("the " + std::string(kLatency) + " histogram has no +Inf bucket");
  }
  return Json{{"requests", requests + failures},
              {"failures", failures},
              {"in_flight", in_flight},
              {"version", static_cast<int64_t>(version)},
              {"ready", ready > 0},
              {"latency",
               {{"bounds", bounds}, {"cumulative", cumulative}, {"count", count}, {"sum", sum}}}};
}

}  // namespace tandem::api
