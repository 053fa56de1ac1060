#include "serving/server/replica.h"

#include <filesystem>

#include "common/log.h"
#include "glue/images/reference.h"

namespace tandem::serving::server {

namespace fs = std::filesystem;

StatusOr<std::unique_ptr<Replica>> Replica::Open(const Config& config, ReplicaOptions options,
                                                 Clock& clock) {
  if (options.cache_dir.empty()) options.cache_dir = config.home + "/serving/cache";
  if (options.image_cache_dir.empty()) options.image_cache_dir = config.home + "/cache/images";
  options.client_limits = config.client_limits;
  std::unique_ptr<Replica> r(new Replica(std::move(options), {}, clock));
  // A local package needs no glue, unless its image must be pulled.
  if (r->options_.target.empty() && r->options_.image.empty()) return r;
  ASSIGN_OR_RETURN(r->owned_glue_, glue::OpenGlue(config, clock));
  const glue::Glue& g = r->owned_glue_;
  r->glue_ = {g.registry.get(), g.store.get(), g.bus.get(), g.images.get()};
  return r;
}

StatusOr<std::unique_ptr<Replica>> Replica::Create(ReplicaOptions options, ReplicaGlue glue,
                                                   Clock& clock) {
  if (!options.target.empty() &&
      (glue.registry == nullptr || glue.store == nullptr || glue.bus == nullptr)) {
    return InvalidArgumentError("following a target needs a registry, a store and a bus");
  }
  return std::unique_ptr<Replica>(new Replica(std::move(options), glue, clock));
}

Replica::Replica(ReplicaOptions options, ReplicaGlue glue, Clock& clock)
    : options_(std::move(options)), glue_(glue), clock_(clock) {}

Replica::~Replica() { Shutdown(); }

Status Replica::Start() {
  if (started_) return FailedPreconditionError("replica already started");
  if (options_.target.empty() == options_.model_dir.empty()) {
    return InvalidArgumentError(
        "give exactly one of a model target (NAME@ALIAS, NAME/VERSION) "
        "or a model directory");
  }
  RETURN_IF_ERROR(engine::ValidateBatchOptions(options_.batch));
  if (!options_.target.empty()) {
    ASSIGN_OR_RETURN(registry::ModelRef ref, registry::ParseModelRef(options_.target));
    model_name_ = ref.name;
  } else {
    model_name_ = options_.model_name.empty()
                      ? fs::path(options_.model_dir).lexically_normal().filename().string()
                      : options_.model_name;
    if (model_name_.empty()) model_name_ = "model";
  }

  if (!options_.image.empty()) {
    auto ref = images::ParseReference(options_.image);
    if (!ref.ok() || ref->digest.empty() || !ref->tag.empty()) {
      return InvalidArgumentError("--image must be repository@sha256:<digest>, got '" +
                                  options_.image + "'");
    }
    ServingImageOptions io{options_.image, options_.image_cache_dir, options_.image_cache_bytes,
                           ""};
    image_ = std::make_unique<LazyServingImage>(io, glue_.images, clock_);
  }
  engine::ModelManagerOptions mo;
  mo.batch = options_.batch;
  if (image_) mo.flavors = &image_->flavors();
  manager_ = std::make_unique<engine::ModelManager>(mo, metrics_, clock_);
  InferenceApiOptions ao;
  ASSIGN_OR_RETURN(ao.auth, EndpointAuth::FromHexDigests(options_.token_sha256));
  if (!options_.traffic.empty()) {
    traffic::TrafficOptions to;
    to.policy = options_.traffic;
    to.shadow_dir = options_.shadow_dir;
    to.canary_dir = options_.canary_dir;
    to.primary_model = model_name_;
    to.primary_target = options_.target.empty() ? options_.model_dir : options_.target;
    to.deployment = options_.deployment.empty() ? model_name_ : options_.deployment;
    to.replica_id = options_.replica_id;
    to.cache_dir = options_.cache_dir;
    to.resync_interval_ms = options_.resync_interval_ms;
    to.batch = options_.batch;
    if (image_) to.flavors = &image_->flavors();
    traffic_ = std::make_unique<traffic::TrafficRouter>(
        to, traffic::TrafficGlue{glue_.registry, glue_.store, glue_.bus}, clock_);
    RETURN_IF_ERROR(traffic_->Start());
    ao.traffic = traffic_.get();
  }
  ao.max_body_bytes = options_.max_body_bytes;
  ao.inline_infer = options_.batch.max_batch_size == 1;
  // Automatic batching: inline unless a served version batches. Canary and
  // shadow versions live outside the manager, so with them: never inline.
  ao.inline_unless_batching = options_.batch.max_batch_size == 0 && options_.traffic.empty();
  api_ = std::make_unique<InferenceApi>(*manager_, metrics_, clock_, ao);

  http::ServerOptions so;
  so.host = options_.host;
  so.port = options_.port;
  so.reuse_port = options_.reuse_port;
  so.listen_fd = options_.listen_fd;
  so.io_threads = options_.io_threads;
  so.worker_threads = options_.worker_threads;
  so.max_body_bytes = options_.max_body_bytes;
  so.limits = options_.client_limits;
  so.drain_idle_ms = options_.drain_idle_ms;
  so.tls = options_.tls;
  // Bad TLS files fail now, not once the model has loaded.
  if (so.tls.enabled()) RETURN_IF_ERROR(http::CheckTlsFiles(so.tls));
  server_ = std::make_unique<http::Server>(so);
  api_->RegisterRoutes(*server_);
  // A replica that shares its port with others (an inherited socket or
  // SO_REUSEPORT) starts accepting only once its first model is loaded:
  // otherwise a replica still loading would answer 503 for a share of the
  // deployment's traffic (e.g. after a restart).
  const bool shared = options_.reuse_port || options_.listen_fd >= 0;
  auto bind_public = [this]() -> Status { return server_->Start().status(); };
  if (!shared) RETURN_IF_ERROR(bind_public());
  started_ = true;
  if (options_.admin_port >= 0) {
    http::ServerOptions ao2 = so;
    ao2.port = options_.admin_port;
    ao2.reuse_port = false;
    ao2.listen_fd = -1;
    ao2.io_threads = 1;
    ao2.worker_threads = 2;
    admin_server_ = std::make_unique<http::Server>(ao2);
    api_->RegisterRoutes(*admin_server_);
    ASSIGN_OR_RETURN(int admin, admin_server_->Start());
    (void)admin;
  }

  if (!options_.model_dir.empty()) {
    std::string dir = options_.model_dir;
    std::string name = model_name_;
    manager_->SetReloader(name, [this, name, dir] { return manager_->Load(name, 1, dir); });
    Status s = manager_->Load(name, 1, dir);
    if (shared) RETURN_IF_ERROR(bind_public());
    api_->SetAccepting(true);
    return s;
  }
  engine::FollowerOptions fo{.target = options_.target,
                             .deployment = options_.deployment,
                             .replica_id = options_.replica_id,
                             .cache_dir = options_.cache_dir,
                             .resync_interval_ms = options_.resync_interval_ms};
  follower_ = std::make_unique<engine::ModelFollower>(fo, *glue_.registry, *glue_.store, *glue_.bus,
                                                      *manager_, clock_);
  Status first;
  RETURN_IF_ERROR(follower_->Start(&first));
  // Without a good first version the replica still binds (it reports not
  // ready) so that it is visible; the follower swaps in a good version later.
  if (shared) RETURN_IF_ERROR(bind_public());
  api_->SetAccepting(true);
  if (!first.ok()) {
    LogWarn("first load failed; following the target and waiting for a good version",
            {{"target", options_.target}, {"error", std::string(first.message())}});
  }
  return OkStatus();
}

void Replica::Shutdown() {
  if (!started_ || stopped_) return;
  stopped_ = true;
  api_->SetAccepting(false);
  LogInfo("replica draining", {{"model", model_name_}, {"port", std::to_string(port())}});
  if (options_.drain_delay_ms > 0) clock_.SleepMicros(options_.drain_delay_ms * 1000);
  server_->Stop(options_.grace_ms);
  if (admin_server_) admin_server_->Stop(0);
  if (follower_) follower_->Stop();
  if (traffic_) traffic_->Stop();
}

Status Replica::ReloadTls() {
  if (!server_) return FailedPreconditionError("replica not started");
  Status s = server_->ReloadTls();
  if (admin_server_) {
    Status admin = admin_server_->ReloadTls();
    if (s.ok()) s = admin;
  }
  return s;
}

int Replica::port() const { return server_ ? server_->port() : 0; }
int Replica::admin_port() const { return admin_server_ ? admin_server_->port() : 0; }

int64_t Replica::version() const {
  if (!manager_) return 0;
  auto s = manager_->StatusOf(model_name_);
  return s.ok() ? s->version : 0;
}

std::string Replica::Describe() const {
  return "serving " + model_name_ + " version " + std::to_string(version()) + " on " +
         (options_.tls.enabled() ? "https://" : "http://") + options_.host + ":" +
         std::to_string(port()) +
         (image_ ? " (Python handlers in image " + image_->reference() + ")" : "");
}

}  // namespace tandem::serving::server
