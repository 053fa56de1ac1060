// The local compute substrate: each job runs as its own process tree under a
// detached supervisor, tandem-job-runner (compute/substrates/runner/main.cc), started on
// demand and gone when the job ends. The runner enforces max_runtime_seconds
// (SIGTERM, grace, SIGKILL) and the memory limit, captures a bounded log,
// kills what the job leaves behind and meters the whole tree; with
// bubblewrap, the job is sandboxed (compute/substrates/runner/sandbox.h).
//
// State lives in a per-attempt directory (compute/substrates/runner/protocol.h) named by the
// JobHandle, so a new LocalSubstrate (after a control-plane restart) can poll
// and stop jobs that an earlier one started.
//
// Runners are forked by a pre-forked launcher process (runner/launcher.h)
// when it is up, else started directly; either way they are the same
// detached runner in its own session. With warm_dir, a sandboxed attempt
// may instead start in a warm sandbox started before it (warm_pool.h).
//
// SetEndedCallback watches each job's runner through a pidfd (exit_watcher.h),
// so the caller hears of a job's end as soon as the runner has written it.
//
// Thread-safety: all methods are thread-safe (each job's state is in its own
// directory; the mutable members are the watcher and the launcher, each
// under a mutex).
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "common/config.h"
#include "common/status.h"
#include "compute/jobs/substrate.h"
#include "compute/substrates/local/exit_watcher.h"
#include "glue/imagefs/layer_cache.h"

namespace tandem::compute::runner {
struct ProcessIdentity;
class Launcher;
}  // namespace tandem::compute::runner

namespace tandem::compute::local {

class WarmPool;

struct LocalSubstrateOptions {
  // Where per-attempt state directories go (<state_root>/<job_id>-<attempt>).
  // Empty: <parent of the job directory>/.runner. Must not be inside job_dir.
  std::string state_root;
  // The tandem-job-runner executable. Empty: next to the current executable,
  // else the one built with this library.
  std::string runner_path;
  enum class Sandbox { kAuto, kOn, kOff };
  Sandbox sandbox = Sandbox::kAuto;  // kOn fails Create without bubblewrap
  std::string bwrap_path;            // empty: search $PATH
  double capacity_cpus = 0;          // 0: the machine's hardware threads
  int64_t log_limit_bytes = 256LL << 20;
  int64_t grace_seconds = 10;        // after SIGTERM on timeout (SageMaker uses 120)
  int64_t sample_interval_ms = 100;  // memory sampling period
  // Jobs in images (LaunchRequest::image_digest): the node's layer cache
  // (glue/imagefs/layer_cache.h) at `image_cache_dir`, bounded to
  // `image_cache_bytes`, pulling from `image_source(repository)`. Without a
  // source, a job in an image is refused (FailedPrecondition).
  std::string image_cache_dir;
  uint64_t image_cache_bytes = 20ULL << 30;
  std::function<std::unique_ptr<imagefs::ImageSource>(const std::string& repository)>
      image_source;
  // Host paths hidden from every sandboxed job (an empty tmpfs over a
  // directory, /dev/null over a file): the control plane's home, database,
  // store and credentials (set by the control plane).
  std::vector<std::string> hidden_paths;
  // Start runners through a pre-forked launcher (runner/launcher.h) kept for
  // the substrate's life: Submit forks a small idle process instead of the
  // control plane, and skips the runner's exec and its detaching fork. If the
  // launcher dies, Submit starts the runner directly and a new launcher is
  // started for the next job; if it cannot be started, runners are started
  // directly (a warning says so).
  bool prefork_launcher = true;
  // Warm sandboxes (warm_pool.h): with a directory here, on the job
  // directories' filesystem, a sandboxed substrate with its launcher keeps
  // `warm_sandboxes` sandboxes started ahead of jobs, each on its own fresh
  // slot directory under warm_dir; an attempt without network, image or
  // file secrets starts in one (its staged job directory becomes the slot),
  // others and any attempt when none is ready start their own. "" = none.
  std::string warm_dir;
  int warm_sandboxes = 2;  // with warm_dir: 1..kMaxWarmSandboxes
};

// tandem.yaml's compute.warm_sandboxes: its default and bound.
inline constexpr int kDefaultWarmSandboxes = 8;
inline constexpr int kMaxWarmSandboxes = 64;

// The options from tandem.yaml's `compute:` section (absent: defaults):
//   compute:
//     substrate: local      # the default
//     cpus: 8               # capacity, > 0; default: the machine's hardware threads
//     sandbox: auto|on|off
//     grace_seconds: 10     # SIGTERM -> SIGKILL on timeout, >= 0
//     image_cache_mb: 20480 # the layer cache's bound (jobs in images)
//     warm_sandboxes: 8     # sandboxes started ahead of jobs, 0..64; 0 = none
//                           # (sets warm_sandboxes; the caller picks warm_dir)
// Unknown keys and ill-typed values -> InvalidArgument naming the key.
StatusOr<LocalSubstrateOptions> LocalOptionsFromConfig(const Config& config);

class LocalSubstrate final : public jobs::Substrate {
 public:
  // NotFound if the runner or (with Sandbox::kOn) bwrap is missing.
  static StatusOr<std::unique_ptr<LocalSubstrate>> Create(LocalSubstrateOptions options);
  ~LocalSubstrate() override;

