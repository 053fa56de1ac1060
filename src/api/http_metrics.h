// Request counts, errors and latency per route of the control plane's HTTP
// server (fed by http::ServerOptions::observer), rendered as Prometheus text.
// Labels are bounded: the route is the registered pattern, and a request that
// matched none counts under route="" and method="".
//
// Thread-safety: Observe and Render may be called from any thread.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>

#include "absl/synchronization/mutex.h"
#include "common/http_server.h"
#include "common/prometheus.h"

namespace tandem::api {

class HttpMetrics {
 public:
  HttpMetrics() = default;
  HttpMetrics(const HttpMetrics&) = delete;
  HttpMetrics& operator=(const HttpMetrics&) = delete;

  void Observe(const http::RequestRecord& record);
  // Appends tandem_http_requests_total{method,route,code},
  // tandem_http_request_errors_total{method,route} (5xx) and
  // tandem_http_request_duration_seconds{method,route}.
  void Render(std::string& out) const;

 private:
  struct Route {
    std::map<int, uint64_t> by_code;
    uint64_t errors = 0;
    std::unique_ptr<prometheus::Histogram> seconds;
  };
  mutable absl::Mutex mu_;
  // By (method, route).
  std::map<std::pair<std::string, std::string>, Route> routes_ ABSL_GUARDED_BY(mu_);
};

}  // namespace tandem::api
