#include "compute/jobs/substrate.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "common/helper_programs.h"
#include "common/subprocess_core.h"

namespace tandem::compute::jobs {
namespace {

bool IsDir(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

}  // namespace

bool ValidJobId(std::string_view id) {
  if (id.empty() || id.size() > 128 || id[0] == '.') return false;
  for (char c : id) {
    bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    if (!alnum && c != '-' && c != '_' && c != '.') return false;
  }
  return true;
}

StatusOr<std::string> ResolveBwrap(bool enabled, bool required, const std::string& configured) {
  if (!enabled) return std::string();
  std::string bwrap;
  if (!configured.empty()) {
    if (subprocess::IsExecutableFile(configured)) bwrap = configured;
  } else {
    const char* path = std::getenv("PATH");
    bwrap =
        subprocess::FindOnPath("bwrap", path ? path : "/usr/local/bin:/usr/bin:/bin").value_or("");
  }
  if (bwrap.empty() && required) {
    return NotFoundError(
        "sandbox requested but bubblewrap (bwrap) was not found" +
        (configured.empty() ? std::string(" in $PATH") : " at \"" + configured + "\""));
  }
  return bwrap;
}

Status ResolveRunner(std::string& runner_path) {
  if (runner_path.empty()) {
    ASSIGN_OR_RETURN(runner_path, FindHelperProgram("tandem-job-runner"));
  }
  if (!subprocess::IsExecutableFile(runner_path)) {
    return NotFoundError("tandem-job-runner not found or not executable at \"" + runner_path +
                         "\"");
  }
  return OkStatus();
}

Status CheckSubstrateLimits(int64_t log_limit_bytes, int64_t grace_seconds, double capacity_cpus) {
  if (log_limit_bytes <= 0) return InvalidArgumentError("log_limit_bytes must be positive");
  if (grace_seconds < 0) return InvalidArgumentError("grace_seconds must be >= 0");
  if (capacity_cpus < 0) return InvalidArgumentError("capacity_cpus must be >= 0");
  return OkStatus();
}

namespace {
std::string StateRoot(const std::string& job_dir, const std::string& state_root,
                      std::string_view default_leaf) {
  return state_root.empty()
             ? (std::filesystem::path(job_dir).parent_path() / std::string(default_leaf)).string()
             : state_root;
}
}  // namespace

std::string AttemptStateDirPath(const std::string& job_id, int attempt, const std::string& job_dir,
                                const std::string& state_root, std::string_view default_leaf) {
  return StateRoot(job_dir, state_root, default_leaf) + "/" + job_id + "-" +
         std::to_string(attempt);
}

StatusOr<std::string> AttemptStateDir(const LaunchRequest& r, const std::string& state_root,
                                      std::string_view default_leaf) {
  std::string root = StateRoot(r.job_dir, state_root, default_leaf);
  std::error_code ec;
  std::filesystem::create_directories(root, ec);
  if (ec) return InternalError("cannot create state root " + root + ": " + ec.message());
  return AttemptStateDirPath(r.job_id, r.attempt, r.job_dir, state_root, default_leaf);
}

Status CreateAttemptDir(const LaunchRequest& r, const std::string& dir) {
  if (mkdir(dir.c_str(), 0755) == 0) return OkStatus();
  if (errno == EEXIST) {
    return AlreadyExistsError("job " + r.job_id + " attempt " + std::to_string(r.attempt) +
                              " was already submitted (" + dir + ")");
  }
  return InternalError("mkdir " + dir + ": " + std::strerror(errno));
}

Status ValidateLaunchRequest(const LaunchRequest& r) {
  if (!ValidJobId(r.job_id)) {
    return InvalidArgumentError("job_id \"" + r.job_id +
                                "\" must be 1-128 characters of [A-Za-z0-9._-], not starting "
                                "with '.'");
  }
  if (r.attempt < 1) return InvalidArgumentError("attempt must be >= 1");
  if (r.argv.empty() || r.argv[0].empty()) return InvalidArgumentError("argv is empty");
  if (r.job_dir.empty() || r.job_dir[0] != '/') {
    return InvalidArgumentError("job_dir \"" + r.job_dir + "\" must be an absolute path");
  }
  if (!IsDir(r.job_dir)) return NotFoundError("job_dir \"" + r.job_dir + "\" is not a directory");
  if (r.log_path.empty() || r.log_path[0] != '/') {
    return InvalidArgumentError("log_path \"" + r.log_path + "\" must be an absolute path");
  }
  if (!IsDir(std::filesystem::path(r.log_path).parent_path().string())) {
    return NotFoundError("the directory of log_path \"" + r.log_path + "\" does not exist");
  }
  if (r.max_runtime_seconds <= 0) {
    return InvalidArgumentError("max_runtime_seconds must be positive");
  }
  if (r.resources.memory_mb < 0) return InvalidArgumentError("resources.memory_mb must be >= 0");
  if (!r.working_dir.empty() && r.working_dir[0] != '/') {
    return InvalidArgumentError("working_dir \"" + r.working_dir + "\" must be an absolute path");
  }
  return OkStatus();
}

}  // namespace tandem::compute::jobs
