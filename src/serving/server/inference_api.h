// The model server's REST surface on a common http::Server:
//   Open Inference Protocol (KServe v2): GET /v2/health/live, /v2/health/ready,
//   /v2, /v2/models/{m}[/versions/{v}], .../ready; POST .../infer (JSON and
//   binary tensors); repository extension POST /v2/repository/index,
//   /v2/repository/models/{m}/load, .../unload;
//   POST /infer {"model", "features"} -> {"model", "version", "scores"};
//   GET /metrics (Prometheus text).
// Errors are {"error": "..."} with NOT_FOUND -> 404, UNAVAILABLE -> 503,
// RESOURCE_EXHAUSTED -> 429, UNIMPLEMENTED -> 501, INTERNAL -> 500, others
// -> 400 (Triton's mapping). 413 comes from the http::Server body limit.
//
// Thread-safety: handlers run concurrently; SetAccepting may be called from
// any thread. The manager, metrics and clock must outlive the InferenceApi,
// and the InferenceApi must outlive the server it registered routes on.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

#include "common/clock.h"
#include "common/http_server.h"
#include "common/status.h"
#include "serving/server/endpoint_auth.h"
#include "serving/engine/metrics.h"
#include "serving/engine/model_manager.h"

namespace tandem::serving::traffic {
class TrafficRouter;
}  // namespace tandem::serving::traffic

namespace tandem::serving::server {

struct InferenceApiOptions {
  int64_t max_body_bytes = 64 << 20;  // per infer request; larger -> 413
  // Run infer handlers on the I/O threads (no worker hand-off). Only safe
  // when they never block long, i.e. without dynamic batching.
  bool inline_infer = false;
  std::string server_name = "tandem";
  // Run infer handlers inline while no served version batches (automatic
  // batching: a native model inline, a Python handler on the worker pool).
  bool inline_unless_batching = false;
  // Shadow/canary policies (not owned; null = none). With one, requests for
  // its primary model are split/mirrored, GET /v2/models/{m}/traffic answers
  // its statistics, POST there {"canary_weight": W} sets the weight, and
  // /metrics includes its families.
  traffic::TrafficRouter* traffic = nullptr;
  // Per-deployment tokens (endpoint_auth.h): when enabled, every route but
  // health and /metrics answers 401 without one of them.
  EndpointAuth auth;
};

class InferenceApi {
 public:
  InferenceApi(engine::ModelManager& manager, engine::ServingMetrics& metrics, Clock& clock,
               InferenceApiOptions options = {});

  // Registers every route on `server` (before server.Start()).
  void RegisterRoutes(http::Server& server);

  // While false, /v2/health/ready answers 503 (draining or starting);
  // requests are still served.
  void SetAccepting(bool accepting);
  bool ready() const;

 private:
  void Live(http::Request& req, http::Response& res);
  void Ready(http::Request& req, http::Response& res);
  void ServerMetadata(http::Request& req, http::Response& res);
  void ModelMetadata(http::Request& req, http::Response& res);
  void ModelReady(http::Request& req, http::Response& res);
  void Infer(http::Request& req, http::Response& res);
  void SimpleInfer(http::Request& req, http::Response& res);
  void RepositoryIndex(http::Request& req, http::Response& res);
  void RepositoryLoad(http::Request& req, http::Response& res);
  void RepositoryUnload(http::Request& req, http::Response& res);
  void Metrics(http::Request& req, http::Response& res);
  void Traffic(http::Request& req, http::Response& res);
  void SetTraffic(http::Request& req, http::Response& res);
  void NoRoute(http::Request& req, http::Response& res);

  // Whether the request carries a token options_.auth accepts (remembered
  // per connection in req.connection_state: endpoint_auth.h).
  bool Authorized(http::Request& req) const;
  // Writes {"error": message} with the mapped status; counts the failure.
  void Fail(http::Response& res, const Status& s, engine::ModelMetrics* m);

  engine::ModelManager& manager_;
  engine::ServingMetrics& metrics_;
  Clock& clock_;
  const InferenceApiOptions options_;
  std::atomic<bool> accepting_{true};
};

// The HTTP status for a canonical code (Triton's mapping, plus 429).
int ServingHttpStatus(StatusCode code);

}  // namespace tandem::serving::server
