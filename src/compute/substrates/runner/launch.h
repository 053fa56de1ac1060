// Starting tandem-job-runner for one job attempt: what the local substrate and
// tandem-slurm-step both do. The runner detaches and exits 0 once the job is
// under way; its own stderr goes to STATE_DIR/runner.log.
#pragma once

#include <string>

namespace tandem::compute::runner {

// Runs `runner_path STATE_DIR` (empty environment, stdin/stdout /dev/null, in
// a new session when asked) and waits for it to detach. "" on success, else
// why not, with the tail of runner.log.
[[nodiscard]] std::string StartRunner(const std::string& runner_path, const std::string& state_dir,
                                      bool new_session);

// The end of STATE_DIR/runner.log (at most 2000 bytes, trailing blank
// trimmed), or "no diagnostics": why a runner did not start a job.
std::string RunnerLogTail(const std::string& state_dir);

}  // namespace tandem::compute::runner
