#include "common/subprocess.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

namespace tandem::subprocess {

StatusOr<pid_t> Spawn(const SpawnOptions& options) {
  SpawnFailure failure;
  pid_t pid = SpawnProcess(options, &failure);
  if (pid > 0) return pid;
  switch (failure.stage) {
    case SpawnStage::kArguments:
      return InvalidArgumentError(failure.message);
    case SpawnStage::kChdir:
      return FailedPreconditionError(failure.message);
    case SpawnStage::kRedirect:
    case SpawnStage::kExec:
      if (failure.error == ENOENT || failure.error == ENOTDIR) {
        return NotFoundError(failure.message);
      }
      if (failure.error == EACCES || failure.error == EPERM) {
        return PermissionDeniedError(failure.message);
      }
      return InternalError(failure.message);
    case SpawnStage::kFork:
    case SpawnStage::kNone:
      break;
  }
  return InternalError(failure.message);
}

std::string ExitStatus::ToString() const {
  if (signal != 0) return "signal " + std::to_string(signal) + " (" + strsignal(signal) + ")";
  return "exit " + std::to_string(exit_code);
}

StatusOr<ExitStatus> Wait(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) {
      return InternalError("waitpid(" + std::to_string(pid) + "): " + std::strerror(errno));
    }
  }
  ExitStatus out;
  if (WIFEXITED(status)) out.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) out.signal = WTERMSIG(status);
  return out;
}

StatusOr<RunResult> Run(SpawnOptions spawn, const RunOptions& options) {
  int out_pipe[2], err_pipe[2] = {-1, -1};
  if (pipe2(out_pipe, O_CLOEXEC) != 0)
    return InternalError("pipe: " + std::string(strerror(errno)));
  if (!options.merge_stderr && pipe2(err_pipe, O_CLOEXEC) != 0) {
    close(out_pipe[0]);
    close(out_pipe[1]);
    return InternalError("pipe: " + std::string(strerror(errno)));
  }
  spawn.out = Redirect::Fd(out_pipe[1]);
  spawn.err = Redirect::Fd(options.merge_stderr ? out_pipe[1] : err_pipe[1]);
  StatusOr<pid_t> spawned = Spawn(spawn);
  close(out_pipe[1]);
  if (err_pipe[1] >= 0) close(err_pipe[1]);
  if (!spawned.ok()) {
    close(out_pipe[0]);
    if (err_pipe[0] >= 0) close(err_pipe[0]);
    return spawned.status();
  }
  const pid_t pid = *spawned;
  RunResult result;
  Clock& clock = options.clock != nullptr ? *options.clock : Clock::Real();
  const Deadline deadline = Deadline::InMillis(clock, options.timeout_ms);
  bool timed_out = false;
  pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  std::string* sinks[2] = {&result.out, &result.err};
  int open_fds = err_pipe[0] >= 0 ? 2 : 1;
  char buf[8192];
  while (open_fds > 0) {
    if (options.timeout_ms > 0 && deadline.Expired()) {
      timed_out = true;
      kill(pid, SIGKILL);
      break;
    }
    int n = poll(fds, 2, options.timeout_ms > 0 ? deadline.SliceMillis(1000) : 1000);
    if (n < 0 && errno != EINTR) break;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
      ssize_t r = read(fds[i].fd, buf, sizeof(buf));
      if (r > 0) {
        if (sinks[i]->size() < options.max_output_bytes) {
          sinks[i]->append(buf, static_cast<size_t>(r));
        }
      } else if (r == 0 || (errno != EINTR && errno != EAGAIN)) {
        close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      }
    }
  }
  for (auto& f : fds) {
    if (f.fd >= 0) close(f.fd);
  }
  ASSIGN_OR_RETURN(result.exit, Wait(pid));
  if (timed_out) {
    return DeadlineExceededError(spawn.argv[0] + " did not finish within " +
                                 std::to_string(options.timeout_ms) + " ms");
  }
  return result;
}

}  // namespace tandem::subprocess
