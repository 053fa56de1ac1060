// Managed notebooks (compute tier): a Jupyter server (Debian's
// jupyter-notebook) started on demand as a compute instance on the local
// substrate (sandboxed like a job, network on, a free loopback port, a random
// token), metered per execution, culled when idle, and stopped without losing
// work: on every stop (asked, idle, or the server exiting) its working
// directory is saved to the object store as `notebooks/<name>/workdir.tar.gz`
// and the next start of the same name restores it. Nothing stays resident
// between executions.
//
// The notebook sees the platform through its environment: TANDEM_URL (the
// control plane), TANDEM_TEAM, TANDEM_NOTEBOOK (its name; set only in
// notebooks, so code can tell it runs in one), TANDEM_NOTEBOOK_EXECUTION and,
// once set_credentials is called, TANDEM_TOKEN: a token acting for the
// notebook's team only, issued at each launch and revoked when the execution
// ends (credentials.h).
//
// One background thread (Start) watches every active notebook: Pending ->
// InService when Jupyter answers, InService -> Stopping when idle (no API,
// kernel or terminal activity and no busy kernel for idle_timeout_seconds),
// Stopping -> Stopped once the process is gone and the directory is saved.
// Restart safety: notebooks keep running when the control plane stops; the
// next one picks them up from the database and the substrate handles.
//
// Thread-safety: all public methods are thread-safe.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "common/config.h"
#include "common/status.h"
#include "compute/jobs/loop_leases.h"
#include "compute/jobs/substrate.h"
#include "compute/notebooks/credentials.h"
#include "compute/notebooks/store.h"
#include "glue/bus/outbox.h"
#include "glue/sql/database.h"
#include "glue/store/object_store.h"

namespace tandem::images {
class ImageStore;
}

namespace tandem::compute::notebooks {

struct NotebookServiceOptions {
  std::string home;  // executions under <home>/notebooks/<name>/exec-<n>
  // Not owned; must outlive the service.
  sql::Database* db = nullptr;
  bus::Outbox* outbox = nullptr;
  store::ObjectStore* store = nullptr;
  Clock* clock = nullptr;                      // nullptr = Clock::Real()
  std::unique_ptr<jobs::Substrate> substrate;  // owned; must reach loopback (local)
  // Price of one execution; empty = free.
  std::function<double(const std::string& team, const jobs::Metering&)> cost;
  std::string jupyter_binary = "/usr/bin/jupyter-notebook";
  // Notebooks in images resolve and read them here (not owned; null = none:
  // --image is refused). The substrate pulls them into its layer cache.
  images::ImageStore* images = nullptr;
  std::string api_url;      // TANDEM_URL given to notebooks (set_api_url once known)
  std::string api_ca_file;  // its CA (https), "" = none
  int64_t default_idle_timeout_seconds = 3600;
  int64_t poll_interval_ms = 1000;
  int64_t start_timeout_seconds = 120;  // Jupyter must answer within this
  int64_t stop_grace_seconds = 10;
  // Control planes sharing the database watch each notebook from one of
  // them (jobs/loop_leases.h; not owned). nullptr: this one watches all.
  jobs::LoopLeases* leases = nullptr;

  // Defaults, with tandem.yaml's `notebooks:` section applied:
  //   notebooks:
  //     idle_timeout_seconds: 3600   # default for new notebooks, 0 = never cull
  //     jupyter: /usr/bin/jupyter-notebook
  // Unknown keys and ill-typed values -> InvalidArgument naming the key.
  static StatusOr<NotebookServiceOptions> FromConfig(const Config& config);
};

struct NotebookStartOptions {
  std::string team = "default";
  std::optional<int64_t> idle_timeout_seconds;  // default from the service options
  // An image in tandem's image store to run Jupyter in (it must contain
  // `jupyter-notebook` on its PATH); "" = the host's. Resolved to a digest at
  // start (unknown -> NotFound naming it, nothing started) and kept: a
  // restart of the same name without --image uses the host again.
  std::string image;
};

class NotebookService {
 public:
  static StatusOr<std::unique_ptr<NotebookService>> Open(NotebookServiceOptions options);
  ~NotebookService();  // Shutdown(): notebooks keep running

  // TANDEM_URL for notebooks; an https:// one comes with the CA file the
  // notebook verifies it with (TANDEM_CA_FILE, SSL_CERT_FILE, REQUESTS_CA_BUNDLE).
  void set_api_url(const std::string& url, const std::string& ca_file = "");
  // Gives every later launch its own API token (TANDEM_TOKEN). Without it
  // notebooks get none.
  void set_credentials(NotebookCredentials credentials);

  // Starts the watcher thread (idempotent).
  void Start();
  void Shutdown();

  // Starts `name` (a new name creates it; a stopped one restores its saved
  // directory). Returns the Pending record; an already active notebook is
  // returned unchanged. InvalidArgument for a bad name ([a-z0-9][a-z0-9-]*,
  // at most 63) or options; the record is Failed (with the reason) if the
  // server cannot be launched.
  StatusOr<NotebookRecord> StartNotebook(const std::string& name,
                                         const NotebookStartOptions& options);
  // Asks `name` to stop (idempotent: a stopped one is returned as is); the
  // watcher saves its directory and marks it Stopped. NotFound if unknown.
  StatusOr<NotebookRecord> StopNotebook(const std::string& name);
  StatusOr<NotebookRecord> Get(const std::string& name);
  StatusOr<std::vector<NotebookRecord>> List(const std::string& team);
  // Notebooks per (state, team) (one cheap query).
  StatusOr<std::map<std::pair<std::string, std::string>, int64_t>> CountByStateAndTeam();

  // One pass of the watcher (exposed for tests).
  void Tick() ABSL_LOCKS_EXCLUDED(tick_mu_, mu_);

 private:
  explicit NotebookService(NotebookServiceOptions options, std::unique_ptr<NotebookStore> store);
  void Loop();
  Status Launch(const NotebookRecord& record);
  void Watch(const NotebookRecord& record);
  // The process ended with `exit`: save the directory, meter, finish in
  // `state` with `reason`.
  void Finish(const NotebookRecord& record, const jobs::ExitInfo& exit);
  StatusOr<std::string> SaveWorkdir(const NotebookRecord& record);
  std::string ApiUrl();
  // The notebook's tokens revoked (its execution ended); failures are logged.
  void RevokeToken(const NotebookRecord& record);

  NotebookServiceOptions options_;
  Clock* clock_;
  std::unique_ptr<NotebookStore> store_;
  absl::Mutex mu_;
  absl::CondVar cv_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool wake_ ABSL_GUARDED_BY(mu_) = false;
  NotebookCredentials credentials_ ABSL_GUARDED_BY(mu_);
  // "<name>/<execution>" whose stop was signalled.
  std::set<std::string> stop_sent_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
  absl::Mutex tick_mu_;  // one Tick at a time
};

}  // namespace tandem::compute::notebooks
