// One job attempt in a tandem-job-runner process, after it has left the
// process that started it: reads STATE_DIR/request.json (and takes the
// secrets file), becomes a child subreaper with SIGCHLD/SIGTERM/SIGINT through
// a signalfd, prepares the job, writes runner.json, reports "ready" by writing
// the byte '1' to `ready_fd` (then closes it), runs the job and writes
// result.json. Both ways of starting a runner end here: the exec'd runner
// (`tandem-job-runner STATE_DIR`, which forks to detach) and a child of the
// pre-forked launcher (launcher.h). A failure before "ready" is a message on
// stderr and a non-zero return without the byte: nothing of the job ran.
#pragma once

#include <string>

namespace tandem::compute::runner {

// The process exit status: 0 once result.json is written, 2 if the request is
// unusable or the job could not be prepared.
int RunAttempt(const std::string& state_dir, int ready_fd);

}  // namespace tandem::compute::runner
