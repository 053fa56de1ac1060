// tandem-slurm-step RUNNER STATE_DIR
//
// What a Slurm batch script of the Slurm substrate exec's on the node
// (compute/substrates/slurm/substrate.h). It keeps tandem-job-runner -- which detaches from
// whoever starts it -- inside the Slurm job:
//
//   - it becomes a child subreaper, so the runner's detached process is
//     re-parented to it (and stays under slurmstepd, whose process tracking
//     can then kill the whole tree on scancel or node drain);
//   - it starts RUNNER STATE_DIR (the runner's own stderr goes to
//     STATE_DIR/runner.log), then waits until every descendant is gone;
//   - SIGTERM/SIGINT (`scancel --batch --signal=TERM`) is passed on to the
//     runner as a sigqueue'd SIGTERM carrying the grace period the substrate
//     wrote to STATE_DIR/stop (the runner's default grace when absent); once
//     the job is gone it lingers (up to kLingerSeconds) for the plain
//     `scancel` with which the substrate ends a stopped job, so that Slurm's
//     records say CANCELLED like they do for jobs stopped before they ran;
//   - it exits with the job's exit status (from STATE_DIR/result.json), 1 for
//     any other end, or 2 when the runner could not start -- so Slurm's own
//     COMPLETED/FAILED agree with the runner's result.
//
// Like the runner it links neither absl nor tandem_common (cold start).
#include <cstdio>

#include "compute/substrates/slurm/step.h"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: tandem-slurm-step RUNNER STATE_DIR\n");
    return 2;
  }
  return tandem::compute::slurm::RunStep(argv[1], argv[2]);
}