  std::string name() const override { return "local"; }
  bool sandboxed() const override { return !bwrap_path_.empty(); }
  // The sandbox binds <job_dir>/input/data read-only (runner/sandbox.h).
  bool inputs_read_only() const override { return sandboxed(); }
  // Validates the request (InvalidArgument/NotFound naming the field), writes
  // the state directory and returns once the runner is up (a few ms).
  // AlreadyExists if this job_id/attempt was submitted before. The log is
  // appended to (attempts may share one file); output past log_limit_bytes is
  // discarded after a "[tandem] log truncated" line.
  StatusOr<jobs::JobHandle> Submit(const jobs::LaunchRequest& request) override;
  // The attempt's state directory, when its runner started (it writes
  // runner.json before Submit returns); a directory left by a Submit cut
  // short before that is removed.
  StatusOr<std::optional<jobs::JobHandle>> FindLaunched(const jobs::LaunchRequest& request) override;
  StatusOr<std::optional<jobs::ExitInfo>> Poll(const jobs::JobHandle& handle) override;
  Status Stop(const jobs::JobHandle& handle, int64_t grace_seconds) override;
  std::optional<int64_t> StartedMicros(const jobs::JobHandle& handle) override;
  double capacity_cpus() const override { return capacity_cpus_; }
  bool SetEndedCallback(std::function<void()> ended) override;

  const std::string& runner_path() const { return options_.runner_path; }
  // The pre-forked launcher's pid; 0 when runners are started directly.
  pid_t launcher_pid();
  // The warm sandboxes (null without); attempts started in one so far.
  WarmPool* warm_pool() { return warm_pool_.get(); }
  int64_t warm_starts() const { return warm_starts_.load(); }

 private:
  LocalSubstrate(LocalSubstrateOptions options, std::string bwrap_path, double capacity,
                 std::unique_ptr<imagefs::LayerCache> image_cache);
  Status Validate(const jobs::LaunchRequest& r) const;
  StatusOr<std::string> StateDir(const jobs::JobHandle& handle) const;
  Status Spawn(const std::string& state_dir);
  // Starts the attempt in a warm sandbox if one is ready and fits: true and
  // `*spawned` set if it was taken (started, or failed after the runner
  // took it); false if nothing of it ran (Spawn then starts it).
  bool SpawnWarm(const jobs::LaunchRequest& request, bool has_image, const std::string& state_dir,
                 Status* spawned);
  // The launcher to use now (null: start runners directly); after `dead`
  // (the one a launch found gone) is dropped, a new one is started in its place.
  std::shared_ptr<runner::Launcher> CurrentLauncher(const runner::Launcher* dead = nullptr);
  jobs::ExitInfo MarkLost(const std::string& state_dir) const;
  // Watches the runner of `state_dir` when a callback is set; calls it at
  // once if the runner is already gone.
  void WatchRunner(const std::string& state_dir, const runner::ProcessIdentity& runner);

  // The image's root filesystem in the layer cache, leased until the runner
  // holds its own lock.
  StatusOr<std::optional<imagefs::PreparedImage>> PrepareImage(const jobs::LaunchRequest& r);

  const LocalSubstrateOptions options_;
  const std::string bwrap_path_;  // empty = unsandboxed
  std::unique_ptr<imagefs::LayerCache> image_cache_;  // null without image_source
  const double capacity_cpus_;
  absl::Mutex mu_;
  std::function<void()> ended_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<ExitWatcher> watcher_ ABSL_GUARDED_BY(mu_);
  absl::Mutex launcher_mu_;
  std::shared_ptr<runner::Launcher> launcher_ ABSL_GUARDED_BY(launcher_mu_);
  bool launcher_disabled_ ABSL_GUARDED_BY(launcher_mu_) = false;
  // After the launcher: destroyed (its thread joined) before it.
  std::unique_ptr<WarmPool> warm_pool_;
  std::atomic<int64_t> warm_starts_{0};
};

}  // namespace tandem::compute::local
