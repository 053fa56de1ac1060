#include "api/http_metrics.h"

namespace tandem::api {

namespace {

std::vector<double> LatencyBounds() {
  return {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};
}

}  // namespace

void HttpMetrics::Observe(const http::RequestRecord& record) {
  std::string route(record.route);
  std::string method = route.empty() ? "" : std::string(record.method);
  absl::MutexLock lock(&mu_);
  Route& r = routes_[{method, route}];
  if (!r.seconds) r.seconds = std::make_unique<prometheus::Histogram>(LatencyBounds());
  r.by_code[record.status]++;
  if (record.status >= 500) r.errors++;
  r.seconds->Observe(static_cast<double>(record.duration_us) / 1e6);
}

void HttpMetrics::Render(std::string& out) const {
  using prometheus::Header;
  using prometheus::Label;
  using prometheus::Sample;
  absl::MutexLock lock(&mu_);
  auto labels = [](const std::pair<std::string, std::string>& key) {
    return Label("method", key.first) + "," + Label("route", key.second);
  };
  Header(out, "tandem_http_requests_total", "counter",
         "Control-plane HTTP requests answered, by route pattern and status code.");
  for (const auto& [key, r] : routes_) {
    for (const auto& [code, n] : r.by_code) {
      Sample(out, "tandem_http_requests_total",
             labels(key) + "," + Label("code", std::to_string(code)), static_cast<double>(n));
    }
  }
  Header(out, "tandem_http_request_errors_total", "counter",
         "Control-plane HTTP requests answered with a 5xx status, by route pattern.");
  for (const auto& [key, r] : routes_) {
    Sample(out, "tandem_http_request_errors_total", labels(key), static_cast<double>(r.errors));
  }
  Header(out, "tandem_http_request_duration_seconds", "histogram",
         "Control-plane HTTP request time, head read to response written, by route pattern.");
  for (const auto& [key, r] : routes_) {
    r.seconds->Render(out, "tandem_http_request_duration_seconds", labels(key));
  }
}

}  // namespace tandem::api
