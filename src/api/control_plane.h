// The control plane (`tandem up`): opens the glue backends named in the
// configuration, the compute services (jobs, tuning, notebooks) and the
// serving fleet, and serves the REST API under /api/v1 (and Prometheus metrics
// at /metrics). Route groups live in their own files and are registered
// explicitly in RegisterRoutes: models_api.cc, artifacts_api.cc,
// events_api.cc, jobs_api.cc, tuning_api.cc, transform_api.cc,
// deployments_api.cc, deployment_metrics_api.cc, notebooks_api.cc,
// status_api.cc, metrics_api.cc, openapi.cc (the OpenAPI document),
// ui_api.cc (the web console at /ui/), auth_api.cc (principals, tokens,
// teams, audit) and registry_api.cc (the OCI distribution API at /v2/);
// GET /api/v1/health is here. Every route is registered through
// ApiRoutes with its Access (api_routes.h, docs/security.md).
//
// Thread-safety: Start/Stop from one thread; requests are served concurrently.
#pragma once

#include <memory>

#include "api/api_routes.h"
#include "api/blob_uploads.h"
#include "api/budgets.h"
#include "api/auth/identity_store.h"
#include "api/auth/notebook_tokens.h"
#include "api/local_paths.h"
#include "api/quotas.h"
#include "api/secrets/secret_store.h"
#include "common/clock.h"
#include "common/config.h"
#include "common/http_server.h"
#include "common/status.h"
#include "glue/bus/event_bus.h"
#include "glue/images/image_store.h"
#include "glue/open/glue.h"
#include "glue/registry/model_registry.h"
#include "glue/sql/database.h"
#include "glue/store/object_store.h"

namespace tandem::compute::jobs {
class JobService;
}
namespace tandem::compute::notebooks {
class NotebookService;
}
namespace tandem::compute::tuning {
class TuningService;
}
namespace tandem::serving::fleet {
class Fleet;
}

namespace tandem::api {

class HttpMetrics;
class LongPolls;

// The glue (and the services built on it) a route handler can reach. Owned by the ControlPlane.
struct Services {
  Clock* clock = nullptr;
  sql::Database* db = nullptr;
  store::ObjectStore* store = nullptr;
  bus::EventBus* bus = nullptr;
  registry::ModelRegistry* registry = nullptr;
  images::ImageStore* images = nullptr;  // the OCI image store (/v2/)
  compute::jobs::JobService* jobs = nullptr;                 // training jobs (compute tier)
  serving::fleet::Fleet* fleet = nullptr;                    // serving deployments (serving tier)
  compute::notebooks::NotebookService* notebooks = nullptr;  // managed notebooks (compute tier)
  compute::tuning::TuningService* tuning = nullptr;          // hyperparameter tuning (compute tier)
  HttpMetrics* http_metrics = nullptr;      // per-route HTTP counters (GET /metrics)
  auth::IdentityStore* identity = nullptr;  // principals, tokens, teams
  const LocalPathPolicy* local_paths = nullptr;  // which local paths a REST spec may name
  secrets::SecretStore* secrets = nullptr;        // teams' secrets for their jobs
  const Quotas* quotas = nullptr;                 // per-team limits checked at admission
  Budgets* budgets = nullptr;                     // per-team spend budgets (at admission)
  LongPolls* long_polls = nullptr;  // GET of a job waiting for a change (job_list.h)
};

class ControlPlane {
 public:
  // Opens the database, object store, bus and registry from `config`, and the
  // job service on the local substrate (`compute: {cpus: N}` caps its CPUs;
  // `pricing:` prices its jobs).
  // `clock` must outlive the control plane.
  static StatusOr<std::unique_ptr<ControlPlane>> Open(const Config& config, Clock& clock);
  ~ControlPlane();

  // Recovers the jobs a previous control plane left running, starts the job
  // scheduler, then binds config.listen_host:config.port (0 = any free
  // port); returns the port.
  StatusOr<int> Start();
  // Stops serving, letting in-flight requests finish for up to `grace_ms`,
  // then stops the job scheduler (running jobs keep running; the next
  // control plane re-attaches to them).
  void Stop(int64_t grace_ms = 5000);

