// A compute substrate runs one prepared job and reports how it ended. The job
// service prepares the job directory (the /opt/ml tree) and the command; the
// substrate launches it, enforces limits, captures the log, meters it, and
// can stop it or re-attach to it after a control-plane restart.
//
// Backends: local processes (compute/substrates/local/substrate.h) and Slurm
// batch jobs (compute/substrates/slurm/substrate.h), chosen by `compute.substrate`
// in tandem.yaml. Kubernetes Jobs are planned, not present (docs/architecture.md).
// Thread-safety: all methods are thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "compute/jobs/spec.h"

namespace tandem::compute::jobs {

// Whether `id` is safe as a substrate's directory or file name: 1-128
// characters of [A-Za-z0-9._-], not starting with '.'. Substrates refuse
// other ids (the job service's ULIDs always pass).
bool ValidJobId(std::string_view id);

struct LaunchRequest {
  std::string job_id;
  int attempt = 1;
  std::string job_dir;   // host directory laid out as /opt/ml
  std::string log_path;  // host file receiving stdout+stderr (bounded)
  // The command as the job sees it: with a sandbox, paths under /opt/ml; without,
  // the contract's paths point into job_dir (see contract.h).
  std::vector<std::string> argv;
  std::map<std::string, std::string> env;  // the whole environment of the job
  std::string working_dir;                 // as the job sees it
  Resources resources;
  int64_t max_runtime_seconds = 86'400;
  bool network = false;
  // Run in an image instead of the host's filesystem (docs/images.md): the
  // manifest digest (sha256:...) and its repository in the image store. The
  // substrate prepares the root filesystem in its layer cache. "" = the host.
  std::string image_digest;
  std::string image_repository;
  // Secret values (compute/jobs/spec.h `secrets:`): never written with the
  // request; substrates hand them to the runner in a separate 0600 file that
  // the runner deletes as it reads it (runner/protocol.h kSecretsFile).
  std::map<std::string, std::string> secret_env;    // variable -> value
  std::map<std::string, std::string> secret_files;  // name in /run/secrets -> value
  // The job's spec, valid during Submit only (not persisted): for substrates
  // that stage the job on the node themselves (Slurm with shared_fs: false).
  const JobSpec* spec = nullptr;
};

// The checks every substrate makes before it launches `r`: a valid job id,
// attempt >= 1, a command, absolute job_dir (existing), log_path (in an
// existing directory) and working_dir, positive max_runtime_seconds,
// memory_mb >= 0. InvalidArgument or NotFound naming the field.
Status ValidateLaunchRequest(const LaunchRequest& r);

// The bubblewrap a substrate sandboxes jobs with: `configured` when set (and
// executable), else `bwrap` on $PATH; "" when none is found or `enabled` is
// false. NotFound when `required` and none is found.
StatusOr<std::string> ResolveBwrap(bool enabled, bool required, const std::string& configured);

// The per-job supervisor a substrate launches: `runner_path` when set, else
// tandem-job-runner beside the binaries (filled in). NotFound when it is not
// an executable file.
Status ResolveRunner(std::string& runner_path);

// The limits every substrate's options share: log_limit_bytes > 0,
// grace_seconds >= 0, capacity_cpus >= 0 (0: the substrate finds its own).
// InvalidArgument naming the option.
Status CheckSubstrateLimits(int64_t log_limit_bytes, int64_t grace_seconds, double capacity_cpus);

// The state directory of one attempt, <root>/<job_id>-<attempt>, where root
// is `state_root` or, when that is empty, <parent of r.job_dir>/`default_leaf`;
// creates root. The caller creates the directory with CreateAttemptDir.
StatusOr<std::string> AttemptStateDir(const LaunchRequest& r, const std::string& state_root,
                                      std::string_view default_leaf);
// The same path, creating nothing.
std::string AttemptStateDirPath(const std::string& job_id, int attempt, const std::string& job_dir,
                                const std::string& state_root, std::string_view default_leaf);
// Creates the attempt's state directory `dir` (mode 0755): AlreadyExists
// when this job_id/attempt was submitted before, Internal for other errors.
Status CreateAttemptDir(const LaunchRequest& r, const std::string& dir);

enum class ExitKind {
  kExited,       // exit_code is set (0 = success)
  kSignaled,     // killed by `signal` (not by us)
  kTimedOut,     // max_runtime_seconds reached: SIGTERM, grace, SIGKILL
  kOutOfMemory,  // memory limit exceeded
  kStopped,      // Stop() was called
  kLost,         // the process vanished without a result (e.g. host reboot)
};
// Inline: the runner (src/compute/substrates/runner) uses it and links no
// other compute library.
inline std::string_view ExitKindName(ExitKind k) {
  switch (k) {
    case ExitKind::kExited:
      return "Exited";
    case ExitKind::kSignaled:
      return "Signaled";
    case ExitKind::kTimedOut:
      return "TimedOut";
    case ExitKind::kOutOfMemory:
      return "OutOfMemory";
    case ExitKind::kStopped:
      return "Stopped";
    case ExitKind::kLost:
      return "Lost";
  }
  return "Unknown";
}

struct Metering {
  double wall_seconds = 0;
  double cpu_seconds = 0;      // user+sys of the whole process tree
  int64_t peak_rss_bytes = 0;  // peak resident set of the whole tree
};

struct ExitInfo {
  ExitKind kind = ExitKind::kExited;
  int exit_code = 0;
  int signal = 0;
  std::string message;  // human-readable detail ("exit status 3", "killed by SIGSEGV")
  Metering metering;
  int64_t started_micros = 0;  // when user code started
  int64_t ended_micros = 0;
};

// An opaque handle that survives control-plane restarts (stored in the DB):
// for the local substrate, the runner's pid and start time.
struct JobHandle {
  std::string substrate;  // "local", "slurm", ...
  std::string id;         // substrate-specific
  // Set by Submit only, never stored: the job started in a sandbox the
  // substrate had started in advance (the local substrate's warm pool).
  bool warm_sandbox = false;
};

class Substrate {
 public:
  virtual ~Substrate() = default;

