#include "compute/substrates/runner/attempt.h"

#include <signal.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "compute/substrates/runner/proc_stats.h"
#include "compute/substrates/runner/protocol.h"
#include "compute/substrates/runner/supervisor.h"

namespace tandem::compute::runner {
namespace {

int Fail(const std::string& message) {
  std::fprintf(stderr, "tandem-job-runner: %s\n", message.c_str());
  return 2;
}

}  // namespace

int SetUpRunnerSignals(std::string* error) {
  signal(SIGPIPE, SIG_IGN);
  signal(SIGHUP, SIG_IGN);
  sigset_t mask;
  sigemptyset(&mask);
  for (int s : {SIGCHLD, SIGTERM, SIGINT}) sigaddset(&mask, s);
  sigprocmask(SIG_BLOCK, &mask, nullptr);
  if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) {
    *error = "PR_SET_CHILD_SUBREAPER: " + std::string(strerror(errno));
    return -1;
  }
  int sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
  if (sfd < 0) *error = "signalfd: " + std::string(strerror(errno));
  return sfd;
}

int RunAttempt(const std::string& state_dir, int ready_fd) {
  Json json;
  RunnerRequest request;
  if (std::string e = ReadJsonFile(state_dir + "/" + kRequestFile, &json); !e.empty()) {
    return Fail(e);
  }
  if (std::string e = RunnerRequestFromJson(json, &request); !e.empty()) return Fail(e);
  // Secret values: read once and deleted before anything else happens, so
  // they stay on disk only between the substrate's launch and this line.
  if (std::string e = TakeSecretsFile(state_dir, &request.launch); !e.empty()) return Fail(e);
  std::string error;
  int sfd = SetUpRunnerSignals(&error);
  if (sfd < 0) return Fail(error);
  return SuperviseAttempt(std::move(request), state_dir, sfd, ready_fd, nullptr);
}

int SuperviseAttempt(RunnerRequest request, const std::string& state_dir, int signal_fd,
                     int ready_fd, const StartedSandbox* sandbox) {
  // In a warm sandbox: 'F' says the runner took the attempt (so a failure
  // is not retried elsewhere: its secrets are gone).
  auto fail = [&](const std::string& e) {
    if (sandbox != nullptr) {
      ssize_t ignored = write(ready_fd, "F", 1);
      (void)ignored;
    }
    return Fail(e);
  };
  Supervisor supervisor(std::move(request), state_dir, signal_fd);
  if (sandbox != nullptr) supervisor.UseStartedSandbox(*sandbox);
  if (std::string e = supervisor.Prepare(); !e.empty()) return fail(e);
  // A warm sandbox's job starts before "ready": telling the control plane
  // first would wake it, and on a busy machine it would run before the job.
  if (sandbox != nullptr) supervisor.StartJob();
  ProcessIdentity self{getpid(), 0, getpgrp()};
  if (auto st = ReadProcStat(self.pid)) self.start_ticks = st->start_ticks;
  if (std::string e =
          WriteFileAtomic(state_dir + "/" + kRunnerFile, ProcessIdentityToJson(self).dump());
      !e.empty())
    return fail(e);
  ssize_t ignored = sandbox != nullptr ? write(ready_fd, "F1", 2) : write(ready_fd, "1", 1);
  (void)ignored;
  close(ready_fd);

  jobs::ExitInfo info = supervisor.Run();
  if (std::string e = WriteFileAtomic(state_dir + "/" + kResultFile, ExitInfoToJson(info).dump());
      !e.empty())
    return Fail(e);
  return 0;
}

}  // namespace tandem::compute::runner
