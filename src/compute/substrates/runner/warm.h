// Warm sandboxes: a runner forked by the launcher ahead of any job
// (launcher.h, message "warm <json>") that has already started bubblewrap on
// an empty slot directory bound at /opt/ml, with this runner's
// `--sandbox-wait` as the sandbox's command, waiting. A job then costs no
// bubblewrap start on its clock: the substrate moves the staged job
// directory's entries into the slot and renames the slot over the job
// directory (a bind mount follows the directory, so the sandbox's /opt/ml is
// the job's directory from then on), then sends "run <STATE_DIR>"; the warm
// runner becomes that attempt's runner (attempt.h) and tells the waiter to
// exec the job's command.
//
// Protocol on the warm socket (SOCK_SEQPACKET; the substrate keeps the
// other end):
//   warm runner -> substrate: "W" once the sandbox waits, or "E<why>" (then
//     it exits; nothing ran).
//   substrate -> warm runner: "run <STATE_DIR>" with exactly one descriptor,
//     the write end of a reply pipe; or EOF (the warm runner ends its
//     sandbox, removes the still empty slot and exits).
//   warm runner -> reply pipe: "E<why>" when the attempt does not fit this
//     sandbox (its job_dir is not the slot directory, another bubblewrap,
//     network or hidden paths, an image) -- nothing ran, the substrate
//     starts it another way; else "F1" once the job started and the runner
//     is ready, or 'F' alone: the runner took the attempt (and its secrets)
//     but failed, runner.log says why. Nothing at all: the warm runner died
//     before it took the attempt (the substrate writes the secrets again
//     and starts it another way).
// A warm sandbox is used for one job at most, and its slot only ever is that
// job's directory: isolation is that of a sandbox started for the job.
//
// Inside the sandbox, `tandem-job-runner --sandbox-wait` (descriptor 3: a
// stream socket to the warm runner) writes 'W', reads the command until EOF
// (JSON {argv, env, cwd}), enters cwd and execs argv[0] (found on the job's
// PATH). If that fails it writes "E<errno>" on descriptor 3, a "[tandem]
// cannot ..." line on stderr (the job's log) and exits 127; a successful exec
// closes descriptor 3.
//
// Absl-free like the rest of the runner.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "compute/substrates/runner/protocol.h"

namespace tandem::compute::runner {

// What a warm sandbox is made for; a job runs in it only if its request
// asks for the same (and for no image and no file secrets).
struct WarmSpec {
  std::string slot_dir;  // absolute; an existing empty directory, bound at /opt/ml
  std::string bwrap_path;
  bool network = false;
  std::vector<std::string> hidden_paths;
};

Json WarmSpecToJson(const WarmSpec& w);
[[nodiscard]] std::string WarmSpecFromJson(const Json& j, WarmSpec* out);

// In a child of the launcher, with `warm_fd` the warm socket: starts the
// sandbox and serves the protocol above. Never returns.
[[noreturn]] void BecomeWarmRunner(const WarmSpec& spec, int warm_fd);

// tandem-job-runner --sandbox-wait (inside the sandbox). Returns only on
// failure (the exit status, 127).
int SandboxWait(int control_fd);

// The command the waiter execs: what the warm runner sends it.
struct WaiterCommand {
  std::vector<std::string> argv;
  std::vector<std::string> env;  // "KEY=value"
  std::string cwd;
};
std::string WaiterCommandToJson(const WaiterCommand& c);

}  // namespace tandem::compute::runner
