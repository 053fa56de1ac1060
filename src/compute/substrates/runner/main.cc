// tandem-job-runner STATE_DIR
// tandem-job-runner --launcher        (descriptor 3: the launcher's socket)
// tandem-job-runner --sandbox-wait    (inside a warm sandbox; descriptor 3)
//
// Supervises one job for the local substrate (see compute/substrates/runner/supervisor.h). Reads
// STATE_DIR/request.json, detaches (the process that started it exits as soon
// as STATE_DIR/runner.json is written, with status 0; non-zero and a message
// on stderr if the request is unusable), then runs the job and writes
// STATE_DIR/result.json (attempt.h). SIGTERM = stop the job (a sigqueue'd int
// value is the grace period in seconds).
//
// With --launcher it is the local substrate's pre-forked launcher instead
// (launcher.h): it forks one such runner per message on descriptor 3.
// With --sandbox-wait it is a warm sandbox's command (warm.h): it waits on
// descriptor 3 for the job's command and execs it.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

#include "compute/substrates/runner/attempt.h"
#include "compute/substrates/runner/launcher.h"
#include "compute/substrates/runner/warm.h"

namespace tandem::compute::runner {
namespace {

int RunnerMain(const std::string& state_dir) {
  // Detach: the parent waits for our "ready" byte, then exits so that whoever
  // spawned it can reap it at once; we are re-parented away from it.
  int ready[2];
  if (pipe2(ready, O_CLOEXEC) != 0) {
    std::fprintf(stderr, "tandem-job-runner: pipe: %s\n", std::strerror(errno));
    return 2;
  }
  pid_t pid = fork();
  if (pid < 0) {
    std::fprintf(stderr, "tandem-job-runner: fork: %s\n", std::strerror(errno));
    return 2;
  }
  if (pid > 0) {
    close(ready[1]);
    char c = 0;
    ssize_t n = read(ready[0], &c, 1);
    _exit(n == 1 && c == '1' ? 0 : 3);
  }
  close(ready[0]);
  return RunAttempt(state_dir, ready[1]);
}

}  // namespace
}  // namespace tandem::compute::runner

int main(int argc, char** argv) {
  if (argc == 2 && std::string(argv[1]) == "--launcher") {
    return tandem::compute::runner::ServeLaunches(3);
  }
  if (argc == 2 && std::string(argv[1]) == "--sandbox-wait") {
    return tandem::compute::runner::SandboxWait(3);
  }
  if (argc != 2 || argv[1][0] == '-') {
    std::fprintf(stderr, "usage: tandem-job-runner STATE_DIR | tandem-job-runner --launcher\n");
    return 2;
  }
  return tandem::compute::runner::RunnerMain(argv[1]);
}
