#include "compute/jobs/checkpoints.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <utility>
#include <vector>

#include "common/log.h"

namespace tandem::compute::jobs {
namespace {

namespace fs = std::filesystem;

// A file descriptor closed on destruction.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }

 private:
  int fd_;
};

Status Errno(const std::string& what) { return InternalError(what + ": " + std::strerror(errno)); }

int64_t MtimeNs(const struct stat& st) {
  return static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
}

}  // namespace

CheckpointSync::CheckpointSync(store::ObjectStore& store, std::string prefix, std::string dir,
                               CheckpointLimits limits)
    : store_(store), prefix_(std::move(prefix)), dir_(std::move(dir)), limits_(limits) {}

bool CheckpointSync::TryMarkBusy() {
  absl::MutexLock lock(&mu_);
  if (busy_ || closed_) return false;
  busy_ = true;
  return true;
}

void CheckpointSync::ClearBusy() {
  absl::MutexLock lock(&mu_);
  busy_ = false;
}

StatusOr<CheckpointStats> CheckpointSync::Restore() {
  absl::MutexLock lock(&mu_);
  const std::string list_prefix = prefix_ + "/";
  std::vector<store::ObjectInfo> objects;
  int64_t bytes = 0;
  std::string token;
  do {
    ASSIGN_OR_RETURN(store::ListResult page, store_.List(list_prefix, token));
    for (auto& o : page.objects) {
      bytes += static_cast<int64_t>(o.size);
      objects.push_back(std::move(o));
    }
    if (static_cast<int64_t>(objects.size()) > limits_.max_files) {
      return FailedPreconditionError("checkpoint '" + list_prefix + "' has more than " +
                                     std::to_string(limits_.max_files) + " files");
    }
    if (bytes > limits_.max_bytes) {
      return FailedPreconditionError("checkpoint '" + list_prefix + "' is larger than " +
                                     std::to_string(limits_.max_bytes) + " bytes");
    }
    token = page.next_page_token;
  } while (!token.empty());
  CheckpointStats stats;
  for (const auto& o : objects) {
    // Keys are valid object keys (no '..', '.', empty or absolute segments),
    // so the relative path stays inside `dir_`; the directory is fresh (the
    // job has not run), so nothing in it is a symlink yet.
    const std::string rel = o.key.substr(list_prefix.size());
    const int depth = static_cast<int>(std::count(rel.begin(), rel.end(), '/'));
    const fs::path dest = fs::path(dir_) / rel;
    std::error_code ec;
    if (depth >= limits_.max_depth) {
      ++stats.skipped;
      continue;
    }
    fs::create_directories(dest.parent_path(), ec);
    if (ec || fs::exists(dest, ec)) {
      // "a" and "a/b" both stored: a file where a directory must go.
      LogWarn("checkpoint object skipped: its path conflicts with another", {{"key", o.key}});
      ++stats.skipped;
      continue;
    }
    RETURN_IF_ERROR(store_.GetToFile(o.key, dest.string()));
    struct stat st {};
    if (::lstat(dest.c_str(), &st) != 0) return Errno("stat " + dest.string());
    synced_[rel] = FileState{st.st_size, MtimeNs(st), st.st_ino};
    ++stats.files;
    stats.bytes += st.st_size;
  }
  return stats;
}

StatusOr<CheckpointStats> CheckpointSync::Sync(bool final) {
  absl::MutexLock lock(&mu_);
  if (closed_) return CheckpointStats{};
  if (final) closed_ = true;
  // O_NOFOLLOW: the job may have replaced its checkpoint directory by a
  // symlink to somewhere on the host; that is not followed.
  Fd root(::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!root.valid()) {
    if (errno == ENOENT) return CheckpointStats{};
    LogWarn("checkpoint directory not synced", {{"dir", dir_}, {"error", std::strerror(errno)}});
    return CheckpointStats{0, 0, 1};
  }
  CheckpointStats totals, uploaded;
  RETURN_IF_ERROR(Walk(root.get(), "", 0, totals, uploaded));
  uploaded.skipped = totals.skipped;
  if (totals.skipped > 0 && totals.skipped != last_skipped_) {  // once per change
    LogWarn("checkpoint files skipped (symlinks, special files, bad names or over the limits)",
            {{"dir", dir_}, {"skipped", std::to_string(totals.skipped)}});
  }
  last_skipped_ = totals.skipped;
  return uploaded;
}

