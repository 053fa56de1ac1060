#include "api/control_plane.h"

#include "api/rest.h"
#include "common/log.h"
#include "glue/bus/sql_event_bus.h"

namespace tandem::api {

StatusOr<std::unique_ptr<ControlPlane>> ControlPlane::Open(const Config& config, Clock& clock) {
  std::unique_ptr<ControlPlane> cp(new ControlPlane());
  cp->config_ = config;
  ASSIGN_OR_RETURN(cp->db_, sql::Database::Open(config.database_uri));
  ASSIGN_OR_RETURN(cp->store_, store::ObjectStore::Open(config.store_uri));
  if (config.bus_uri == config.database_uri) {
    // The bus shares the registry's database: its tables are the outbox, so a
    // registry change and its event commit in one transaction.
    ASSIGN_OR_RETURN(std::unique_ptr<bus::SqlEventBus> bus,
                     bus::SqlEventBus::Attach(*cp->db_, clock));
    cp->bus_ = std::move(bus);
  } else {
    return UnimplementedError("bus '" + config.bus_uri + "' differs from database '" +
                              config.database_uri +
                              "': a separate bus needs the outbox relay, which is not built yet; "
                              "leave `bus` unset to share the database");
  }
  bus::Outbox* outbox = cp->bus_->outbox();
  if (outbox == nullptr) return InternalError("the bus has no transactional outbox");
  ASSIGN_OR_RETURN(cp->registry_, registry::ModelRegistry::Open(*cp->db_, *outbox, clock));

  cp->services_ = Services{&clock, cp->db_.get(), cp->store_.get(), cp->bus_.get(),
                           cp->registry_.get()};
  http::ServerOptions opts;
  opts.host = config.listen_host;
  opts.port = config.port;
  opts.worker_threads = 16;
  opts.max_body_bytes = 8 << 20;
  opts.read_timeout_ms = 600'000;  // artifact uploads can be large
  cp->server_ = std::make_unique<http::Server>(opts);
  cp->RegisterRoutes();
  return cp;
}

ControlPlane::~ControlPlane() { Stop(); }

void ControlPlane::RegisterRoutes() {
  server_->Route("GET", "/api/v1/health", [](http::Request&, http::Response& res) {
    WriteJson(res, {{"status", "ok"}, {"service", "tandem"}, {"version", "0.1.0"}});
  });
  RegisterModelRoutes(*server_, services_);
  RegisterArtifactRoutes(*server_, services_, config_.max_body_bytes);
  RegisterEventRoutes(*server_, services_);
}

StatusOr<int> ControlPlane::Start() {
  ASSIGN_OR_RETURN(int port, server_->Start());
  LogInfo("control plane listening",
          {{"address", config_.listen_host + ":" + std::to_string(port)},
           {"home", config_.home},
           {"database", config_.database_uri},
           {"store", config_.store_uri}});
  return port;
}

void ControlPlane::Stop(int64_t grace_ms) {
  if (server_) server_->Stop(grace_ms);
}

}  // namespace tandem::api
