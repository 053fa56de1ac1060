// The Slurm client commands the Slurm substrate runs (sbatch, squeue, sacct,
// scancel, sinfo) and the parsers of their output.
//
// SlurmCommands is an interface so unit tests can feed recorded outputs;
// ProcessSlurmCommands runs the real binaries with posix_spawn, stdout and
// stderr captured, in a minimal environment (PATH, HOME, USER, LOGNAME, LANG,
// LC_ALL, TZ, TMPDIR, SLURM_*) with SLURM_CONF pointing at the configured
// slurm.conf.
//
// The parsers are pure functions over the text the commands print; every
// parse error names the command and quotes the offending text.
//
// Thread-safety: ProcessSlurmCommands is thread-safe; the parsers are pure.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "compute/jobs/substrate.h"

namespace tandem::compute::slurm {

struct CommandResult {
  int exit_code = 0;  // 128+N when killed by signal N
  std::string out;
  std::string err;
};

class SlurmCommands {
 public:
  virtual ~SlurmCommands() = default;
  // Runs argv (argv[0] is looked up in $PATH). An error only when the
  // command could not be run at all (not found, timed out); a non-zero exit
  // is a CommandResult.
  virtual StatusOr<CommandResult> Run(const std::vector<std::string>& argv) = 0;
};

struct ProcessSlurmCommandsOptions {
  std::string slurm_conf;       // exported as SLURM_CONF; empty: inherit
  std::string bin_dir;          // where sbatch & co live; empty: $PATH
  int64_t timeout_ms = 30'000;  // per command; then SIGKILL and DeadlineExceeded
  Clock* clock = nullptr;       // measures timeout_ms (monotonic); null: the real clock
};

std::unique_ptr<SlurmCommands> NewProcessSlurmCommands(ProcessSlurmCommandsOptions options);

// ---- parsers ------------------------------------------------------------------

// A Slurm job's state as squeue/sacct/scontrol report it.
struct SlurmJobState {
  std::string job_id;
  std::string state;   // base state, e.g. "RUNNING", "CANCELLED" ("CANCELLED by 0" -> "CANCELLED")
  std::string reason;  // squeue's reason, when known
  int exit_code = 0;   // the batch script's exit status
  int signal = 0;      // the signal that ended it, if any
  int64_t start_micros = 0;  // 0 = unknown
  int64_t end_micros = 0;
  double elapsed_seconds = -1;  // -1 = unknown
  double cpu_seconds = -1;      // sacct TotalCPU; -1 = unknown
  int64_t max_rss_bytes = -1;   // sacct MaxRSS; -1 = unknown
};

// `sbatch --parsable` prints "<id>" or "<id>;<cluster>".
StatusOr<std::string> ParseSbatchParsable(std::string_view out);

// The squeue format the substrate asks for and its parser:
//   squeue -h -t all -j ID -O <kSqueueFormat>
// nullopt when squeue does not list the job (it left slurmctld's memory).
extern const char kSqueueFormat[];
StatusOr<std::optional<SlurmJobState>> ParseSqueue(std::string_view out, const std::string& job_id);

// sacct -P -n -j ID -o <kSacctFields> (with or without -c, the job
// completion log). Uses the line of the job itself (not ".batch" steps
// except for TotalCPU/MaxRSS, which are taken as the maximum over steps).
extern const char kSacctFields[];
StatusOr<std::optional<SlurmJobState>> ParseSacct(std::string_view out, const std::string& job_id);

// `sinfo -h -o %C` prints "allocated/idle/other/total" per partition line:
// returns the sum of the totals.
StatusOr<double> ParseSinfoCpus(std::string_view out);

// Slurm's "[D-]HH:MM:SS[.mmm]", "MM:SS[.mmm]" durations.
StatusOr<double> ParseSlurmDuration(std::string_view text);
// "123K", "12M", "1.5G", "456" (bytes) -> bytes.
StatusOr<int64_t> ParseSlurmSize(std::string_view text);
// "2026-11-30T08:40:12" (local time) -> micros; "Unknown"/"N/A"/"None"/"" -> 0.
StatusOr<int64_t> ParseSlurmTime(std::string_view text);

// ---- the state table ----------------------------------------------------------

// How one Slurm job state maps onto the substrate's outcome.
struct SlurmStateMapping {
  std::string_view state;
  bool ended;           // false: the job is pending/running/finishing
  jobs::ExitKind kind;  // when ended
  std::string_view meaning;
};

// The whole table (every state Slurm 22.05 reports), for docs and tests.
const std::vector<SlurmStateMapping>& SlurmStateTable();

// nullopt while the job is still active; the ExitInfo (kind, exit code,
// signal, message, times, metering from elapsed/TotalCPU/MaxRSS) once it
// ended. InvalidArgument for a state not in the table.
StatusOr<std::optional<jobs::ExitInfo>> MapSlurmState(const SlurmJobState& s);

}  // namespace tandem::compute::slurm
