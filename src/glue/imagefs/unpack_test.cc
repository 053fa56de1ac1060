// Safe OCI layer unpacking and composition, with hand-made malicious layers:
// whatever a layer says, nothing is written outside the target directory.
#include "glue/imagefs/unpack.h"

#include <archive.h>
#include <archive_entry.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "glue/imagefs/compose.h"
#include "glue/store/sha256.h"

namespace tandem::imagefs {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

struct RawEntry {
  std::string path;
  mode_t type = AE_IFREG;
  std::string data;
  std::string symlink;
  std::string hardlink;
  mode_t perm = 0644;
};
RawEntry File(std::string path, std::string data, mode_t perm = 0644) {
  return RawEntry{std::move(path), AE_IFREG, std::move(data), "", "", perm};
}
RawEntry Dir(std::string path, mode_t perm = 0755) {
  return RawEntry{std::move(path), AE_IFDIR, "", "", "", perm};
}
RawEntry Symlink(std::string path, std::string target) {
  return RawEntry{std::move(path), AE_IFLNK, "", std::move(target), "", 0777};
}
RawEntry Hardlink(std::string path, std::string target) {
  return RawEntry{std::move(path), AE_IFREG, "", "", std::move(target), 0644};
}

std::string ReadAll(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class UnpackTest : public ::testing::Test {
 protected:
  void SetUp() override {
    base_ = fs::temp_directory_path() /
            ("imagefs-" + std::to_string(::getpid()) + "-" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(base_);
    fs::create_directories(base_ / "root");
    fs::create_directories(base_ / "outside");
    fs::create_directories(base_ / "layers");
  }
  void TearDown() override {
    std::error_code ec;
    for (auto& e : fs::recursive_directory_iterator(base_, ec)) {
      if (e.is_directory(ec) && !e.is_symlink(ec)) fs::permissions(e.path(), fs::perms::owner_all,
                                                                  fs::perm_options::add, ec);
    }
    fs::remove_all(base_, ec);
  }

  // Writes a layer tar (gzip'd when asked) and returns its path.
  std::string Layer(const std::vector<RawEntry>& entries, bool gzip = true) {
    const std::string path = (base_ / "layers" / ("l" + std::to_string(n_++) + ".tar")).string();
    struct archive* a = archive_write_new();
    if (gzip) archive_write_add_filter_gzip(a);
    archive_write_set_format_pax_restricted(a);
    EXPECT_EQ(archive_write_open_filename(a, path.c_str()), ARCHIVE_OK);
    for (const RawEntry& e : entries) {
      archive_entry* entry = archive_entry_new();
      archive_entry_set_pathname(entry, e.path.c_str());
      archive_entry_set_filetype(entry, e.type);
      archive_entry_set_perm(entry, e.perm);
      archive_entry_set_mtime(entry, 1000, 0);
      if (e.type == AE_IFCHR) archive_entry_set_rdev(entry, makedev(1, 3));
      if (!e.symlink.empty()) archive_entry_set_symlink(entry, e.symlink.c_str());
      if (!e.hardlink.empty()) archive_entry_set_hardlink(entry, e.hardlink.c_str());
      if (e.type == AE_IFREG && e.hardlink.empty()) archive_entry_set_size(entry, e.data.size());
      EXPECT_EQ(archive_write_header(a, entry), ARCHIVE_OK) << e.path;
      if (!e.data.empty()) archive_write_data(a, e.data.data(), e.data.size());
      archive_entry_free(entry);
    }
    archive_write_close(a);
    archive_write_free(a);
    return path;
  }

  StatusOr<LayerContents> Unpack(const std::vector<RawEntry>& entries,
                                 const store::UnpackLimits& limits = {}) {
    const fs::path dir = base_ / ("u" + std::to_string(n_++));
    fs::create_directories(dir);
    last_ = dir;
    return UnpackLayer(Layer(entries), dir.string(), limits);
  }

  void ExpectOutsideUntouched() {
    EXPECT_TRUE(fs::is_empty(base_ / "outside")) << "something was written outside the root";
  }

  fs::path base_;
  fs::path last_;
  int n_ = 0;
};

TEST_F(UnpackTest, UnpacksFilesDirectoriesLinksAndModes) {
  auto c = Unpack({Dir("usr"), Dir("usr/bin"), File("usr/bin/tool", "#!/bin/sh\n", 04755),
                   Symlink("bin", "usr/bin"), Symlink("abs", "/etc/passwd"),
                   Hardlink("usr/bin/tool2", "usr/bin/tool"), File("./etc/conf", "x", 0400),
                   File("deep/implicit/parent", "y")});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(ReadAll(last_ / "usr/bin/tool"), "#!/bin/sh\n");
  struct stat st;
  ASSERT_EQ(::lstat((last_ / "usr/bin/tool").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0755u) << "setuid stripped, mode kept";
  EXPECT_EQ(st.st_mtime, 1000);
  EXPECT_EQ(st.st_nlink, 2u) << "the hard link shares the inode";
  EXPECT_EQ(fs::read_symlink(last_ / "bin"), "usr/bin");
  EXPECT_EQ(fs::read_symlink(last_ / "abs"), "/etc/passwd") << "kept, never followed";
  ASSERT_EQ(::lstat((last_ / "etc/conf").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u) << "the owner can always read";
  EXPECT_EQ(ReadAll(last_ / "deep/implicit/parent"), "y");
  EXPECT_EQ(c->bytes, 12u);
}

TEST_F(UnpackTest, PlainTarToo) {
  const fs::path dir = base_ / "plain";
  fs::create_directories(dir);
  auto c = UnpackLayer(Layer({File("a", "b")}, /*gzip=*/false), dir.string());
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(ReadAll(dir / "a"), "b");
}

TEST_F(UnpackTest, AbsolutePathsStayInsideTheRoot) {
  const std::string evil = (base_ / "outside/pwned").string();
  auto c = Unpack({Dir("/"), File(evil, "x"), File("/etc/conf", "c"),
                   Hardlink("/etc/conf2", "/etc/conf")});
  ASSERT_TRUE(c.ok()) << c.status();
  ExpectOutsideUntouched();
  EXPECT_EQ(ReadAll(last_ / evil.substr(1)), "x") << "under the root, not at the host path";
  EXPECT_EQ(ReadAll(last_ / "etc/conf"), "c");
  EXPECT_EQ(ReadAll(last_ / "etc/conf2"), "c");
}

TEST_F(UnpackTest, RefusesDotDot) {
  auto c = Unpack({File("a/../../outside/pwned", "x")});
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(c.status().message(), HasSubstr("'..'"));
  ExpectOutsideUntouched();
}

TEST_F(UnpackTest, NeverWritesThroughASymlink) {
  const std::string outside = (base_ / "outside").string();
  for (const std::string& target : {outside, std::string("../outside"), std::string("..")}) {
    auto c = Unpack({Symlink("evil", target), File("evil/pwned", "x")});
    ASSERT_FALSE(c.ok()) << target;
    EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(c.status().message(), HasSubstr("not a directory"));
    ExpectOutsideUntouched();
  }
  // A chain of symlinks inside the layer does not help either.
  auto c = Unpack({Symlink("s", "."), Symlink("a", "s/../../outside"), File("a/pwned", "x")});
  ASSERT_FALSE(c.ok());
  ExpectOutsideUntouched();
}

TEST_F(UnpackTest, ReplacingASymlinkWithAFileDoesNotFollowIt) {
  std::ofstream(base_ / "outside" / "victim") << "safe";
  const std::string victim = (base_ / "outside/victim").string();
  auto c = Unpack({Symlink("link", victim), File("link", "overwritten")});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(ReadAll(base_ / "outside/victim"), "safe");
  EXPECT_EQ(ReadAll(last_ / "link"), "overwritten");
  EXPECT_FALSE(fs::is_symlink(last_ / "link"));
}

TEST_F(UnpackTest, RefusesHardLinksLeavingTheLayer) {
  std::ofstream(base_ / "outside" / "victim") << "safe";
  const std::string victim = (base_ / "outside/victim").string();
  for (const std::string& target : {victim, std::string("../outside/victim"),
                                    std::string("missing"), std::string("dir")}) {
    auto c = Unpack({Dir("dir"), Hardlink("h", target)});
    ASSERT_FALSE(c.ok()) << target;
    EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument) << target;
  }
  // Through a symlinked directory planted by the layer.
  auto c = Unpack({Symlink("d", (base_ / "outside").string()), Hardlink("h", "d/victim")});
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(c.status().message(), HasSubstr("not an earlier regular file"));
  struct stat st;
  ASSERT_EQ(::stat(victim.c_str(), &st), 0);
  EXPECT_EQ(st.st_nlink, 1u) << "no link to a host file was made";
}

TEST_F(UnpackTest, SkipsDevicesAndFifos) {
  auto c = Unpack({RawEntry{"dev/null", AE_IFCHR, "", "", "", 0666},
                   RawEntry{"fifo", AE_IFIFO, "", "", "", 0644}, File("ok", "1")});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->skipped, 2u);
  EXPECT_FALSE(fs::exists(fs::symlink_status(last_ / "dev/null")));
  EXPECT_FALSE(fs::exists(fs::symlink_status(last_ / "fifo")));
  EXPECT_EQ(ReadAll(last_ / "ok"), "1");
}

TEST_F(UnpackTest, RecordsWhiteoutsAndRefusesEscapingOnes) {
  auto c = Unpack({File("etc/.wh.passwd", ""), File("var/.wh..wh..opq", ""), File(".wh.top", "")});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->whiteouts, (std::vector<std::string>{"etc/passwd", "top"}));
  EXPECT_EQ(c->opaque_dirs, (std::vector<std::string>{"var"}));
  EXPECT_FALSE(fs::exists(last_ / "etc/.wh.passwd")) << "markers are not written";
  for (const char* evil : {"a/.wh...", "a/.wh..", "a/.wh."}) {
    auto bad = Unpack({File(evil, "")});
    ASSERT_FALSE(bad.ok()) << evil;
    EXPECT_THAT(bad.status().message(), HasSubstr("escapes")) << evil;
  }
  auto up = Unpack({File("../.wh.x", "")});
  ASSERT_FALSE(up.ok());
}

TEST_F(UnpackTest, Limits) {
  store::UnpackLimits few;
  few.max_entries = 2;
  auto c = Unpack({File("a", "1"), File("b", "2"), File("c", "3")}, few);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), absl::StatusCode::kResourceExhausted);
  store::UnpackLimits small;
  small.max_total_bytes = 10;
  c = Unpack({File("a", "123456"), File("b", "123456")}, small);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), absl::StatusCode::kResourceExhausted);
  store::UnpackLimits entry;
  entry.max_entry_bytes = 3;
  c = Unpack({File("a", "1234")}, entry);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), absl::StatusCode::kResourceExhausted);
  store::UnpackLimits ratio;
  ratio.ratio_free_bytes = 1000;
  ratio.max_ratio = 10;
  c = Unpack({File("zeros", std::string(1 << 20, '\0'))}, ratio);
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(c.status().message(), HasSubstr("compression bomb"));
}

