#include "compute/jobs/spare_trees.h"

#include <cstdio>
#include <filesystem>
#include <memory>

#include "common/log.h"
#include "compute/jobs/contract.h"

namespace tandem::compute::jobs {

namespace fs = std::filesystem;

StatusOr<std::unique_ptr<SpareTrees>> SpareTrees::Open(std::string dir, size_t target) {
  if (dir.empty()) return InvalidArgumentError("spare trees need a directory");
  std::error_code ec;
  fs::remove_all(dir, ec);
  if (ec) return InternalError("cannot empty " + dir + ": " + ec.message());
  fs::create_directories(dir, ec);
  if (ec) return InternalError("cannot create " + dir + ": " + ec.message());
  return std::unique_ptr<SpareTrees>(new SpareTrees(std::move(dir), target));
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
