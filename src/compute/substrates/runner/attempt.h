// One job attempt in a tandem-job-runner process, after it has left the
// process that started it: reads STATE_DIR/request.json (and takes the
// secrets file), becomes a child subreaper with SIGCHLD/SIGTERM/SIGINT through
// a signalfd, prepares the job, writes runner.json, reports "ready" by writing
// the byte '1' to `ready_fd` (then closes it), runs the job and writes
// result.json. Every way of starting a runner ends here: the exec'd runner
// (`tandem-job-runner STATE_DIR`, which forks to detach), a child of the
// pre-forked launcher (launcher.h) and a warm runner (warm.h), which set up
// the signals before its sandbox started. A failure before "ready" is a
// message on stderr and a non-zero return without the byte: nothing of the
// job ran.
#pragma once

#include <string>

#include "compute/substrates/runner/protocol.h"
#include "compute/substrates/runner/supervisor.h"

namespace tandem::compute::runner {

// The process exit status: 0 once result.json is written, 2 if the request is
// unusable or the job could not be prepared.
int RunAttempt(const std::string& state_dir, int ready_fd);

// Ignores SIGPIPE and SIGHUP, blocks SIGCHLD/SIGTERM/SIGINT, becomes a child
// subreaper and returns a signalfd for the three; -1 and `*error` on failure.
int SetUpRunnerSignals(std::string* error);

// RunAttempt after the request is read and its secrets taken, with the
// signals set up (`signal_fd`); in `sandbox` when not null (warm.h), where
// "ready" is "F1" (one write: the control plane is woken once, after the job
// started) and a failure before it writes "F".
int SuperviseAttempt(RunnerRequest request, const std::string& state_dir, int signal_fd,
                     int ready_fd, const StartedSandbox* sandbox);

}  // namespace tandem::compute::runner
