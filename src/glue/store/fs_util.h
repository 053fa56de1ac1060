// Small POSIX file helpers shared by the file:// backend, the archive code and
// the generic GetBlobToFile. Internal to tandem_store.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>

#include "common/status.h"

namespace tandem::store {

// Owns a file descriptor; closes it on destruction.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  ~UniqueFd() { reset(); }
  UniqueFd(UniqueFd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& o) noexcept {
    if (this != &o) {
      reset();
      fd_ = std::exchange(o.fd_, -1);
    }
    return *this;
  }
  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  void reset();
  // Closes and reports close() errors (use after writing).
  Status Close(std::string_view what);

 private:
  int fd_ = -1;
};

// A Status for a failed system call: ENOENT -> NotFound, EACCES/EPERM ->
// PermissionDenied, ENOSPC/EDQUOT/EFBIG -> InsufficientStorageError (507 at
// the REST edge), others -> Internal.
Status ErrnoStatus(int err, std::string_view op, std::string_view path);

// write() all of `data`, retrying on EINTR and short writes.
Status WriteAll(int fd, const char* data, size_t n, std::string_view path);
// read() up to n bytes, retrying on EINTR.
StatusOr<size_t> ReadSome(int fd, char* data, size_t n, std::string_view path);

// Opens the regular file `path` for one sequential read (PutBlobFromFile):
// the errno's status for open/fstat, InvalidArgument when it is not a
// regular file.
StatusOr<UniqueFd> OpenRegularFileForReading(const std::string& path);

// fsync of a directory (so a rename inside it is durable).
Status FsyncDir(const std::string& dir);

// A unique file name component for temp files: ".tmp-<ulid>-<pid>".
std::string TempName();

// Directory part of a path ("." if none) and last component.
std::string DirName(const std::string& path);
std::string BaseName(const std::string& path);

}  // namespace tandem::store