TEST_F(UnpackTest, CorruptLayerIsDataLoss) {
  std::string path = Layer({File("a", std::string(100000, 'x'))});
  std::string bytes = ReadAll(path);
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes.substr(0, bytes.size() / 2);
  fs::create_directories(base_ / "c");
  auto c = UnpackLayer(path, (base_ / "c").string());
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), absl::StatusCode::kDataLoss);
}

TEST_F(UnpackTest, ALayerEndingRightAfterItsLastFileIsAccepted) {
  // What umoci writes: no padding after the last file, no end-of-archive
  // blocks. A cut inside the file's data is still corrupt.
  std::string path = Layer({File("a", "1"), File("b", std::string(700, 'b'))}, /*gzip=*/false);
  std::string bytes = ReadAll(path);
  const size_t end_of_b = 512 + 512 + 512 + 700;  // a's header+data, b's header+data
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes.substr(0, end_of_b);
  fs::create_directories(base_ / "ok");
  auto c = UnpackLayer(path, (base_ / "ok").string());
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(ReadAll(base_ / "ok/b"), std::string(700, 'b'));
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes.substr(0, end_of_b - 100);
  fs::create_directories(base_ / "cut");
  EXPECT_EQ(UnpackLayer(path, (base_ / "cut").string()).status().code(),
            absl::StatusCode::kDataLoss);
}

