// The node-side supervision of one Slurm job attempt, shared by
// tandem-slurm-step (shared filesystem) and tandem-slurm-node (node-local
// job directory): become a child subreaper, start tandem-job-runner on
// STATE_DIR, wait until every descendant is gone, pass SIGTERM/SIGINT on to
// the runner (with the grace from STATE_DIR/stop when there is one), and
// return the exit status Slurm should record (the job's exit status from
// STATE_DIR/result.json, 1 for any other end, 2 when the runner could not
// start). See step_main.cc for the details.
//
// Like the runner it links neither absl nor tandem_common.
//
// Thread-safety: call from the process's only thread (it blocks signals and
// reaps every child).
#pragma once

#include <functional>
#include <string>

namespace tandem::compute::slurm {

// Blocks SIGCHLD/SIGTERM/SIGINT in the calling thread, so a stop that arrives
// before RunStep (e.g. while the node stages the job) waits for it. RunStep
// calls it too.
void BlockStepSignals();

// `after_job` (may be empty) runs once the job's process tree is gone and
// before a stopped step lingers for the substrate's final `scancel` (up to
// 60 s): tandem-slurm-node uploads the job's results there.
int RunStep(const std::string& runner, const std::string& state_dir,
            const std::function<void()>& after_job = nullptr);

}  // namespace tandem::compute::slurm
