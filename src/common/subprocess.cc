#include "common/subprocess.h"

#include <sys/wait.h>

#include <cerrno>
#include <cstring>

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

}  // namespace tandem::subprocess
