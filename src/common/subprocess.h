// Starting child processes with absl::Status errors: the API every launch
// site in tandem uses (the options, and what the child is guaranteed, are in
// common/subprocess_core.h).
#pragma once

#include <sys/types.h>

#include <string>

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

}  // namespace tandem::subprocess
