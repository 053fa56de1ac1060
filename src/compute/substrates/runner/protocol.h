// What the local substrate and tandem-job-runner exchange through a job's
// state directory (outside the job directory, so a sandboxed job cannot
// tamper with it):
//
//   request.json  written by the substrate: the LaunchRequest plus runner options
//   runner.json   written by the runner once it is detached: pid, start time, pgid
//   job.json      written by the runner after fork: the job's pid, start time, pgid
//   started       written by the runner when the job was exec'd: micros since epoch
//   result.json   written by the runner last: the ExitInfo
//   runner.log    the runner's own stderr (diagnostics only)
//
// Every file is written atomically (temp file + rename), so a reader sees
// either nothing or the whole file.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "compute/jobs/substrate.h"
#include "nlohmann/json.hpp"

namespace tandem::compute::runner {

using Json = nlohmann::json;

inline constexpr char kRequestFile[] = "request.json";
inline constexpr char kRunnerFile[] = "runner.json";
inline constexpr char kJobFile[] = "job.json";
inline constexpr char kStartedFile[] = "started";
inline constexpr char kResultFile[] = "result.json";
inline constexpr char kRunnerLogFile[] = "runner.log";
// The launch's secret values (mode 0600), apart from request.json, which
// persists: the runner reads it and deletes it before the job starts.
inline constexpr char kSecretsFile[] = "secrets.json";

// Everything the runner needs to run one job.
struct RunnerRequest {
  jobs::LaunchRequest launch;
  bool sandbox = false;                   // run under bubblewrap
  std::string bwrap_path;                 // when sandboxed
  int64_t log_limit_bytes = 256LL << 20;  // past this, output is discarded
  int64_t grace_seconds = 10;             // SIGTERM -> SIGKILL for timeouts and plain SIGTERM
  int64_t sample_interval_ms = 100;       // /proc sampling (memory limit, peak RSS)
  // A job in an image: the prepared root filesystem bound read-only at / in
  // the sandbox, and the lock file the runner holds shared while the job
  // runs (the layer cache does not evict a locked image). "" = the host.
  std::string image_rootfs;
  std::string image_lock;
  // Host paths a sandboxed job must not see (SandboxSpec::hidden_dirs/files).
  std::vector<std::string> hidden_paths;
};

// Identifies a live process across pid reuse: pid + start time (clock ticks
// since boot, /proc/<pid>/stat field 22).
struct ProcessIdentity {
  int pid = 0;
  uint64_t start_ticks = 0;
  int pgid = 0;
};

// The runner links neither absl nor tandem_common (loading ~25 shared
// libraries would cost tens of ms of cold start), so these functions report
// errors as a message (empty = success) instead of a Status; the substrate
// wraps them. The message must be looked at ([[nodiscard]]).

Json RunnerRequestToJson(const RunnerRequest& r);
[[nodiscard]] std::string RunnerRequestFromJson(const Json& j, RunnerRequest* out);

Json ExitInfoToJson(const jobs::ExitInfo& e);
[[nodiscard]] std::string ExitInfoFromJson(const Json& j, jobs::ExitInfo* out);

// Parses "Exited", "Signaled", ... (ExitKindName's output).
std::optional<jobs::ExitKind> ParseExitKind(std::string_view name);

Json ProcessIdentityToJson(const ProcessIdentity& p);
[[nodiscard]] std::string ProcessIdentityFromJson(const Json& j, ProcessIdentity* out);

// Writes `contents` to `path` via a temp file in the same directory + rename.
[[nodiscard]] std::string WriteFileAtomic(const std::string& path, std::string_view contents,
                                          int mode = 0644);

// The secrets of `launch` into STATE_DIR/kSecretsFile (0600); nothing when it
// has none.
[[nodiscard]] std::string WriteSecretsFile(const std::string& state_dir,
                                           const jobs::LaunchRequest& launch);
// Reads STATE_DIR/kSecretsFile into `launch` and deletes it (absent: none).
[[nodiscard]] std::string TakeSecretsFile(const std::string& state_dir,
                                          jobs::LaunchRequest* launch);
// nullopt if `path` cannot be read.
std::optional<std::string> ReadFile(const std::string& path);
// ReadFile + parse; the error names the path.
[[nodiscard]] std::string ReadJsonFile(const std::string& path, Json* out);

// Writes the request of one attempt (kRequestFile) into its state directory
// for the runner to read: `launch` with the sandbox (`bwrap_path`, "" for
// none) and the limits a substrate's options give (log_limit_bytes,
// grace_seconds, sample_interval_ms).
template <typename SubstrateOptions>
[[nodiscard]] std::string WriteRunnerRequest(const std::string& state_dir,
                                             const jobs::LaunchRequest& launch,
                                             const std::string& bwrap_path,
                                             const SubstrateOptions& options,
                                             const std::string& image_rootfs = "",
                                             const std::string& image_lock = "") {
  RunnerRequest rr;
  rr.image_rootfs = image_rootfs;
  rr.image_lock = image_lock;
  rr.launch = launch;
  rr.sandbox = !bwrap_path.empty();
  rr.bwrap_path = bwrap_path;
  rr.log_limit_bytes = options.log_limit_bytes;
  rr.grace_seconds = options.grace_seconds;
  rr.sample_interval_ms = options.sample_interval_ms;
  rr.hidden_paths = options.hidden_paths;
  if (std::string e = WriteSecretsFile(state_dir, launch); !e.empty()) return e;
  return WriteFileAtomic(state_dir + "/" + kRequestFile, RunnerRequestToJson(rr).dump());
}

// Microseconds since the Unix epoch (CLOCK_REALTIME).
int64_t WallMicros();

}  // namespace tandem::compute::runner
