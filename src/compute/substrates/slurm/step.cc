// The supervision loop of tandem-slurm-step and tandem-slurm-node (step.h).
#include "compute/substrates/slurm/step.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "compute/substrates/runner/launch.h"
#include "compute/substrates/runner/protocol.h"
#include "compute/substrates/runner/supervisor.h"

namespace tandem::compute::slurm {
namespace {

constexpr char kStopFile[] = "stop";
constexpr int kLingerSeconds = 60;

int Fail(const std::string& message) {
  std::fprintf(stderr, "tandem-slurm-step: %s\n", message.c_str());
  return 2;
}

void ForwardStop(const std::string& state_dir) {
  Json j;
  if (!runner::ReadJsonFile(state_dir + "/" + runner::kRunnerFile, &j).empty()) return;
  runner::ProcessIdentity runner;
  if (!runner::ProcessIdentityFromJson(j, &runner).empty() || runner.pid <= 0) return;
  sigval value{};
  value.sival_int = -1;  // the runner's own grace
  if (auto text = runner::ReadFile(state_dir + "/" + kStopFile)) {
    Json stop = Json::parse(*text, nullptr, false);
    if (stop.is_object() && stop.contains("grace_seconds") &&
        stop["grace_seconds"].is_number_integer()) {
      value.sival_int = static_cast<int>(
          std::min<int64_t>(stop["grace_seconds"].get<int64_t>(), int64_t{1} << 30));
    }
  }
  sigqueue(runner.pid, SIGTERM, value);
}

}  // namespace

void BlockStepSignals() {
  sigset_t mask;
  sigemptyset(&mask);
  for (int s : {SIGCHLD, SIGTERM, SIGINT}) sigaddset(&mask, s);
  sigprocmask(SIG_BLOCK, &mask, nullptr);
}

int RunStep(const std::string& runner, const std::string& state_dir,
            const std::function<void()>& after_job) {
  if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) {
    return Fail("PR_SET_CHILD_SUBREAPER: " + std::string(strerror(errno)));
  }
  BlockStepSignals();
  sigset_t mask;
  sigemptyset(&mask);
  for (int s : {SIGCHLD, SIGTERM, SIGINT}) sigaddset(&mask, s);
  int sfd = signalfd(-1, &mask, SFD_CLOEXEC);
  if (sfd < 0) return Fail("signalfd: " + std::string(strerror(errno)));

  if (std::string e = runner::StartRunner(runner, state_dir, /*new_session=*/false); !e.empty()) {
    return Fail(e);
  }
  // The runner's detached half is now our child (we are its subreaper).
  bool stop_pending = false;
  bool stopped = false;
  int status = 0;
  while (true) {
    // Reap whatever has ended; done when nothing is left.
    bool any_left = true;
    while (true) {
      pid_t p = waitpid(-1, &status, WNOHANG);
      if (p > 0) continue;
      if (p < 0 && errno == EINTR) continue;
      if (p < 0 && errno == ECHILD) any_left = false;
      break;
    }
    if (!any_left) break;
    if (stop_pending) {
      ForwardStop(state_dir);
      stop_pending = false;
    }
    signalfd_siginfo si;
    ssize_t n = read(sfd, &si, sizeof(si));
    if (n != static_cast<ssize_t>(sizeof(si))) continue;
    if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) stop_pending = stopped = true;
  }
  if (after_job) after_job();
  if (stopped) {  // wait for the substrate's scancel (SIGTERM, then Slurm's SIGKILL)
    pollfd pfd = {sfd, POLLIN, 0};
    for (int64_t deadline = runner::MonotonicMicros() + kLingerSeconds * 1'000'000LL;;) {
      int64_t left_ms = (deadline - runner::MonotonicMicros()) / 1000;
      if (left_ms <= 0 || poll(&pfd, 1, static_cast<int>(left_ms)) <= 0) break;
      signalfd_siginfo si;
      if (read(sfd, &si, sizeof(si)) == static_cast<ssize_t>(sizeof(si)) &&
          (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT)) {
        break;
      }
    }
  }
  Json result;
  if (!runner::ReadJsonFile(state_dir + "/" + runner::kResultFile, &result).empty()) return 1;
  jobs::ExitInfo info;
  if (!runner::ExitInfoFromJson(result, &info).empty()) return 1;
  if (info.kind == jobs::ExitKind::kExited) return info.exit_code & 0xff;
  return info.exit_code != 0 ? (info.exit_code & 0xff) : 1;
}

}  // namespace tandem::compute::slurm

