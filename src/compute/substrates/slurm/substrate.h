// The Slurm compute substrate: each job attempt is one Slurm batch job.
//
// Submit writes a per-attempt state directory (the runner protocol of
// compute/substrates/runner/protocol.h: request.json, later runner.json, started, result.json)
// and a batch script, and submits it with sbatch. On the node the script
// exec's tandem-slurm-step (compute/substrates/slurm/step_main.cc), which runs the same
// tandem-job-runner as the local substrate -- so the SageMaker contract
// (/opt/ml tree, SM_* environment, sandbox, limits, bounded log, metering,
// result file) is identical. The job directory, the log and the state
// directory must be on a filesystem the nodes share with the control plane
// (NFS, Lustre, ...), and the runner/step binaries installed at the same path
// on every node (docs/backends/slurm.md).
//
// Poll: the runner's result.json is the primary source of the outcome and
// metering. Without one (the job never started, was cancelled while pending,
// its node failed...), the Slurm state (squeue while slurmctld remembers the
// job, then sacct -- the accounting database or, without one, the job
// completion log via `sacct -c`) is mapped through SlurmStateTable()
// (compute/substrates/slurm/commands.h), metering from sacct's Elapsed/TotalCPU/MaxRSS.
//
// Stop: writes STATE_DIR/stop (the grace); before the runner started, a
// plain `scancel`; after, `scancel --batch --signal=TERM` (the step passes it
// to the runner: SIGTERM, grace, SIGKILL) and, once the result is there, a
// plain `scancel` of the lingering step so Slurm records CANCELLED. If the
// job is still there grace + kill_after_seconds later, Poll escalates to a
// plain `scancel` (SIGTERM, KillWait, SIGKILL to everything).
//
// Restart safety: JobHandle.id is "<slurm job id>:<state dir>"; a new
// SlurmSubstrate polls and stops jobs an earlier one submitted.
//
// Thread-safety: all methods are thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "common/config.h"
#include "common/json.h"
#include "common/status.h"
#include "compute/jobs/substrate.h"
#include "compute/substrates/slurm/commands.h"
#include "glue/store/object_store.h"

namespace tandem::compute::slurm {

struct SlurmSubstrateOptions {
  std::string slurm_conf;  // SLURM_CONF for the client commands; empty: the default
  std::string partition;   // --partition; empty: the cluster's default
  std::string account;     // --account; empty: none
  std::vector<std::string> extra_sbatch_args;  // each must start with '-'
  // Where per-attempt state directories go (<state_root>/<job_id>-<attempt>).
  // Empty: <parent of the job directory>/.slurm. Must be on the shared FS.
  std::string state_root;
  // Paths on the nodes. Empty: next to the current executable, else the ones
  // built with this library.
  std::string runner_path;
  std::string step_path;
  enum class Sandbox { kAuto, kOn, kOff };
  Sandbox sandbox = Sandbox::kAuto;  // bubblewrap as found here (same install on the nodes)
  std::string bwrap_path;
  double capacity_cpus = 0;  // 0: the partition's CPUs (sinfo)
  int64_t log_limit_bytes = 256LL << 20;
  int64_t grace_seconds = 10;  // runner: SIGTERM -> SIGKILL on timeout
  int64_t sample_interval_ms = 100;
  // Host paths hidden from every sandboxed job (an empty tmpfs over a
  // directory, /dev/null over a file): the control plane's home, database,
  // store and credentials (set by the control plane).
  std::vector<std::string> hidden_paths;
  // Slurm's --time is max_runtime + grace + this (the runner times out
  // first and reports precisely; Slurm's limit is the backstop).
  int64_t time_limit_margin_seconds = 60;
  // After Stop: plain scancel when the job is still there this long after the grace.
  int64_t kill_after_seconds = 30;
  // Slurm is asked about one job at most this often (squeue/sacct are RPCs
  // to slurmctld); result.json is checked on every Poll.
  int64_t query_interval_ms = 1000;
  // false: the nodes share nothing with the control plane but the object
  // store (node_job.h). Needs `store` (the control plane's, where bundles
  // come back), `node_store_uri` (what the node opens; default store's URI,
  // so it must be reachable from the nodes: s3://, or file:// on a shared
  // mount), `node_dir` (node-local job directories and the layer cache).
  bool shared_fs = true;
  store::ObjectStore* store = nullptr;  // not owned
  std::string node_store_uri;
  std::string node_images_uri;  // empty: "embedded" (inside node_store_uri)
  std::string node_dir = "/tmp/tandem-slurm";
  uint64_t node_image_cache_bytes = 20ULL << 30;
  std::string node_path;  // tandem-slurm-node; empty: beside the binaries
  std::shared_ptr<SlurmCommands> commands;  // null: real commands with slurm_conf
  Clock* clock = nullptr;                   // null: the real clock
};

// The options from tandem.yaml's `compute:` section with `substrate: slurm`:
//   compute:
//     substrate: slurm
//     conf: /etc/slurm/slurm.conf   # SLURM_CONF for sbatch & co (default: Slurm's)
//     partition: batch              # default: the cluster's default partition
//     account: ml-team              # --account, default none
//     sbatch_args: [--qos=normal]   # appended to every sbatch
//     cpus: 64                      # capacity; default: the partition's CPUs (sinfo)
//     sandbox: auto|on|off
//     grace_seconds: 10
//     state_root: /shared/tandem/slurm   # default <job dir parent>/.slurm
//     shared_fs: true               # false: node-local job directories (node_job.h)
//     node_dir: /tmp/tandem-slurm   # with shared_fs false: on each node
//     node_store: s3://...          # with shared_fs false; default the control plane's store
//     node_image_cache_mb: 20480
// Unknown keys and ill-typed values -> InvalidArgument naming the key.
StatusOr<SlurmSubstrateOptions> SlurmOptionsFromConfig(const Config& config);

class SlurmSubstrate final : public jobs::Substrate {
 public:
  // NotFound if the runner/step binaries are missing; Unavailable if
  // slurmctld cannot be reached (sinfo fails) when capacity_cpus is 0;
  // InvalidArgument for a bad option (named).
  static StatusOr<std::unique_ptr<SlurmSubstrate>> Create(SlurmSubstrateOptions options);