TEST_F(UnpackTest, UncompressedDigestIsTheTarsDigest) {
  std::string gz = Layer({File("a", "hello")}, true);
  std::string tar = Layer({File("a", "hello")}, false);
  auto d1 = UncompressedDigest(gz);
  auto d2 = UncompressedDigest(tar);
  ASSERT_TRUE(d1.ok()) << d1.status();
  ASSERT_TRUE(d2.ok()) << d2.status();
  EXPECT_EQ(*d1, store::Sha256Digest(ReadAll(tar)));
  EXPECT_EQ(*d2, *d1);
}

TEST_F(UnpackTest, ComposeAppliesWhiteoutsOpaqueDirsAndReplacements) {
  const fs::path root = base_ / "root";
  auto lower = Unpack({File("etc/passwd", "root"), File("etc/keep", "k"), File("var/old", "o"),
                       File("var/sub/old", "o"), Dir("d"), File("d/f", "1"), File("f", "2"),
                       Symlink("lnk", (base_ / "outside").string()), File("x/y", "z")});
  ASSERT_TRUE(lower.ok()) << lower.status();
  ASSERT_TRUE(ApplyLayer(root.string(), last_.string(), *lower).ok());
  auto upper = Unpack({File("etc/.wh.passwd", ""), File("var/.wh..wh..opq", ""),
                       File("var/new", "n"), File("d", "now a file"), Dir("f"), File("f/in", "3"),
                       Dir("lnk"), File("lnk/pwned", "no"), File("x/y", "upper")});
  ASSERT_TRUE(upper.ok()) << upper.status();
  ASSERT_TRUE(ApplyLayer(root.string(), last_.string(), *upper).ok());
  EXPECT_FALSE(fs::exists(root / "etc/passwd"));
  EXPECT_EQ(ReadAll(root / "etc/keep"), "k");
  EXPECT_FALSE(fs::exists(root / "var/old"));
  EXPECT_FALSE(fs::exists(root / "var/sub"));
  EXPECT_EQ(ReadAll(root / "var/new"), "n");
  EXPECT_EQ(ReadAll(root / "d"), "now a file");
  EXPECT_EQ(ReadAll(root / "f/in"), "3");
  EXPECT_TRUE(fs::is_directory(fs::symlink_status(root / "lnk")));
  EXPECT_EQ(ReadAll(root / "x/y"), "upper");
  ExpectOutsideUntouched();
  // The lower layer's own tree is unchanged (composition links, never edits).
  EXPECT_EQ(ReadAll(base_ / "u0" / "etc/passwd"), "root");
  EXPECT_EQ(ReadAll(base_ / "u0" / "x/y"), "z");
}

}  // namespace
}  // namespace tandem::imagefs