  virtual std::string name() const = 0;

  // Whether jobs run sandboxed (e.g. bubblewrap found) — reported to users.
  virtual bool sandboxed() const = 0;

  // Whether the job sees its input channels (<job_dir>/input/data, at
  // /opt/ml/input/data) through a read-only mount, so that nothing it does
  // (write, chmod, unlink, rename, as whichever user) reaches those files:
  // the job service then stages store objects there as hard links to the
  // store's blob files instead of copies (staging.h InputStaging). Default:
  // false (inputs are copied).
  virtual bool inputs_read_only() const { return false; }

  // Starts the job; returns once it is launched (not finished).
  virtual StatusOr<JobHandle> Submit(const LaunchRequest& request) = 0;

  // The handle of the job a Submit of `request` (job_id, attempt and
  // job_dir are read) started, when the caller died before it could record
  // that handle: so a survivor re-attaches to it instead of launching the
  // attempt again. nullopt when nothing of that attempt runs or ran (a
  // launch cut short before the job's supervisor started is cleaned up, and
  // the attempt may be submitted again). Unimplemented where the substrate
  // cannot tell (the caller must then assume nothing ran).
  virtual StatusOr<std::optional<JobHandle>> FindLaunched(const LaunchRequest& request) {
    (void)request;
    return UnimplementedError("substrate " + name() + " cannot find a launch by its attempt");
  }

  // Non-blocking: the job's end if it has ended, nullopt while it runs.
  // NotFound if the substrate knows nothing of `handle` (treat as lost).
  virtual StatusOr<std::optional<ExitInfo>> Poll(const JobHandle& handle) = 0;

  // Asks the job to stop: SIGTERM to the whole tree, then SIGKILL after
  // `grace_seconds`. Returns at once; Poll reports kStopped when it is gone.
  virtual Status Stop(const JobHandle& handle, int64_t grace_seconds) = 0;

  // When user code started running (for cold-start measurement), if known.
  virtual std::optional<int64_t> StartedMicros(const JobHandle& handle) = 0;

  // How many CPUs this substrate may use at once (the scheduler's capacity).
  virtual double capacity_cpus() const = 0;

  // `ended` (callable from any thread, must not call back into the
  // substrate) is called soon after a job submitted or polled through this
  // substrate ends, so the caller can Poll at once instead of on its next
  // tick; nullptr stops the calls and returns once none is running. Returns
  // whether `ended` will be called for every end (then the caller need only
  // poll rarely, as a safety net); false when it cannot be (the caller must
  // keep polling). The default never calls it and returns false.
  virtual bool SetEndedCallback(std::function<void()> ended) {
    (void)ended;
    return false;
  }
};

}  // namespace tandem::compute::jobs