  std::string name() const override { return "slurm"; }
  bool sandboxed() const override { return !bwrap_path_.empty(); }
  // The sandbox binds <job_dir>/input/data read-only (runner/sandbox.h).
  bool inputs_read_only() const override { return sandboxed(); }
  // InvalidArgument/NotFound naming the field for a bad request;
  // AlreadyExists for a job_id/attempt submitted before; FailedPrecondition
  // with sbatch's message when Slurm refuses the job.
  StatusOr<jobs::JobHandle> Submit(const jobs::LaunchRequest& request) override;
  StatusOr<std::optional<jobs::ExitInfo>> Poll(const jobs::JobHandle& handle) override;
  Status Stop(const jobs::JobHandle& handle, int64_t grace_seconds) override;
  std::optional<int64_t> StartedMicros(const jobs::JobHandle& handle) override;
  double capacity_cpus() const override { return capacity_cpus_; }

  // The sbatch command line and batch script for a request (exposed for tests).
  std::vector<std::string> SbatchArgs(const jobs::LaunchRequest& request,
                                      const std::string& state_dir,
                                      const std::string& script_path) const;
  std::string BatchScript(const jobs::LaunchRequest& request, const std::string& state_dir) const;

  struct ParsedHandle {
    std::string slurm_id;
    std::string state_dir;
  };
  static StatusOr<ParsedHandle> ParseHandle(const jobs::JobHandle& handle);

 private:
  SlurmSubstrate(SlurmSubstrateOptions options, std::string bwrap_path, double capacity);
  // The Slurm state: squeue, else sacct; nullopt when neither knows the job.
  StatusOr<std::optional<SlurmJobState>> QuerySlurm(const std::string& slurm_id);
  StatusOr<std::optional<SlurmJobState>> QueryCached(const std::string& slurm_id, bool force);
  StatusOr<jobs::ExitInfo> ReadResult(const std::string& state_dir) const;
  void Escalate(const ParsedHandle& h);
  // shared_fs false: the node's results, when Slurm says the job ended (or a
  // stop was asked), unpacked into this attempt; false when not there yet.
  StatusOr<bool> FetchFromNode(const ParsedHandle& h, bool stop_requested);
  std::string NodeBatchScript(const jobs::LaunchRequest& r, const std::string& payload) const;

  const SlurmSubstrateOptions options_;
  const std::string bwrap_path_;
  const double capacity_cpus_;
  Clock& clock_;

  absl::Mutex mu_;
  struct Cached {
    int64_t at_micros = 0;
    std::optional<SlurmJobState> state;
  };
  std::map<std::string, Cached> cache_ ABSL_GUARDED_BY(mu_);  // by Slurm job id
  // No accounting database: use `sacct -c`.
  bool sacct_completion_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace tandem::compute::slurm
