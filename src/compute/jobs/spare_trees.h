// Empty /opt/ml skeletons (CreateJobTree's directories, no channels) made
// ahead of launches, so that a launch moves one into place with one rename
// instead of a dozen mkdirs on its critical path (on a busy disk each mkdir
// costs a block and inode allocation). A worker refills them after each take.
//
// They live in a directory of their own, `<parent>/<pid>-<n>`, under a
// directory of the control plane's home (`parent`): several job services may
// share one home (racing control planes, tests), so each only ever touches
// its own. Open removes what dead processes of this host left there (a
// skeleton is only ever empty directories); the destructor removes its own.
//
// Thread-safety: all methods are thread-safe; Refill may run on several
// threads at once (each makes what is missing at its start).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "common/status.h"

namespace tandem::compute::jobs {

class SpareTrees {
 public:
  // Creates this instance's directory under `parent` (created if missing)
  // after removing those of processes that are gone; keeps up to `target`
  // skeletons there (0: none, TakeInto always answers false).
  static StatusOr<std::unique_ptr<SpareTrees>> Open(const std::string& parent, size_t target);
  ~SpareTrees();

  // This instance's directory.
  const std::string& dir() const { return dir_; }

  // Renames a ready skeleton to `ml_dir` (its parent must exist, it must not
  // exist or be an empty directory). False when none is ready or the rename
  // failed (the caller creates the tree itself); the skeleton is kept then.
  bool TakeInto(const std::string& ml_dir);

  // Creates skeletons until `target` are ready or being made; false on the
  // first one it could not create (logged).
  bool Refill();

  size_t ready() const;

 private:
  SpareTrees(std::string dir, size_t target) : dir_(std::move(dir)), target_(target) {}

  const std::string dir_;
  const size_t target_;
  mutable absl::Mutex mu_;
  std::vector<std::string> ready_ ABSL_GUARDED_BY(mu_);
  size_t making_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t next_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace tandem::compute::jobs
