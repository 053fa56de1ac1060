#include "common/spread_directory.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <unistd.h>

namespace tandem {

namespace {

// Opens `dir` (not through a symlink) and reads its inode flags into `flags`;
// the descriptor, or -1.
int OpenWithFlags(const std::string& dir, int& flags) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
  if (fd >= 0 && ::ioctl(fd, FS_IOC_GETFLAGS, &flags) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

}  // namespace

bool SpreadSubdirectories(const std::string& dir) {
  int flags = 0;
  const int fd = OpenWithFlags(dir, flags);
  if (fd < 0) return false;
  bool ok = true;
  if (!(flags & FS_TOPDIR_FL)) {
    flags |= FS_TOPDIR_FL;
    ok = ::ioctl(fd, FS_IOC_SETFLAGS, &flags) == 0;
  }
  ::close(fd);
  return ok;
}

bool SpreadsSubdirectories(const std::string& dir) {
  int flags = 0;
  const int fd = OpenWithFlags(dir, flags);
  if (fd < 0) return false;
  ::close(fd);
  return flags & FS_TOPDIR_FL;
}

}  // namespace tandem
