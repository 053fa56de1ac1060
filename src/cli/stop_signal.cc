#include "cli/stop_signal.h"

#include <unistd.h>

#include <cerrno>
#include <csignal>

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
  std::signal(SIGPIPE, SIG_IGN);
  return true;
}

int WaitForStopSignal() {
  char c = 0;
  while (true) {
    ssize_t n = read(g_signal_pipe[0], &c, 1);
    if (n == 1) return static_cast<unsigned char>(c);
    if (n < 0 && errno == EINTR) continue;
    return SIGTERM;  // the pipe broke: stop anyway
  }
}

}  // namespace tandem::cli
