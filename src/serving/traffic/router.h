// A replica's traffic policies at work: the shadow and canary models (each
// in its own ModelManager, loaded from the registry by its own ModelFollower,
// so they follow alias moves like the primary, or from a local package), the
// shadow mirror, the canary split and its rollback, which publishes
// "Deployment Canary Rolled Back" on the bus.
//
// The inference API asks Route() which version answers a request for the
// primary model, and reports the outcome with Done(). Requests naming an
// explicit version, or another model, are never split (but are mirrored).
// A candidate not ready yet leaves its share to the primary; a candidate
// whose inputs/outputs differ from the primary's counts a candidate error for
// each request routed to it (the primary answers those, counted as primary).
// Only requests the primary answered are mirrored to the shadow.
//
// Thread-safety: Start/Stop from one thread; everything else from any.
// Registry, store, bus (each may be null for local packages) and clock are not
// owned and must outlive the router.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "common/clock.h"
#include "common/json.h"
#include "common/status.h"
#include "serving/engine/batcher.h"
#include "serving/engine/model_follower.h"
#include "serving/engine/model_manager.h"
#include "serving/traffic/canary.h"
#include "serving/traffic/policy.h"
#include "serving/traffic/shadow.h"

namespace tandem::store {
class ObjectStore;
}

namespace tandem::serving::traffic {

struct TrafficOptions {
  TrafficPolicy policy;
  // Local packages instead of registry targets (`tandem serve --model-dir`).
  std::string shadow_dir;
  std::string canary_dir;
  std::string primary_model;   // the model name whose requests are split
  std::string primary_target;  // for events
  std::string deployment;
  std::string replica_id;
  std::string cache_dir;
  int64_t resync_interval_ms = 30'000;
  engine::BatchOptions batch;
  size_t shadow_queue_capacity = 1024;
  int shadow_threads = 1;
  // The variants' flavor loaders (ModelManagerOptions::flavors); null = built-in.
  const runtime::FlavorRegistry* flavors = nullptr;
};

struct TrafficGlue {
  registry::ModelRegistry* registry = nullptr;
  store::ObjectStore* store = nullptr;
  bus::EventBus* bus = nullptr;
};

struct TrafficRoute {
  std::shared_ptr<const engine::ServedVersion> version;  // answers the request
  Variant variant = Variant::kPrimary;
  bool split = false;  // subject to the canary (Done records it)
};

class TrafficRouter {
 public:
  TrafficRouter(TrafficOptions options, TrafficGlue glue, Clock& clock);
  ~TrafficRouter();  // Stop()

  // Validates the policy, loads the variants and starts following them. A
  // variant that fails to load is logged and retried by its follower; the
  // primary serves alone meanwhile. Bad options -> InvalidArgument.
  Status Start();
  void Stop();

  // Which version answers a request that resolved to `primary`.
  TrafficRoute Route(std::shared_ptr<const engine::ServedVersion> primary,
                     std::string_view version);
  // The request's outcome (status of the prediction, time since it started)
  // and, if it succeeded, its rows and scores for the shadow.
  void Done(const TrafficRoute& route, const Status& status, int64_t latency_us, const float* rows,
            size_t n_rows, size_t n_cols, const float* scores, size_t n_outs);

  // GET .../traffic: the policy, the variants' versions and statistics.
  Json Stats();
  // Prometheus families (appended to the replica's /metrics).
  void Render(std::string& out) const;
  // Sets the canary weight by hand; FailedPrecondition without a canary.
  Status SetCanaryWeight(double weight);

  ShadowMirror* shadow() { return shadow_.get(); }
  CanarySplit* canary() { return canary_.get(); }
  engine::ModelManager* shadow_manager() { return shadow_manager_.get(); }
  engine::ModelManager* canary_manager() { return canary_manager_.get(); }

 private:
  Status StartSide(const std::string& role, const std::string& target, const std::string& dir,
                   std::unique_ptr<engine::ModelManager>& manager,
                   std::unique_ptr<engine::ModelFollower>& follower, std::string& name);
  void PublishRollback(const RollbackDecision& d);

  TrafficOptions options_;
  TrafficGlue glue_;
  Clock& clock_;
  engine::ServingMetrics variant_metrics_;  // the variants' own load/batch metrics
  std::string shadow_name_;
  std::string canary_name_;
  std::unique_ptr<engine::ModelManager> shadow_manager_;
  std::unique_ptr<engine::ModelManager> canary_manager_;
  std::unique_ptr<engine::ModelFollower> shadow_follower_;
  std::unique_ptr<engine::ModelFollower> canary_follower_;
  std::unique_ptr<ShadowMirror> shadow_;
  std::unique_ptr<CanarySplit> canary_;
  bool started_ = false;
};

}  // namespace tandem::serving::traffic