  // On a database with no principal yet: creates the platform admin and
  // writes its token to <home>/admin-token (mode 0600). Returns that file's
  // path if it exists (written now or by an earlier start), else "".
  StatusOr<std::string> EnsureAdminCredential();

  http::Server& server() { return *server_; }
  // Every route with its Access (the table of docs/security.md).
  const ApiRoutes& routes() const { return *routes_; }
  const Services& services() const { return services_; }

 private:
  ControlPlane() = default;
  void RegisterRoutes();

  Config config_;
  glue::Glue glue_;
  std::unique_ptr<compute::jobs::JobService> jobs_;
  std::unique_ptr<compute::notebooks::NotebookService> notebooks_;
  std::unique_ptr<compute::tuning::TuningService> tuning_;
  std::unique_ptr<serving::fleet::Fleet> fleet_;
  std::unique_ptr<HttpMetrics> http_metrics_;  // outlives server_ (its observer)
  std::unique_ptr<LongPolls> long_polls_;  // before server_: outlives its handlers
  std::unique_ptr<http::Server> server_;
  std::unique_ptr<auth::IdentityStore> identity_;
  std::unique_ptr<auth::NotebookTokens> notebook_tokens_;  // notebooks' TANDEM_TOKEN
  std::unique_ptr<ApiRoutes> routes_;
  std::unique_ptr<BlobUploads> blob_uploads_;  // /v2/ upload sessions
  std::unique_ptr<LocalPathPolicy> local_paths_;
  std::unique_ptr<secrets::SecretStore> secrets_;
  std::unique_ptr<Quotas> quotas_;
  std::unique_ptr<Budgets> budgets_;  // reads jobs_'s spend: declared (so destroyed) after it
  Services services_;
};

// Route groups, each registered on `server` with handlers using `services`.
void RegisterModelRoutes(ApiRoutes& routes, const Services& services);
// Upload bodies up to `max_upload` bytes, streamed to files in `spool_dir`
// (which must exist: PrepareSpoolDir).
void RegisterArtifactRoutes(ApiRoutes& routes, const Services& services, int64_t max_upload,
                            const std::string& spool_dir);
void RegisterEventRoutes(ApiRoutes& routes, const Services& services);
void RegisterJobRoutes(ApiRoutes& routes, const Services& services);
void RegisterTuningRoutes(ApiRoutes& routes, const Services& services);
void RegisterTransformRoutes(ApiRoutes& routes, const Services& services);
void RegisterDeploymentRoutes(ApiRoutes& routes, const Services& services);
// Replica metrics of a deployment, once or streamed (deployment_metrics_api.cc).
void RegisterDeploymentMetricsRoutes(ApiRoutes& routes, const Services& services);
// The web console at /ui/ (ui_api.cc).
void RegisterUiRoutes(ApiRoutes& routes);
void RegisterNotebookRoutes(ApiRoutes& routes, const Services& services);
// GET /api/v1/status (status_api.cc).
void RegisterStatusRoutes(ApiRoutes& routes, const Services& services);
// GET /metrics (Prometheus text; outside /api/v1, where scrapers look).
void RegisterMetricsRoutes(ApiRoutes& routes, const Services& services);
// /api/v1/auth (whoami, tokens), /api/v1/principals, /api/v1/teams and
// /api/v1/audit (auth_api.cc).
void RegisterAuthRoutes(ApiRoutes& routes, const Services& services);
// The OCI distribution API at /v2/ (registry_api.cc; outside /api/v1 where
// registry clients look, specified by the OCI distribution spec rather than
// docs/openapi.yaml). Upload bodies up to `max_upload` bytes.
void RegisterRegistryRoutes(ApiRoutes& routes, const Services& services, BlobUploads& uploads,
                            int64_t max_upload);
// /api/v1/teams/{team}/secrets (secrets_api.cc).
void RegisterSecretRoutes(ApiRoutes& routes, const Services& services);

}  // namespace tandem::api
