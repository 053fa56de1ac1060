// Checkpoints, SageMaker's way (CheckpointConfig): a job whose spec has
// `checkpoint: {key_prefix}` gets the objects under `<key_prefix>/` restored
// into its /opt/ml/checkpoints before its code starts, and every file it
// writes there uploaded to `<key_prefix>/<relative path>` while it runs (a
// poll of sizes and mtimes every compute.checkpoint_sync_seconds) and once
// more when it ends, whatever the outcome (completed, failed, stopped, lost).
// A file deleted locally stays in the store (as with SageMaker's S3 sync).
//
// The sync runs in the control plane (the job service's loop hands it to a
// worker), not in the per-job runner: the runner is deliberately free of
// absl and of the object store (cold start), and the control plane already
// reads the attempt's tree on the host to finalize it (model.tar.gz,
// output/data); on Slurm the tree is on the shared job directory either way.
//
// Path safety: the tree is the job's, so it is walked with openat and
// O_NOFOLLOW from the checkpoint directory itself: a symlink (the directory
// itself, a subdirectory or a file) is never followed, FIFOs and devices are
// skipped, and names that are not valid object keys are skipped. Bounded:
// at most `max_files` files and `max_bytes` bytes per checkpoint (beyond
// that files are skipped with a warning), `max_depth` directory levels. A
// restore over the limits is refused (the job fails before its code runs).
//
// Thread-safety: CheckpointSync is thread-safe (one sync at a time).
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "absl/synchronization/mutex.h"
#include "common/status.h"
#include "glue/store/object_store.h"

namespace tandem::compute::jobs {

struct CheckpointLimits {
  int64_t max_bytes = int64_t{10} << 30;  // 10 GiB per checkpoint prefix
  int64_t max_files = 10'000;
  int max_depth = 32;
};

struct CheckpointStats {
  int64_t files = 0;    // restored or uploaded
  int64_t bytes = 0;    // of those files
  int64_t skipped = 0;  // over the limits, symlinks, special files, bad names
};

class CheckpointSync {
 public:
  // `prefix`: the spec's checkpoint.key_prefix (no trailing '/'); `dir`: the
  // attempt's checkpoint directory on the host. Not owned: `store`.
  CheckpointSync(store::ObjectStore& store, std::string prefix, std::string dir,
                 CheckpointLimits limits = {});

  // Writes every object under `<prefix>/` into `dir` (which must exist and
  // be empty: the job's code has not started). FailedPrecondition naming the
  // limit if the checkpoint is larger than the limits (nothing is written);
  // store errors as they are. Restored files are not uploaded back unless
  // they change.
  StatusOr<CheckpointStats> Restore();

  // Uploads the files that are new or changed (size, mtime or inode) since
  // they were last uploaded or restored. After `final` (the job has ended),
  // later calls do nothing. Errors are the store's; the job's own mistakes
  // (symlinks, too many files) are skipped and counted.
  StatusOr<CheckpointStats> Sync(bool final = false);

  const std::string& prefix() const { return prefix_; }
  // A sync is queued or running (set by the caller that queues one).
  bool TryMarkBusy();
  void ClearBusy();

 private:
  struct FileState {
    int64_t size = 0;
    int64_t mtime_ns = 0;
    uint64_t inode = 0;
    bool operator==(const FileState&) const = default;
  };
  Status Walk(int dirfd, const std::string& rel, int depth, CheckpointStats& totals,
              CheckpointStats& uploaded) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Status UploadFile(int dirfd, const std::string& name, const std::string& rel, const FileState& st)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  store::ObjectStore& store_;
  const std::string prefix_, dir_;
  const CheckpointLimits limits_;
  absl::Mutex mu_;
  std::map<std::string, FileState> synced_ ABSL_GUARDED_BY(mu_);  // relative path -> state
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  bool busy_ ABSL_GUARDED_BY(mu_) = false;
  int64_t last_skipped_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace tandem::compute::jobs
