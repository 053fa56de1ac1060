#include "compute/jobs/spare_trees.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <memory>

#include "common/log.h"
#include "common/spread_directory.h"
#include "compute/jobs/contract.h"

namespace tandem::compute::jobs {

namespace fs = std::filesystem;

namespace {

// Whether `name` (an entry of the parent directory) belongs to a process of
// this host that no longer runs: "<pid>-<n>" with no such pid, or a name of
// another shape (the layout before per-process directories).
bool LeftByADeadProcess(const std::string& name) {
  const size_t dash = name.find('-');
  if (dash == std::string::npos || dash == 0) return true;
  pid_t pid = 0;
  for (size_t i = 0; i < dash; ++i) {
    if (name[i] < '0' || name[i] > '9' || pid > 100'000'000) return true;
    pid = pid * 10 + (name[i] - '0');
  }
  return pid != ::getpid() && ::kill(pid, 0) != 0 && errno == ESRCH;
}

}  // namespace

StatusOr<std::unique_ptr<SpareTrees>> SpareTrees::Open(const std::string& parent, size_t target) {
  if (parent.empty()) return InvalidArgumentError("spare trees need a directory");
  static std::atomic<uint64_t> instances{0};
  std::error_code ec;
  fs::create_directories(parent, ec);
  if (ec) return InternalError("cannot create " + parent + ": " + ec.message());
  for (const auto& entry : fs::directory_iterator(parent, ec)) {
    if (!LeftByADeadProcess(entry.path().filename().string())) continue;
    std::error_code rm;  // best effort: another process may be removing it too
    fs::remove_all(entry.path(), rm);
  }
  std::string dir = parent + "/" + std::to_string(::getpid()) + "-" + std::to_string(instances++);
  fs::remove_all(dir, ec);  // a dead process's with a reused pid
  fs::create_directories(dir, ec);
  if (ec) return InternalError("cannot create " + dir + ": " + ec.message());
  SpreadSubdirectories(dir);  // one per skeleton
  return std::unique_ptr<SpareTrees>(new SpareTrees(std::move(dir), target));
}

SpareTrees::~SpareTrees() {
  std::error_code ec;
  fs::remove_all(dir_, ec);
}

bool SpareTrees::TakeInto(const std::string& ml_dir) {
  std::string spare;
  {
    absl::MutexLock lock(&mu_);
    if (ready_.empty()) return false;
    spare = std::move(ready_.back());
    ready_.pop_back();
  }
  if (std::rename(spare.c_str(), ml_dir.c_str()) == 0) return true;
  absl::MutexLock lock(&mu_);
  ready_.push_back(std::move(spare));
  return false;
}

bool SpareTrees::Refill() {
  while (true) {
    std::string path;
    {
      absl::MutexLock lock(&mu_);
      if (ready_.size() + making_ >= target_) return true;
      ++making_;
      path = dir_ + "/" + std::to_string(next_++);
    }
    Status made = CreateJobTree(path, {});
    absl::MutexLock lock(&mu_);
    --making_;
    if (!made.ok()) {
      LogWarn("cannot prepare a spare job tree", {{"error", std::string(made.message())}});
      return false;
    }
    ready_.push_back(std::move(path));
  }
}

size_t SpareTrees::ready() const {
  absl::MutexLock lock(&mu_);
  return ready_.size();
}

}  // namespace tandem::compute::jobs
