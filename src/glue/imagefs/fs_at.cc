#include "glue/imagefs/fs_at.h"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

namespace tandem::imagefs {

StatusOr<std::vector<std::string>> SplitRelative(std::string_view path, std::string_view what) {
  if (path.starts_with('/')) {
    return InvalidArgumentError("'" + std::string(path) + "' (" + std::string(what) +
                                ") is an absolute path");
  }
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = std::min(path.find('/', start), path.size());
    std::string_view seg = path.substr(start, end - start);
    if (seg == "..") {
      return InvalidArgumentError("'" + std::string(path) + "' (" + std::string(what) +
                                  ") has a '..' component");
    }
    if (!seg.empty() && seg != ".") out.emplace_back(seg);
    start = end + 1;
  }
  return out;
}

StatusOr<UniqueFd> OpenDir(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd.valid()) return store::ErrnoStatus(errno, "open directory", path);
  return fd;
}

StatusOr<UniqueFd> OpenDirAt(int root, const std::vector<std::string>& components, bool create) {
  UniqueFd cur(::fcntl(root, F_DUPFD_CLOEXEC, 0));
  if (!cur.valid()) return store::ErrnoStatus(errno, "dup", "directory");
  std::string walked;
  for (const std::string& c : components) {
    walked += walked.empty() ? c : "/" + c;
    int fd = ::openat(cur.get(), c.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT && create) {
      if (::mkdirat(cur.get(), c.c_str(), 0755) != 0 && errno != EEXIST) {
        return store::ErrnoStatus(errno, "mkdir", walked);
      }
      fd = ::openat(cur.get(), c.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    }
    if (fd < 0) {
      if (errno == ENOTDIR || errno == ELOOP) {
        return FailedPreconditionError("'" + walked + "' is not a directory (a symlink or file)");
      }
      return store::ErrnoStatus(errno, "open directory", walked);
    }
    cur = UniqueFd(fd);
  }
  return cur;
}

StatusOr<bool> LstatAt(int dir, const std::string& name, struct stat* st) {
  if (::fstatat(dir, name.c_str(), st, AT_SYMLINK_NOFOLLOW) == 0) return true;
  if (errno == ENOENT) return false;
  return store::ErrnoStatus(errno, "lstat", name);
}

StatusOr<std::vector<std::string>> ListDir(int dir) {
  int fd = ::openat(dir, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return store::ErrnoStatus(errno, "open directory", ".");
  DIR* d = ::fdopendir(fd);
  if (d == nullptr) {
    ::close(fd);
    return store::ErrnoStatus(errno, "fdopendir", ".");
  }
  std::vector<std::string> names;
  while (dirent* e = ::readdir(d)) {
    std::string_view n = e->d_name;
    if (n != "." && n != "..") names.emplace_back(n);
  }
  ::closedir(d);
  std::sort(names.begin(), names.end());
  return names;
}

Status ClearDir(int dir) {
  ASSIGN_OR_RETURN(std::vector<std::string> names, ListDir(dir));
  for (const std::string& n : names) RETURN_IF_ERROR(RemoveAt(dir, n));
  return OkStatus();
}

Status RemoveAt(int dir, const std::string& name) {
  struct stat st;
  ASSIGN_OR_RETURN(bool exists, LstatAt(dir, name, &st));
  if (!exists) return OkStatus();
  if (S_ISDIR(st.st_mode)) {
    // A directory without u+wx (a layer may ship one) cannot be emptied.
    if ((st.st_mode & 0700) != 0700) ::fchmodat(dir, name.c_str(), st.st_mode | 0700, 0);
    int fd = ::openat(dir, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return store::ErrnoStatus(errno, "open directory", name);
    UniqueFd sub(fd);
    RETURN_IF_ERROR(ClearDir(sub.get()));
    if (::unlinkat(dir, name.c_str(), AT_REMOVEDIR) != 0 && errno != ENOENT) {
      return store::ErrnoStatus(errno, "rmdir", name);
    }
    return OkStatus();
  }
  if (::unlinkat(dir, name.c_str(), 0) != 0 && errno != ENOENT) {
    return store::ErrnoStatus(errno, "unlink", name);
  }
  return OkStatus();
}

Status RemoveTree(const std::string& path) {
  std::string parent = store::DirName(path);
  std::string leaf = store::BaseName(path);
  UniqueFd dir(::open(parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir.valid()) {
    if (errno == ENOENT) return OkStatus();
    return store::ErrnoStatus(errno, "open directory", parent);
  }
  return RemoveAt(dir.get(), leaf);
}

namespace {
Status AddBytes(int dir, uint64_t* total) {
  ASSIGN_OR_RETURN(std::vector<std::string> names, ListDir(dir));
  for (const std::string& n : names) {
    struct stat st;
    ASSIGN_OR_RETURN(bool exists, LstatAt(dir, n, &st));
    if (!exists) continue;
    if (S_ISREG(st.st_mode)) {
      *total += static_cast<uint64_t>(st.st_size);
    } else if (S_ISDIR(st.st_mode)) {
      int fd = ::openat(dir, n.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (fd < 0) return store::ErrnoStatus(errno, "open directory", n);
      UniqueFd sub(fd);
      RETURN_IF_ERROR(AddBytes(sub.get(), total));
    }
  }
  return OkStatus();
}
}  // namespace

StatusOr<uint64_t> TreeBytes(const std::string& path) {
  ASSIGN_OR_RETURN(UniqueFd dir, OpenDir(path));
  uint64_t total = 0;
  RETURN_IF_ERROR(AddBytes(dir.get(), &total));
  return total;
}

}  // namespace tandem::imagefs
