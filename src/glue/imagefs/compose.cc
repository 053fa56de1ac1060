#include "glue/imagefs/compose.h"

#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "glue/imagefs/fs_at.h"

namespace tandem::imagefs {
namespace {

// Hides `rel` (a whiteout) in the tree below `root`.
Status Whiteout(int root, const std::string& rel) {
  ASSIGN_OR_RETURN(std::vector<std::string> parts, SplitRelative(rel, "whiteout"));
  if (parts.empty()) return OkStatus();
  const std::vector<std::string> parent(parts.begin(), parts.end() - 1);
  auto dir = OpenDirAt(root, parent, /*create=*/false);
  if (!dir.ok()) return OkStatus();  // nothing below to hide
  return RemoveAt(dir->get(), parts.back());
}

Status Opaque(int root, const std::string& rel) {
  ASSIGN_OR_RETURN(std::vector<std::string> parts, SplitRelative(rel, "opaque directory"));
  auto dir = OpenDirAt(root, parts, /*create=*/false);
  if (!dir.ok()) return OkStatus();
  return ClearDir(dir->get());
}

// Lays the directory `src` over `dst`, entry by entry.
Status Merge(int src, int dst, const std::string& rel) {
  ASSIGN_OR_RETURN(std::vector<std::string> names, ListDir(src));
  for (const std::string& n : names) {
    const std::string path = rel.empty() ? n : rel + "/" + n;
    struct stat s;
    ASSIGN_OR_RETURN(bool have, LstatAt(src, n, &s));
    if (!have) continue;
    struct stat d;
    ASSIGN_OR_RETURN(bool exists, LstatAt(dst, n, &d));
    if (exists && !(S_ISDIR(s.st_mode) && S_ISDIR(d.st_mode))) {
      RETURN_IF_ERROR(RemoveAt(dst, n));
      exists = false;
    }
    if (S_ISDIR(s.st_mode)) {
      if (!exists && ::mkdirat(dst, n.c_str(), 0700) != 0) {
        return store::ErrnoStatus(errno, "mkdir", path);
      }
      if (::fchmodat(dst, n.c_str(), (s.st_mode & 0777) | 0700, 0) != 0) {
        return store::ErrnoStatus(errno, "chmod", path);
      }
      ASSIGN_OR_RETURN(UniqueFd sub_src, OpenDirAt(src, {n}, false));
      ASSIGN_OR_RETURN(UniqueFd sub_dst, OpenDirAt(dst, {n}, false));
      RETURN_IF_ERROR(Merge(sub_src.get(), sub_dst.get(), path));
    } else if (S_ISLNK(s.st_mode)) {
      char buf[PATH_MAX];
      ssize_t len = ::readlinkat(src, n.c_str(), buf, sizeof(buf));
      if (len < 0 || static_cast<size_t>(len) >= sizeof(buf)) {
        return store::ErrnoStatus(len < 0 ? errno : ENAMETOOLONG, "readlink", path);
      }
      std::string target(buf, static_cast<size_t>(len));
      if (::symlinkat(target.c_str(), dst, n.c_str()) != 0) {
        return store::ErrnoStatus(errno, "symlink", path);
      }
      struct timespec times[2] = {{0, UTIME_OMIT}, s.st_mtim};
      ::utimensat(dst, n.c_str(), times, AT_SYMLINK_NOFOLLOW);
    } else if (S_ISREG(s.st_mode)) {
      if (::linkat(src, n.c_str(), dst, n.c_str(), 0) != 0) {
        return store::ErrnoStatus(errno, "link", path);
      }
    }
  }
  return OkStatus();
}

}  // namespace

Status ApplyLayer(const std::string& rootfs, const std::string& layer_dir,
                  const LayerContents& contents) {
  ASSIGN_OR_RETURN(UniqueFd root, OpenDir(rootfs));
  ASSIGN_OR_RETURN(UniqueFd layer, OpenDir(layer_dir));
  for (const std::string& w : contents.whiteouts) RETURN_IF_ERROR(Whiteout(root.get(), w));
  for (const std::string& o : contents.opaque_dirs) RETURN_IF_ERROR(Opaque(root.get(), o));
  return Merge(layer.get(), root.get(), "");
}

}  // namespace tandem::imagefs
