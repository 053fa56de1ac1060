// One warm serving replica: an HTTP server with the inference API, a model
// manager, and either a follower (a registry target, followed through the
// bus) or a local package directory. A supervisor may start several replicas
// on one port (one listening socket they all inherit, listen_fd, or
// reuse_port) and probe /v2/health/ready on each.
//
// Lifecycle: Start() binds (live, not ready), loads the model, then turns
// ready. Shutdown() turns not ready, waits drain_delay_ms (for load
// balancers to notice), stops accepting, answers in-flight and already-read
// requests and the next request of each kept-alive connection with
// `Connection: close` (up to grace_ms; idle connections get drain_idle_ms),
// stops following and removes the follower's queue. A planned stop costs
// clients nothing; a SIGKILL loses the requests in flight on the replica.
//
// Thread-safety: Start/Shutdown from one thread; accessors from any.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/config.h"
#include "common/http_server.h"
#include "common/status.h"
#include "glue/open/glue.h"
#include "serving/engine/batcher.h"
#include "serving/engine/metrics.h"
#include "serving/engine/model_follower.h"
#include "serving/engine/model_manager.h"
#include "serving/server/serving_image.h"
#include "serving/server/inference_api.h"
#include "serving/traffic/router.h"

namespace tandem::sql {
class Database;
}
namespace tandem::store {
class ObjectStore;
}

namespace tandem::serving::server {

struct ReplicaOptions {
  // Exactly one of: a registry target (NAME@alias | NAME/VERSION | NAME) ...
  std::string target;
  // ... or a local package directory, served as `model_name` (default: the
  // directory's name) version 1.
  std::string model_dir;
  std::string model_name;

  std::string deployment;  // default: the model name
  std::string replica_id;  // default: the process id
  std::string cache_dir;   // default: <home>/serving/cache

  std::string host = "127.0.0.1";
  int port = 8080;  // 0 = any free port
  bool reuse_port = false;
  // >= 0: accept on this inherited listening socket, shared with the other
  // replicas of the deployment (host/port/reuse_port are then unused). A
  // draining replica stops accepting and the others take what is queued.
  int listen_fd = -1;
  // >= 0: also serve the same API on a private port (0 = any free port) so a
  // supervisor can probe this replica when several share `port`.
  int admin_port = -1;
  int io_threads = 2;
  int worker_threads = 16;
  int64_t max_body_bytes = 64 << 20;
  // Minimum body rate and connection caps of both ports; Open() takes them
  // from the configuration (tandem.yaml `server:`).
  http::ClientLimits client_limits;
  engine::BatchOptions batch;
  int64_t resync_interval_ms = 30'000;
  int64_t drain_delay_ms = 0;
  int64_t grace_ms = 30'000;
  // While draining, an idle keep-alive connection gets this long to send one
  // more request (answered with `Connection: close`) before it is closed, so
  // that clients under steady load see no reset (http::ServerOptions).
  int64_t drain_idle_ms = 2'000;
  // Shadow/canary policies for the served model (none by default); with a
  // model_dir the variants may be local packages too.
  traffic::TrafficPolicy traffic;
  std::string shadow_dir;
  std::string canary_dir;
  // SHA-256 digests (hex) of the tokens /v2/... and /infer require; none =
  // open (endpoint_auth.h).
  std::vector<std::string> token_sha256;
  // Set: both ports speak HTTPS only, with this certificate and key.
  http::TlsFiles tls;
  // repository@sha256:...: Python handler workers (of the model and of its
  // shadow/canary) run inside this image, pulled from the image store into
  // the node's layer cache (serving_image.h). "" = on the host.
  std::string image;
  std::string image_cache_dir;  // default: <home>/cache/images
  uint64_t image_cache_bytes = 20ULL << 30;
};

// Glue the replica uses when following a target; not owned, must outlive it.
struct ReplicaGlue {
  registry::ModelRegistry* registry = nullptr;
  store::ObjectStore* store = nullptr;
  bus::EventBus* bus = nullptr;
  images::ImageStore* images = nullptr;  // needed with ReplicaOptions::image
};

class Replica {
 public:
  // Opens the glue named by `config` (the same database/store/bus URIs as
  // `tandem up`, so the replica works while the control plane is down).
  static StatusOr<std::unique_ptr<Replica>> Open(const Config& config, ReplicaOptions options,
                                                 Clock& clock);
  // With caller-owned glue (tests); `glue` may be empty for model_dir.
  static StatusOr<std::unique_ptr<Replica>> Create(ReplicaOptions options, ReplicaGlue glue,
                                                   Clock& clock);
  ~Replica();  // Shutdown()

  // Binds, loads the model and turns ready; returns the first load's error
  // for model_dir (nothing served), or logs it and keeps following for a
  // target (ready once a version loads). Bind failures -> Unavailable.
  Status Start();
  // Graceful stop (see the top of the file). Idempotent.
  void Shutdown();
  // Reloads the TLS certificate and key of both ports from their files now
  // (SIGHUP; http::Server::ReloadTls): the first error, the old pair kept.
  Status ReloadTls();

  int port() const;
  int admin_port() const;  // 0 if none
  bool ready() const { return api_->ready(); }
  const std::string& model_name() const { return model_name_; }
  // The version served now (0 if none).
  int64_t version() const;
  // "serving NAME version V on http[s]://HOST:PORT[ (Python handlers in image REPO@DIGEST)]"
  std::string Describe() const;
  LazyServingImage* image() { return image_.get(); }

  engine::ModelManager& manager() { return *manager_; }
  engine::ServingMetrics& metrics() { return metrics_; }
  engine::ModelFollower* follower() { return follower_.get(); }
  traffic::TrafficRouter* traffic() { return traffic_.get(); }  // null without a policy

 private:
  Replica(ReplicaOptions options, ReplicaGlue glue, Clock& clock);

  ReplicaOptions options_;
  ReplicaGlue glue_;
  Clock& clock_;
  std::string model_name_;
  // Owned glue when opened from a Config.
  glue::Glue owned_glue_;
  // The image Python handler workers run in (prepared at the first python
  // load; held while the replica lives); null = the host.
  std::unique_ptr<LazyServingImage> image_;

  engine::ServingMetrics metrics_;
  std::unique_ptr<engine::ModelManager> manager_;
  std::unique_ptr<traffic::TrafficRouter> traffic_;  // outlives api_ and the servers
  std::unique_ptr<InferenceApi> api_;
  std::unique_ptr<http::Server> server_;
  std::unique_ptr<http::Server> admin_server_;
  std::unique_ptr<engine::ModelFollower> follower_;
  bool started_ = false;
  bool stopped_ = false;
};

}  // namespace tandem::serving::server
