// Process plumbing for the fleet supervisor: start a detached replica
// process (own session and process group, no inherited fds, output to a log
// file) and recognize it later by pid + kernel start time.
// Thread-safety: the functions are thread-safe.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"

namespace tandem::serving::fleet {

// Starts argv[0] (an absolute path) with `argv` through common/subprocess.h,
// in a new session (setsid: it outlives the caller's process group), stdin
// /dev/null, stdout+stderr appended to `log_path`, no other descriptor,
// default signal dispositions and an empty signal mask. Returns its pid.
[[nodiscard]] StatusOr<pid_t> SpawnDetached(const std::vector<std::string>& argv,
                                            const std::string& log_path);

// The process's start time (clock ticks since boot, /proc/PID/stat field 22);
// NotFound if there is no such process or it is a zombie. Reaps `pid` first
// if it is an exited child of this process.
StatusOr<int64_t> ProcessStartTime(pid_t pid);

// True if `pid` is alive and started at `start_time` (not a recycled pid).
bool ProcessMatches(pid_t pid, int64_t start_time);

// A free TCP port on 127.0.0.1 (bound and released; racy but fine locally).
StatusOr<int> PickFreePort();

}  // namespace tandem::serving::fleet
