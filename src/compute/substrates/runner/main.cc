// tandem-job-runner STATE_DIR
//
// Supervises one job for the local substrate (see compute/substrates/runner/supervisor.h). Reads
// STATE_DIR/request.json, detaches (the process that started it exits as soon
// as STATE_DIR/runner.json is written, with status 0; non-zero and a message
// on stderr if the request is unusable), then runs the job and writes
// STATE_DIR/result.json. SIGTERM = stop the job (a sigqueue'd int value is the
// grace period in seconds).
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

#include "compute/substrates/runner/proc_stats.h"
#include "compute/substrates/runner/protocol.h"
#include "compute/substrates/runner/supervisor.h"

namespace tandem::compute::runner {
namespace {

int Fail(const std::string& message) {
  std::fprintf(stderr, "tandem-job-runner: %s\n", message.c_str());
  return 2;
}

int RunnerMain(const std::string& state_dir) {
  Json json;
  RunnerRequest request;
  if (std::string e = ReadJsonFile(state_dir + "/" + kRequestFile, &json); !e.empty()) {
    return Fail(e);
  }
  if (std::string e = RunnerRequestFromJson(json, &request); !e.empty()) return Fail(e);
  // Secret values: read once and deleted before anything else happens, so
  // they stay on disk only between the substrate's launch and this line.
  if (std::string e = TakeSecretsFile(state_dir, &request.launch); !e.empty()) return Fail(e);

  signal(SIGPIPE, SIG_IGN);
  signal(SIGHUP, SIG_IGN);
  sigset_t mask;
  sigemptyset(&mask);
  for (int s : {SIGCHLD, SIGTERM, SIGINT}) sigaddset(&mask, s);
  sigprocmask(SIG_BLOCK, &mask, nullptr);

  // Detach: the parent waits for our "ready" byte, then exits so that whoever
  // spawned it can reap it at once; we are re-parented away from it.
  int ready[2];
  if (pipe2(ready, O_CLOEXEC) != 0) return Fail("pipe: " + std::string(strerror(errno)));
  pid_t pid = fork();
  if (pid < 0) return Fail("fork: " + std::string(strerror(errno)));
  if (pid > 0) {
    close(ready[1]);
    char c = 0;
    ssize_t n = read(ready[0], &c, 1);
    _exit(n == 1 && c == '1' ? 0 : 3);
  }
  close(ready[0]);
  if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) {
    return Fail("PR_SET_CHILD_SUBREAPER: " + std::string(strerror(errno)));
  }
  int sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
  if (sfd < 0) return Fail("signalfd: " + std::string(strerror(errno)));

  Supervisor supervisor(std::move(request), state_dir, sfd);
  if (std::string e = supervisor.Prepare(); !e.empty()) return Fail(e);
  ProcessIdentity self{getpid(), 0, getpgrp()};
  if (auto st = ReadProcStat(self.pid)) self.start_ticks = st->start_ticks;
  if (std::string e =
          WriteFileAtomic(state_dir + "/" + kRunnerFile, ProcessIdentityToJson(self).dump());
      !e.empty())
    return Fail(e);
  ssize_t ignored = write(ready[1], "1", 1);
  (void)ignored;
  close(ready[1]);

  jobs::ExitInfo info = supervisor.Run();
  if (std::string e = WriteFileAtomic(state_dir + "/" + kResultFile, ExitInfoToJson(info).dump());
      !e.empty())
    return Fail(e);
  return 0;
}

}  // namespace
}  // namespace tandem::compute::runner

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: tandem-job-runner STATE_DIR\n");
    return 2;
  }
  return tandem::compute::runner::RunnerMain(argv[1]);
}
