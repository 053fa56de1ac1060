#include "compute/jobs/substrate.h"

#include <sys/stat.h>

#include <filesystem>

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
