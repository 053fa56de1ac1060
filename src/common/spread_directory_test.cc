#include "common/spread_directory.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <linux/magic.h>
#include <sys/ioctl.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <filesystem>

#include "common/testing/temp_dir.h"
#include "gtest/gtest.h"

namespace tandem {
namespace {

namespace fs = std::filesystem;

// The directory's inode flags, or -1 when they cannot be read.
int Flags(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return -1;
  int flags = 0;
  if (::ioctl(fd, FS_IOC_GETFLAGS, &flags) != 0) flags = -1;
  ::close(fd);
  return flags;
}

bool OnExt4(const std::string& path) {
  struct statfs st{};
  return ::statfs(path.c_str(), &st) == 0 && st.f_type == EXT4_SUPER_MAGIC;
}

TEST(SpreadSubdirectoriesTest, SetsTheTopDirectoryFlagOnExt4AndKeepsTheOthers) {
  testing::TempDir tmp;
  const std::string dir = tmp.File("jobs");
  ASSERT_TRUE(fs::create_directory(dir));
  if (!OnExt4(dir)) GTEST_SKIP() << "the temp directory is not on ext4";
  const int before = Flags(dir);
  ASSERT_GE(before, 0);
  EXPECT_FALSE(before & FS_TOPDIR_FL);
  EXPECT_FALSE(SpreadsSubdirectories(dir));
  EXPECT_TRUE(SpreadSubdirectories(dir));
  EXPECT_EQ(Flags(dir), before | FS_TOPDIR_FL);  // the others kept
  EXPECT_TRUE(SpreadsSubdirectories(dir));
  EXPECT_TRUE(SpreadSubdirectories(dir));  // again: already set
  EXPECT_EQ(Flags(dir), before | FS_TOPDIR_FL);
  // Children come and go as before.
  ASSERT_TRUE(fs::create_directories(dir + "/a/input/config"));
  EXPECT_FALSE(SpreadsSubdirectories(dir + "/a"));  // not inherited
  EXPECT_EQ(fs::remove_all(dir + "/a"), 3u);
}

TEST(SpreadSubdirectoriesTest, FalseAndNothingChangedWhereItCannot) {
  testing::TempDir tmp;
  EXPECT_FALSE(SpreadSubdirectories(tmp.File("missing")));
  EXPECT_FALSE(fs::exists(tmp.File("missing")));
  const std::string file = tmp.Write("file", "x");
  EXPECT_FALSE(SpreadSubdirectories(file));
  ASSERT_TRUE(fs::create_directory(tmp.File("real")));
  fs::create_directory_symlink(tmp.File("real"), tmp.File("link"));
  EXPECT_FALSE(SpreadSubdirectories(tmp.File("link")));  // not through a symlink
  EXPECT_FALSE(SpreadsSubdirectories(tmp.File("real")));
  EXPECT_FALSE(SpreadsSubdirectories(tmp.File("missing")));
  struct statfs st{};
  if (::statfs("/dev/shm", &st) == 0 && st.f_type == TMPFS_MAGIC) {
    // tmpfs has no such flag.
    const std::string shm = "/dev/shm/tandem-spread-" + std::to_string(::getpid());
    ASSERT_TRUE(fs::create_directory(shm));
    EXPECT_FALSE(SpreadSubdirectories(shm));
    EXPECT_TRUE(fs::is_directory(shm));
    fs::remove(shm);
  }
}

}  // namespace
}  // namespace tandem
