// An flock(2) on a lock file, released on destruction. flock locks belong to
// the open file description, so two FileLocks conflict whether they are in
// one process (two threads) or in two.
// Thread-safety: one FileLock per thread; the lock itself is what is shared.
#pragma once

#include <string>

#include "common/status.h"

namespace tandem::imagefs {

class FileLock {
 public:
  enum class Mode { kShared, kExclusive };
  // Blocks until granted. The file is created if missing.
  static StatusOr<FileLock> Acquire(const std::string& path, Mode mode);
  // Without blocking: nullopt-like empty lock (held() false) when taken.
  // NotFound when the file does not exist (it is not created).
  static StatusOr<FileLock> TryAcquireExisting(const std::string& path, Mode mode);

  FileLock() = default;
  FileLock(FileLock&& o) noexcept;
  FileLock& operator=(FileLock&& o) noexcept;
  FileLock(const FileLock&) = delete;
  ~FileLock();

  bool held() const { return fd_ >= 0; }
  // Gives up the descriptor (still locked) to the caller.
  int Release();

 private:
  explicit FileLock(int fd) : fd_(fd) {}
  int fd_ = -1;
};

}  // namespace tandem::imagefs
