#include "api/control_plane.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "api/http_metrics.h"
#include "api/job_list.h"
#include "api/openapi.h"
#include "api/rest.h"
#include "api/upload_spool.h"
#include "common/log.h"
#include "common/spec_fields.h"
#include "common/version.h"
#include "compute/jobs/metering.h"
#include "compute/jobs/service.h"
#include "compute/notebooks/service.h"
#include "compute/substrates/local/substrate.h"
#include "compute/substrates/slurm/substrate.h"
#include "compute/tuning/service.h"
#include "glue/imagefs/layer_cache.h"
#include "serving/fleet/fleet.h"

namespace tandem::api {
namespace {

// The substrate named by `compute.substrate` (local, the default, or slurm);
// each substrate parses the rest of the `compute:` section itself.
// `hidden` are the host paths no sandboxed job may see (SandboxHiddenPaths);
// jobs in images pull from `images`.
StatusOr<std::unique_ptr<compute::jobs::Substrate>> OpenSubstrate(
    const Config& config, const std::vector<std::string>& hidden, images::ImageStore* images,
    store::ObjectStore* store) {
  ASSIGN_OR_RETURN(Json section, spec::Section(config.raw, "compute"));
  ASSIGN_OR_RETURN(std::string kind, spec::OneOf(section.value("substrate", Json("local")),
                                                 "compute.substrate", {"local", "slurm"}));
  if (kind == "slurm") {
    ASSIGN_OR_RETURN(auto sopts, compute::slurm::SlurmOptionsFromConfig(config));
    sopts.hidden_paths = hidden;
    // shared_fs: false -- nodes open the same store and image store by default.
    sopts.store = store;
    if (sopts.node_images_uri.empty()) sopts.node_images_uri = config.images_uri;
    ASSIGN_OR_RETURN(auto slurm, compute::slurm::SlurmSubstrate::Create(std::move(sopts)));
    return std::unique_ptr<compute::jobs::Substrate>(std::move(slurm));
  }
  ASSIGN_OR_RETURN(auto lopts, compute::local::LocalOptionsFromConfig(config));
  // Jobs in images pull from the control plane's image store into this
  // node's layer cache.
  if (images != nullptr) {
    if (lopts.image_cache_dir.empty()) lopts.image_cache_dir = config.home + "/cache/images";
    lopts.image_source = [images](const std::string& repo) {
      return imagefs::StoreSource(*images, repo);
    };
  }
  lopts.hidden_paths = hidden;
  // Sandboxes started ahead of jobs (compute.warm_sandboxes, default 8; 0:
  // none), next to the job directories (home/jobs) so that staging can
  // rename into them.
  if (lopts.warm_sandboxes > 0) lopts.warm_dir = config.home + "/sandboxes";
  ASSIGN_OR_RETURN(auto local, compute::local::LocalSubstrate::Create(std::move(lopts)));
  return std::unique_ptr<compute::jobs::Substrate>(std::move(local));
}

// Managed notebooks (options from the `notebooks:` section). They always run
// on the local substrate: their port must be reachable from here.
StatusOr<std::unique_ptr<compute::notebooks::NotebookService>> OpenNotebooks(
    const Config& config, const glue::Glue& g, Clock& clock,
    const compute::jobs::PriceTable& prices, const std::vector<std::string>& hidden,
    compute::jobs::LoopLeases& leases) {
  ASSIGN_OR_RETURN(compute::notebooks::NotebookServiceOptions opts,
                   compute::notebooks::NotebookServiceOptions::FromConfig(config));
  compute::local::LocalSubstrateOptions lopts;
  lopts.hidden_paths = hidden;
  // Notebooks start rarely and slowly (Jupyter): no pre-forked launcher
  // process kept for them; their runners are started directly.
  lopts.prefork_launcher = false;
  // Notebooks in images pull them into the node's layer cache, as jobs do.
  if (images::ImageStore* images = g.images.get(); images != nullptr) {
    lopts.image_cache_dir = config.home + "/cache/images";
    lopts.image_source = [images](const std::string& repo) {
      return imagefs::StoreSource(*images, repo);
    };
    opts.images = images;
  }
  ASSIGN_OR_RETURN(auto substrate, compute::local::LocalSubstrate::Create(lopts));
  opts.home = config.home;
  opts.db = g.db.get();
  opts.outbox = g.outbox;
  opts.store = g.store.get();
  opts.clock = &clock;
  opts.substrate = std::move(substrate);
  opts.leases = &leases;  // one control plane watches each notebook
  opts.cost = [prices](const std::string& team, const compute::jobs::Metering& m) {
    return compute::jobs::Cost(prices, team, m.cpu_seconds, m.wall_seconds, m.peak_rss_bytes, 1, 0);
  };
  return compute::notebooks::NotebookService::Open(std::move(opts));
}

// Where /api/v1 artifact and blob uploads wait while they arrive; beside the
// default file store (<home>/store), so adopting a finished one is a rename.
std::string ArtifactSpoolDir(const Config& config) { return config.home + "/uploads/artifacts"; }

}  // namespace

StatusOr<std::unique_ptr<ControlPlane>> ControlPlane::Open(const Config& config, Clock& clock) {
  std::unique_ptr<ControlPlane> cp(new ControlPlane());
  cp->config_ = config;
  ASSIGN_OR_RETURN(SecurityConfig security, SecurityConfig::FromConfig(config));
  cp->local_paths_ = std::make_unique<LocalPathPolicy>(security.allowed_local_paths);
  ASSIGN_OR_RETURN(Quotas quotas, Quotas::FromConfig(config));
  cp->quotas_ = std::make_unique<Quotas>(std::move(quotas));
  const std::vector<std::string> hidden =
      SandboxHiddenPaths(config, security, ProcessEnvironment());
  ASSIGN_OR_RETURN(cp->glue_, glue::OpenGlue(config, clock));
  const glue::Glue& g = cp->glue_;
  cp->quotas_->UseDatabase(g.db.get());  // admission across control planes

  // Team secrets, encrypted under <home>/secrets.key (created 0600 on first start).
  ASSIGN_OR_RETURN(secrets::SecretCipher cipher,
                   secrets::SecretCipher::OpenKeyFile(config.home + "/secrets.key"));
  ASSIGN_OR_RETURN(cp->secrets_, secrets::SecretStore::Open(*g.db, std::move(cipher), clock));
  compute::jobs::JobServiceOptions jopts;
  jopts.home = config.home;
  jopts.secret_value = [store = cp->secrets_.get()](const std::string& team,
                                                    const std::string& name) {
    return store->Value(team, name);
  };
  jopts.db = g.db.get();
  jopts.outbox = g.outbox;
  jopts.store = g.store.get();
  jopts.registry = g.registry.get();
  jopts.clock = &clock;
  jopts.images = g.images.get();
  ASSIGN_OR_RETURN(jopts.substrate, OpenSubstrate(config, hidden, g.images.get(), g.store.get()));
  // How often running jobs' checkpoint directories are uploaded (the
  // substrates accept the key; it is the job service's).
  ASSIGN_OR_RETURN(Json compute_section, spec::Section(config.raw, "compute"));
  if (compute_section.contains("checkpoint_sync_seconds")) {
    ASSIGN_OR_RETURN(int64_t seconds, spec::Integer(compute_section["checkpoint_sync_seconds"],
                                                    "compute.checkpoint_sync_seconds", 1, 3600));
    jopts.checkpoint_sync_ms = seconds * 1000;
  }
  // Control planes sharing one database take over each other's jobs once
  // the owner's lease has run out (docs/architecture.md "High availability").
  if (compute_section.contains("lease_seconds")) {
    ASSIGN_OR_RETURN(int64_t seconds, spec::Integer(compute_section["lease_seconds"],
                                                    "compute.lease_seconds", 1, 3600));
    jopts.lease_ms = seconds * 1000;
  }
  ASSIGN_OR_RETURN(compute::jobs::PriceTable prices,
                   compute::jobs::PriceTable::FromJson(config.raw.value("pricing", Json())));
  jopts.cost = [prices](const compute::jobs::JobSpec& spec, const compute::jobs::Metering& m) {
    return compute::jobs::Cost(prices, spec.team, m.cpu_seconds, m.wall_seconds, m.peak_rss_bytes,
                               spec.resources.cpus, spec.resources.memory_mb);
  };
  // Warm-pool retention is billed as the reservation held, like SageMaker.
  jopts.warm_pool_cost = [prices](const compute::jobs::JobSpec& spec, double seconds) {
    return compute::jobs::Cost(prices, spec.team, 0, seconds, 0, spec.resources.cpus,
                               spec.resources.memory_mb);
  };
  ASSIGN_OR_RETURN(cp->jobs_, compute::jobs::JobService::Open(std::move(jopts)));
  ASSIGN_OR_RETURN(cp->budgets_,
                   Budgets::Open(*cp->quotas_, *g.db, g.bus.get(), *cp->jobs_, clock));
  ASSIGN_OR_RETURN(cp->notebooks_, OpenNotebooks(config, g, clock, prices, hidden,
                                                   cp->jobs_->loop_leases()));
  compute::tuning::TuningServiceOptions topts;
  topts.db = g.db.get();
  topts.outbox = g.outbox;
  topts.jobs = cp->jobs_.get();
  topts.registry = g.registry.get();
  topts.store = g.store.get();
  topts.clock = &clock;
  ASSIGN_OR_RETURN(cp->tuning_, compute::tuning::TuningService::Open(topts));

  cp->long_polls_ = std::make_unique<LongPolls>();
  cp->services_.long_polls = cp->long_polls_.get();
  cp->services_.clock = &clock;
  cp->services_.db = g.db.get();
  cp->services_.store = g.store.get();
  cp->services_.bus = g.bus.get();
  cp->services_.registry = g.registry.get();
  cp->services_.images = g.images.get();
  cp->services_.jobs = cp->jobs_.get();
  cp->services_.notebooks = cp->notebooks_.get();
  cp->services_.tuning = cp->tuning_.get();
  cp->services_.local_paths = cp->local_paths_.get();
  cp->services_.secrets = cp->secrets_.get();
  cp->services_.quotas = cp->quotas_.get();
  cp->services_.budgets = cp->budgets_.get();

  // The serving fleet starts replicas with this same executable (`tandem
  // serve`); TANDEM_BINARY overrides it (tests run from another binary).
  serving::fleet::FleetOptions fopts;
  fopts.home = config.home;
  if (const char* bin = std::getenv("TANDEM_BINARY"); bin != nullptr && *bin != '\0') {
    fopts.tandem_binary = bin;
  } else {
    std::error_code ec;
    fopts.tandem_binary = std::filesystem::read_symlink("/proc/self/exe", ec).string();
  }
  // Replicas serve HTTPS with the control plane's certificate when it has one.
  fopts.tls_cert = config.tls_cert;
  fopts.tls_key = config.tls_key;
  // Which control plane supervises the fleet (docs/architecture.md "High
  // availability"): serving.lease_seconds, else compute.lease_seconds.
  ASSIGN_OR_RETURN(Json serving_section, spec::Section(config.raw, "serving"));
  for (const auto& [section, key] : {std::pair{&compute_section, "compute.lease_seconds"},
                                     std::pair{&serving_section, "serving.lease_seconds"}}) {
    if (!section->contains("lease_seconds")) continue;
    ASSIGN_OR_RETURN(int64_t seconds, spec::Integer((*section)["lease_seconds"], key, 1, 3600));
    fopts.lease_ms = seconds * 1000;
  }
  ASSIGN_OR_RETURN(cp->fleet_, serving::fleet::Fleet::Open(fopts, *g.db, g.bus.get(), clock));
  cp->services_.fleet = cp->fleet_.get();
  http::ServerOptions opts;
  opts.host = config.listen_host;
  opts.port = config.port;
  opts.worker_threads = 16;
  opts.max_body_bytes = 8 << 20;
  opts.read_timeout_ms = 600'000;  // artifact uploads can be large...
  opts.limits = config.client_limits;  // ...but must keep a minimum rate
  opts.tls.cert_file = config.tls_cert;
  opts.tls.key_file = config.tls_key;
  cp->http_metrics_ = std::make_unique<HttpMetrics>();
  cp->services_.http_metrics = cp->http_metrics_.get();
  opts.observer = [m = cp->http_metrics_.get()](const http::RequestRecord& r) { m->Observe(r); };
  cp->server_ = std::make_unique<http::Server>(opts);
  ASSIGN_OR_RETURN(cp->identity_, auth::IdentityStore::Open(*g.db, clock));
  cp->services_.identity = cp->identity_.get();
  // Each notebook execution gets a token acting for its team only
  // (TANDEM_TOKEN), revoked when it ends.
  cp->notebook_tokens_ = std::make_unique<auth::NotebookTokens>(*cp->identity_);
  cp->notebooks_->set_credentials(
      {.issue = [t = cp->notebook_tokens_.get()](const std::string& team,
                                                 const std::string& notebook, int64_t execution,
                                                 int64_t ttl) {
         return t->Issue(team, notebook, execution, ttl);
       },
       .revoke = [t = cp->notebook_tokens_.get()](const std::string& team,
                                                  const std::string& notebook) {
         return t->Revoke(team, notebook);
       }});
  // OIDC (auth.oidc): JWTs from the identity provider accepted as bearer tokens.
  ASSIGN_OR_RETURN(auth::OidcOptions oidc_options, auth::OidcOptions::FromConfig(config));
  std::unique_ptr<auth::OidcVerifier> oidc;
  if (oidc_options.enabled()) {
    ASSIGN_OR_RETURN(oidc, auth::OidcVerifier::Create(std::move(oidc_options), clock));
  }
  cp->routes_ = std::make_unique<ApiRoutes>(*cp->server_, *cp->identity_, g.bus.get(), clock,
                                            std::move(oidc));
  BlobUploads::Options uopts;
  uopts.dir = config.home + "/uploads/images";
  uopts.max_bytes = config.max_body_bytes;
  cp->blob_uploads_ = std::make_unique<BlobUploads>(uopts, clock);
  RETURN_IF_ERROR(cp->blob_uploads_->Init());
  RETURN_IF_ERROR(PrepareSpoolDir(ArtifactSpoolDir(config)));
  cp->RegisterRoutes();
  return cp;
}

ControlPlane::~ControlPlane() { Stop(); }

void ControlPlane::RegisterRoutes() {
  ApiRoutes& r = *routes_;
  r.Route("GET", "/api/v1/health", Access::Public(), [](http::Request&, http::Response& res) {
    WriteJson(res, {{"status", "ok"}, {"service", "tandem"}, {"version", std::string(Version())}});
  });
  RegisterModelRoutes(r, services_);
  RegisterArtifactRoutes(r, services_, config_.max_body_bytes, ArtifactSpoolDir(config_));
  RegisterEventRoutes(r, services_);
  RegisterJobRoutes(r, services_);
  RegisterTuningRoutes(r, services_);
  RegisterTransformRoutes(r, services_);
  RegisterDeploymentRoutes(r, services_);
  RegisterDeploymentMetricsRoutes(r, services_);
  RegisterNotebookRoutes(r, services_);
  RegisterStatusRoutes(r, services_);
  RegisterMetricsRoutes(r, services_);
  RegisterAuthRoutes(r, services_);
  RegisterSecretRoutes(r, services_);
  RegisterOpenApiRoutes(r);
  RegisterUiRoutes(r);
  RegisterRegistryRoutes(r, services_, *blob_uploads_, config_.max_body_bytes);
}

StatusOr<std::string> ControlPlane::EnsureAdminCredential() {
  std::filesystem::path path = std::filesystem::path(config_.home) / "admin-token";
  ASSIGN_OR_RETURN(std::string token, identity_->BootstrapAdmin());
  if (!token.empty()) {
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) return InternalError("cannot write " + path.string() + ": " + std::strerror(errno));
    bool ok = ::fchmod(fd, 0600) == 0;
    std::string line = token + "\n";
    ok = ok && ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size());
    ok = ::close(fd) == 0 && ok;
    if (!ok) return InternalError("cannot write " + path.string() + ": " + std::strerror(errno));
  }
  std::error_code ec;
  return std::filesystem::exists(path, ec) ? path.string() : std::string();
}

