// Starting child processes with absl::Status errors: the API every launch
// site in tandem uses (the options, and what the child is guaranteed, are in
// common/subprocess_core.h).
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "common/clock.h"
#include "common/status.h"
#include "common/subprocess_core.h"

namespace tandem::subprocess {

// Starts the child; its pid, or an error naming the program and what failed:
// InvalidArgument (empty argv, bad descriptor), NotFound (no such program or
// redirection file), PermissionDenied, FailedPrecondition (working directory),
// Internal (fork). The caller must wait for the pid.
[[nodiscard]] StatusOr<pid_t> Spawn(const SpawnOptions& options);

// How a waited-for child ended.
struct ExitStatus {
  int exit_code = -1;  // when it exited
  int signal = 0;      // when a signal killed it
  bool ok() const { return exit_code == 0; }
  std::string ToString() const;  // "exit 3", "signal 9 (Killed)"
};

// waitpid() for `pid`, retrying on EINTR; Internal when it is not our child.
[[nodiscard]] StatusOr<ExitStatus> Wait(pid_t pid);

// What Run collected from a child that ran to its end.
struct RunResult {
  ExitStatus exit;
  std::string out;  // its stdout (and stderr, with RunOptions::merge_stderr)
  std::string err;  // its stderr
};

struct RunOptions {
  int64_t timeout_ms = 0;               // 0: none; else SIGKILL when it passes
  Clock* clock = nullptr;               // measures timeout_ms; nullptr = Clock::Real()
  size_t max_output_bytes = 16u << 20;  // per stream; the rest is read and dropped
  bool merge_stderr = false;            // stderr into `out` (as 2>&1)
};

// Runs a child to its end, collecting its stdout and stderr through pipes
// (`spawn.out` and `spawn.err` are replaced), then waits for it. The errors
// of Spawn; Internal when a pipe cannot be made; DeadlineExceeded ("<argv[0]>
// did not finish within N ms") after killing it when the timeout passes.
[[nodiscard]] StatusOr<RunResult> Run(SpawnOptions spawn, const RunOptions& options = {});

}  // namespace tandem::subprocess
