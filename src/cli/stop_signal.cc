#include "cli/stop_signal.h"

#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <string>

#include "common/log.h"

namespace tandem::cli {
namespace {

// The one process-wide state of the CLI: written by the signal handler.
int g_signal_pipe[2] = {-1, -1};

void OnStopSignal(int sig) {
  char c = static_cast<char>(sig);
  ssize_t n = write(g_signal_pipe[1], &c, 1);
  (void)n;
}

}  // namespace

bool InstallStopHandlers() {
  if (pipe(g_signal_pipe) != 0) return false;
  struct sigaction sa {};
  sa.sa_handler = OnStopSignal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGHUP, &sa, nullptr);
  std::signal(SIGPIPE, SIG_IGN);
  return true;
}

int WaitForStopSignal(const std::function<void()>& on_hangup) {
  char c = 0;
  while (true) {
    ssize_t n = read(g_signal_pipe[0], &c, 1);
    if (n == 1 && c == SIGHUP) {
      if (on_hangup) on_hangup();
      continue;
    }
    if (n == 1) return static_cast<unsigned char>(c);
    if (n < 0 && errno == EINTR) continue;
    return SIGTERM;  // the pipe broke: stop anyway
  }
}

void LogHangupReload(const Status& reload) {
  if (reload.ok()) {
    LogInfo("SIGHUP: TLS certificate reloaded");
  } else if (reload.code() == StatusCode::kFailedPrecondition) {
    LogInfo("SIGHUP: no TLS certificate to reload", {{"reason", std::string(reload.message())}});
  } else {
    LogError("SIGHUP: TLS certificate not reloaded; still serving the previous one",
             {{"error", std::string(reload.message())}});
  }
}

}  // namespace tandem::cli
