#include "compute/substrates/runner/launch.h"

#include <sys/wait.h>

#include <cerrno>

#include "common/subprocess_core.h"
#include "compute/substrates/runner/protocol.h"

namespace tandem::compute::runner {

std::string StartRunner(const std::string& runner_path, const std::string& state_dir,
                        bool new_session) {
  const std::string log = state_dir + "/" + kRunnerLogFile;
  subprocess::SpawnOptions options;
  options.argv = {runner_path, state_dir};
  options.env = std::vector<std::string>{};
  options.err = subprocess::Redirect::File(log);
  options.new_session = new_session;
  subprocess::SpawnFailure failure;
  pid_t pid = subprocess::SpawnProcess(options, &failure);
  if (pid < 0) return failure.message;
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return "";
  return "tandem-job-runner failed to start the job: " + RunnerLogTail(state_dir);
}

std::string RunnerLogTail(const std::string& state_dir) {
  std::string diag = ReadFile(state_dir + "/" + kRunnerLogFile).value_or("");
  if (diag.size() > 2000) diag = diag.substr(diag.size() - 2000);
  while (!diag.empty() && (diag.back() == '\n' || diag.back() == ' ')) diag.pop_back();
  return diag.empty() ? "no diagnostics" : diag;
}

}  // namespace tandem::compute::runner