Status CheckpointSync::Walk(int dirfd, const std::string& rel, int depth, CheckpointStats& totals,
                            CheckpointStats& uploaded) {
  int dup = ::fcntl(dirfd, F_DUPFD_CLOEXEC, 0);
  if (dup < 0) return Errno("dup");
  DIR* d = ::fdopendir(dup);
  if (d == nullptr) {
    ::close(dup);
    return Errno("opendir " + dir_ + "/" + rel);
  }
  std::vector<std::string> names;
  while (struct dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name != "." && name != "..") names.push_back(std::move(name));
  }
  ::closedir(d);
  std::sort(names.begin(), names.end());
  for (const std::string& name : names) {
    const std::string path = rel.empty() ? name : rel + "/" + name;
    struct stat st {};
    if (::fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) continue;  // gone
    if (S_ISDIR(st.st_mode)) {
      if (depth + 1 >= limits_.max_depth) {
        ++totals.skipped;
        continue;
      }
      Fd sub(::openat(dirfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (!sub.valid()) {
        ++totals.skipped;  // replaced by a symlink meanwhile, or unreadable
        continue;
      }
      RETURN_IF_ERROR(Walk(sub.get(), path, depth + 1, totals, uploaded));
      continue;
    }
    if (!S_ISREG(st.st_mode)) {  // symlinks, FIFOs, sockets, devices
      ++totals.skipped;
      continue;
    }
    const std::string key = prefix_ + "/" + path;
    if (!store::ValidateKey(key).ok() || totals.files + 1 > limits_.max_files ||
        totals.bytes + st.st_size > limits_.max_bytes) {
      ++totals.skipped;
      continue;
    }
    ++totals.files;
    totals.bytes += st.st_size;
    FileState now{st.st_size, MtimeNs(st), st.st_ino};
    auto it = synced_.find(path);
    if (it != synced_.end() && it->second == now) continue;
    Status s = UploadFile(dirfd, name, path, now);
    if (s.code() == StatusCode::kInvalidArgument) {  // replaced by a non-file meanwhile
      ++totals.skipped;
      continue;
    }
    RETURN_IF_ERROR(s);
    ++uploaded.files;
    uploaded.bytes += now.size;
  }
  return OkStatus();
}

Status CheckpointSync::UploadFile(int dirfd, const std::string& name, const std::string& rel,
                                  const FileState& seen) {
  // O_NONBLOCK: a FIFO swapped in after the stat must not block the open.
  Fd fd(::openat(dirfd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
  if (!fd.valid()) return InvalidArgumentError("cannot open " + rel);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) {
    return InvalidArgumentError(rel + " is not a regular file");
  }
  // Read at most the size seen (the job may still be appending: the next
  // sync sees the new size and uploads it again).
  int64_t left = std::min<int64_t>(st.st_size, seen.size);
  store::ReadFn reader = [&](char* buf, size_t n) -> StatusOr<size_t> {
    if (left <= 0) return size_t{0};
    size_t want = std::min<size_t>(n, static_cast<size_t>(left));
    ssize_t got;
    do {
      got = ::read(fd.get(), buf, want);
    } while (got < 0 && errno == EINTR);
    if (got < 0) return Errno("read " + rel);
    left -= got;
    if (got == 0) left = 0;
    return static_cast<size_t>(got);
  };
  RETURN_IF_ERROR(store_.Put(prefix_ + "/" + rel, reader).status());
  synced_[rel] = seen;
  return OkStatus();
}

}  // namespace tandem::compute::jobs