StatusOr<int> ControlPlane::Start() {
  RETURN_IF_ERROR(jobs_->Recover());
  jobs_->Start();
  tuning_->Start();
  RETURN_IF_ERROR(fleet_->Start());
  budgets_->StartSweeping(quotas_->budget_check_seconds() * 1000);
  ASSIGN_OR_RETURN(int port, server_->Start());
  const bool tls = !config_.tls_cert.empty();
  notebooks_->set_api_url(
      (tls ? "https://" : "http://") + config_.listen_host + ":" + std::to_string(port),
      config_.tls_cert);  // its own certificate: the notebook trusts just that
  notebooks_->Start();
  LogInfo("control plane listening", {{"address", config_.listen_host + ":" + std::to_string(port)},
                                      {"home", config_.home},
                                      {"database", config_.database_uri},
                                      {"store", config_.store_uri}});
  return port;
}

void ControlPlane::Stop(int64_t grace_ms) {
  if (long_polls_) long_polls_->End();  // a waiting GET of a job would hold the server's Stop
  if (server_) server_->Stop(grace_ms);
  if (budgets_) budgets_->StopSweeping();
  if (tuning_) tuning_->Shutdown();  // tuning jobs resume in the next control plane
  if (jobs_) jobs_->Shutdown();
  if (notebooks_) notebooks_->Shutdown();  // notebooks keep running
  if (fleet_) fleet_->Shutdown();          // replicas keep serving
}

}  // namespace tandem::api
