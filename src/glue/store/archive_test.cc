#include "glue/store/archive.h"

#include <archive.h>
#include <archive_entry.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <sstream>

#include "common/clock.h"
#include "common/ids.h"
#include "glue/store/testing/test_data.h"

namespace tandem::store {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

void WriteFile(const fs::path& path, std::string_view data) {
  std::ofstream out(path, std::ios::binary);
  out.write(data.data(), static_cast<std::streamsize>(data.size()));
}

// One entry of a hand-made (possibly malicious) archive.
struct RawEntry {
  std::string path;
  mode_t type = AE_IFREG;
  std::string data;
  std::string symlink;   // for AE_IFLNK
  std::string hardlink;  // makes it a hardlink entry
  mode_t perm = 0644;
};

RawEntry Make(std::string path, mode_t type) {
  RawEntry e;
  e.path = std::move(path);
  e.type = type;
  return e;
}
RawEntry File(std::string path, std::string data) {
  RawEntry e = Make(std::move(path), AE_IFREG);
  e.data = std::move(data);
  return e;
}
RawEntry Symlink(std::string path, std::string target) {
  RawEntry e = Make(std::move(path), AE_IFLNK);
  e.symlink = std::move(target);
  return e;
}
RawEntry Hardlink(std::string path, std::string target) {
  RawEntry e = Make(std::move(path), AE_IFREG);
  e.hardlink = std::move(target);
  return e;
}
UnpackLimits Limits(uint64_t entries, uint64_t entry_bytes, uint64_t total_bytes) {
  UnpackLimits l;
  l.max_entries = entries;
  l.max_entry_bytes = entry_bytes;
  l.max_total_bytes = total_bytes;
  return l;
}

void WriteTarGz(const fs::path& out, const std::vector<RawEntry>& entries) {
  struct archive* a = archive_write_new();
  archive_write_add_filter_gzip(a);
  archive_write_set_format_pax_restricted(a);
  ASSERT_EQ(archive_write_open_filename(a, out.c_str()), ARCHIVE_OK);
  for (const RawEntry& r : entries) {
    archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, r.path.c_str());
    archive_entry_set_filetype(e, r.type);
    archive_entry_set_perm(e, r.perm);
    if (!r.hardlink.empty()) {
      archive_entry_set_hardlink(e, r.hardlink.c_str());
    } else if (r.type == AE_IFLNK) {
      archive_entry_set_symlink(e, r.symlink.c_str());
    } else if (r.type == AE_IFREG) {
      archive_entry_set_size(e, static_cast<la_int64_t>(r.data.size()));
    } else if (r.type == AE_IFCHR) {
      archive_entry_set_rdevmajor(e, 1);
      archive_entry_set_rdevminor(e, 3);
    }
    EXPECT_EQ(archive_write_header(a, e), ARCHIVE_OK) << archive_error_string(a);
    if (!r.data.empty()) archive_write_data(a, r.data.data(), r.data.size());
    archive_entry_free(e);
  }
  archive_write_close(a);
  archive_write_free(a);
}

std::set<std::string> Listing(const fs::path& dir) {
  std::set<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.insert(e.path().filename());
  return names;
}

class ArchiveTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("tandem-archive-" + NewUlid(Clock::Real()) + "-" + std::to_string(::getpid()));
    parent_ = dir_ / "work";
    fs::create_directories(parent_);
    archive_ = dir_ / "in.tar.gz";
    target_ = parent_ / "target";
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  // Unpacks a malicious archive and checks the refusal left nothing behind.
  void ExpectRefused(const std::vector<RawEntry>& entries, StatusCode code,
                     std::string_view message_part, const UnpackLimits& limits = {}) {
    WriteTarGz(archive_, entries);
    const auto before = Listing(parent_);
    Status s = UnpackArchive(archive_, target_, limits);
    EXPECT_EQ(s.code(), code) << s;
    EXPECT_THAT(std::string(s.message()), HasSubstr(std::string(message_part)));
    EXPECT_FALSE(fs::exists(fs::symlink_status(target_))) << "partial target left behind";
    EXPECT_EQ(Listing(parent_), before) << "staging dir left behind";
    for (const fs::path& evil : {parent_ / "evil", dir_ / "evil", dir_ / "abs-evil"}) {
      EXPECT_FALSE(fs::exists(fs::symlink_status(evil))) << evil;
    }
  }

  fs::path dir_, parent_, archive_, target_;
};

TEST_F(ArchiveTest, PackUnpackRoundTripIsDeterministic) {
  const fs::path src = dir_ / "model";
  fs::create_directories(src / "sub" / "deeper");
  fs::create_directories(src / "empty");
  const std::string big = RandomBytes(1024 * 1024 + 5, 1);
  WriteFile(src / "model.json", R"({"kind":"xgboost"})");
  WriteFile(src / "sub" / "weights.bin", big);
  WriteFile(src / "sub" / "deeper" / "run.sh", "#!/bin/sh\n");
  fs::permissions(src / "sub" / "deeper" / "run.sh", fs::perms::owner_exec, fs::perm_options::add);
  fs::create_symlink("sub/weights.bin", src / "latest");
  fs::create_symlink("../model.json", src / "sub" / "up");

  ASSERT_TRUE(PackDirectory(src, archive_).ok());
  const fs::path again = dir_ / "again.tar.gz";
  ASSERT_TRUE(PackDirectory(src, again).ok());
  EXPECT_EQ(ReadFile(archive_), ReadFile(again)) << "packing is not deterministic";

  Status s = UnpackArchive(archive_, target_);
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(ReadFile(target_ / "model.json"), R"({"kind":"xgboost"})");
  EXPECT_TRUE(ReadFile(target_ / "sub" / "weights.bin") == big);
  EXPECT_TRUE(fs::is_directory(target_ / "empty"));
  EXPECT_EQ(fs::read_symlink(target_ / "latest"), "sub/weights.bin");
  EXPECT_EQ(fs::read_symlink(target_ / "sub" / "up"), "../model.json");
  EXPECT_TRUE(ReadFile(target_ / "latest") == big);
  EXPECT_NE(fs::status(target_ / "sub" / "deeper" / "run.sh").permissions() & fs::perms::owner_exec,
            fs::perms::none);
  EXPECT_EQ(Listing(parent_), std::set<std::string>{"target"});
}

// The fastest level packs the same tree (smaller than the bytes, larger
// than the default level's archive, deterministic); a level out of 1..9 is
// refused and writes nothing.
TEST_F(ArchiveTest, PackAtTheFastestLevelRoundTripsAndBadLevelsAreRefused) {
  const fs::path src = dir_ / "model";
  fs::create_directories(src / "sub");
  std::string text;
  for (int i = 0; i < 20000; ++i) text += "{\"split\":" + std::to_string(i % 97) + ",\"w\":0.5},";
  WriteFile(src / "model.json", text);
  WriteFile(src / "sub" / "b.bin", RandomBytes(4096, 2));
  const fs::path fast = dir_ / "fast.tar.gz", fast2 = dir_ / "fast2.tar.gz";
  ASSERT_TRUE(PackDirectory(src, fast, kFastestGzipLevel).ok());
  ASSERT_TRUE(PackDirectory(src, fast2, kFastestGzipLevel).ok());
  ASSERT_TRUE(PackDirectory(src, archive_).ok());
  EXPECT_EQ(ReadFile(fast), ReadFile(fast2)) << "packing is not deterministic";
  EXPECT_NE(ReadFile(fast), ReadFile(archive_)) << "the level was not applied";
  EXPECT_LT(fs::file_size(fast), text.size() / 4);
  Status s = UnpackArchive(fast, target_);
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(ReadFile(target_ / "model.json"), text);
  EXPECT_EQ(ReadFile(target_ / "sub" / "b.bin"), RandomBytes(4096, 2));
  for (int bad : {0, 10, -1}) {
    const fs::path out = dir_ / ("bad" + std::to_string(bad) + ".tar.gz");
    Status refused = PackDirectory(src, out, bad);
    EXPECT_EQ(refused.code(), StatusCode::kInvalidArgument) << refused;
    EXPECT_THAT(std::string(refused.message()), HasSubstr("gzip level must be 1..9"));
    EXPECT_FALSE(fs::exists(out));
  }
}

// Packing for a store that makes the file durable itself (durable = false:
// no fsync) writes the same bytes to the same place, and leaves no temp file.
TEST_F(ArchiveTest, PackWithoutFsyncWritesTheSameArchive) {
  const fs::path src = dir_ / "model";
  fs::create_directories(src / "sub");
  WriteFile(src / "model.json", std::string(50000, 'm'));
  WriteFile(src / "sub" / "b.bin", RandomBytes(4096, 3));
  const fs::path out_dir = dir_ / "out";
  fs::create_directories(out_dir);
  const fs::path synced = out_dir / "synced.tar.gz", unsynced = out_dir / "unsynced.tar.gz";
  ASSERT_TRUE(PackDirectory(src, synced, kFastestGzipLevel, /*durable=*/true).ok());
  Status s = PackDirectory(src, unsynced, kFastestGzipLevel, /*durable=*/false);
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(ReadFile(unsynced), ReadFile(synced));
  EXPECT_EQ(Listing(out_dir), (std::set<std::string>{"synced.tar.gz", "unsynced.tar.gz"}));
  EXPECT_EQ(PackDirectory(src, out_dir / "bad.tar.gz", 0, false).code(),
            StatusCode::kInvalidArgument);
  ASSERT_TRUE(UnpackArchive(unsynced, target_).ok());
  EXPECT_EQ(ReadFile(target_ / "model.json"), std::string(50000, 'm'));
}

TEST_F(ArchiveTest, UnpackIntoExistingEmptyDirWorksNonEmptyIsAlreadyExists) {
  WriteTarGz(archive_, {File("a.txt", "a")});
  fs::create_directory(target_);
  ASSERT_TRUE(UnpackArchive(archive_, target_).ok());
  EXPECT_EQ(ReadFile(target_ / "a.txt"), "a");
  Status s = UnpackArchive(archive_, target_);
  EXPECT_EQ(s.code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(UnpackArchive((dir_ / "missing.tar.gz").string(), parent_ / "t2").code(),
            StatusCode::kNotFound);
}

TEST_F(ArchiveTest, PackRefusesSymlinksPointingOutside) {
  const fs::path src = dir_ / "model";
  fs::create_directories(src / "sub");
  WriteFile(src / "ok.txt", "ok");
  fs::create_symlink("/etc", src / "sub" / "etc");
  Status s = PackDirectory(src, archive_);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr("sub/etc"));
  EXPECT_FALSE(fs::exists(archive_));

  fs::remove(src / "sub" / "etc");
  fs::create_symlink("../../outside", src / "sub" / "up");
  s = PackDirectory(src, archive_);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr("sub/up"));
  EXPECT_EQ(Listing(dir_), (std::set<std::string>{"model", "work"})) << "temp file left behind";
}

TEST_F(ArchiveTest, PackRefusesFifo) {
  const fs::path src = dir_ / "model";
  fs::create_directories(src);
  ASSERT_EQ(::mkfifo((src / "pipe").c_str(), 0644), 0);
  Status s = PackDirectory(src, archive_);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr("pipe"));
}

TEST_F(ArchiveTest, RefusesAbsolutePath) {
  ExpectRefused({File("ok", "ok"), File((dir_ / "abs-evil").string(), "pwned")},
                StatusCode::kInvalidArgument, "absolute path");
}

TEST_F(ArchiveTest, RefusesDotDot) {
  ExpectRefused({File("ok", "ok"), File("../evil", "pwned")}, StatusCode::kInvalidArgument,
                "'../evil'");
  ExpectRefused({File("a/../../evil", "pwned")}, StatusCode::kInvalidArgument, "'..'");
}

TEST_F(ArchiveTest, RefusesSymlinkEscape) {
  // Classic: a symlink to outside, then a file written through it.
  ExpectRefused({Symlink("link", "/etc"), File("link/passwd", "root::0:0::/:/bin/sh")},
                StatusCode::kInvalidArgument, "'link'");
  ExpectRefused({Symlink("link", "../.."), File("link/evil", "x")}, StatusCode::kInvalidArgument,
                "points outside");
  // Inside-pointing symlink, but writing through it is still refused.
  ExpectRefused({File("sub/x", "x"), Symlink("link", "sub"), File("link/y", "y")},
                StatusCode::kInvalidArgument, "goes through symlink 'link'");
  // A chain only real resolution sees: s -> ".", a -> "s/.." (= parent).
  ExpectRefused({Symlink("s", "."), Symlink("a", "s/..")}, StatusCode::kInvalidArgument,
                "resolves outside");
}

TEST_F(ArchiveTest, RefusesHardlinkOutside) {
  ExpectRefused({Hardlink("passwd", "/etc/passwd")}, StatusCode::kInvalidArgument, "absolute path");
  ExpectRefused({Hardlink("x", "../evil")}, StatusCode::kInvalidArgument, "'..'");
  ExpectRefused({Hardlink("x", "not-in-archive")}, StatusCode::kInvalidArgument,
                "not an earlier regular file");
}

TEST_F(ArchiveTest, HardlinkToEarlierFileWorks) {
  WriteTarGz(archive_, {File("a", "shared"), Hardlink("b", "a")});
  ASSERT_TRUE(UnpackArchive(archive_, target_).ok());
  EXPECT_EQ(ReadFile(target_ / "b"), "shared");
  EXPECT_EQ(fs::hard_link_count(target_ / "a"), 2u);
}

TEST_F(ArchiveTest, RefusesDevicesAndFifos) {
  RawEntry dev = Make("null", AE_IFCHR);
  ExpectRefused({File("ok", "ok"), dev}, StatusCode::kInvalidArgument, "'null'");
  RawEntry fifo = Make("pipe", AE_IFIFO);
  ExpectRefused({fifo}, StatusCode::kInvalidArgument, "'pipe'");
}

TEST_F(ArchiveTest, StripsSetuidBits) {
  RawEntry suid = File("tool", "#!/bin/sh\n");
  suid.perm = 06755;
  WriteTarGz(archive_, {suid});
  ASSERT_TRUE(UnpackArchive(archive_, target_).ok());
  struct stat st;
  ASSERT_EQ(::stat((target_ / "tool").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07000, 0u);
  EXPECT_NE(st.st_mode & 0100, 0u);
}

TEST_F(ArchiveTest, EnforcesLimits) {
  std::vector<RawEntry> many;
  for (int i = 0; i < 11; ++i) many.push_back(File("f" + std::to_string(i), "x"));
  ExpectRefused(many, StatusCode::kResourceExhausted, "more than 10 entries",
                Limits(10, 1 << 20, 1 << 20));
  ExpectRefused({File("small", "x"), File("big", std::string(2000, 'b'))},
                StatusCode::kResourceExhausted, "'big'", Limits(100, 1000, 1 << 20));
  ExpectRefused({File("a", std::string(600, 'a')), File("b", std::string(600, 'b'))},
                StatusCode::kResourceExhausted, "(at 'b')", Limits(100, 1000, 1000));
}

TEST_F(ArchiveTest, RefusesCompressionBomb) {
  UnpackLimits limits;
  limits.max_ratio = 50;
  limits.ratio_free_bytes = 1 << 20;
  // 4 MiB of zeros gzip to a few KiB: far beyond 50:1 once past 1 MiB.
  ExpectRefused({File("readme", "hello"), File("zeros", std::string(4 << 20, '\0'))},
                StatusCode::kResourceExhausted, "compression bomb", limits);
  // Incompressible data of the same size unpacks under the same limits.
  WriteTarGz(archive_, {File("noise", RandomBytes(4 << 20, 7))});
  ASSERT_TRUE(UnpackArchive(archive_, target_, limits).ok());
  EXPECT_EQ(fs::file_size(target_ / "noise"), 4u << 20);
}

TEST_F(ArchiveTest, TruncatedOrGarbageInputIsDataLoss) {
  const std::vector<RawEntry> entries = {File("a", RandomBytes(512 * 1024, 2)),
                                         File("b", RandomBytes(512 * 1024, 3))};
  WriteTarGz(archive_, entries);
  fs::resize_file(archive_, fs::file_size(archive_) / 2);
  const auto before = Listing(parent_);
  Status s = UnpackArchive(archive_, target_);
  EXPECT_EQ(s.code(), StatusCode::kDataLoss) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr(archive_.string()));
  EXPECT_FALSE(fs::exists(target_));
  EXPECT_EQ(Listing(parent_), before);

  WriteFile(archive_, "this is not a gzip file at all");
  s = UnpackArchive(archive_, target_);
  EXPECT_EQ(s.code(), StatusCode::kDataLoss) << s;
  EXPECT_FALSE(fs::exists(target_));
}

// Messages shown to users (a job's failure reason) call the archive what the
// user sent and never name the control plane's directories.
TEST_F(ArchiveTest, MessagesCallTheArchiveAsShownAndNameNoLocalPath) {
  const std::string shown = "source_dir models/code.tar.gz";
  auto check = [&](const std::vector<RawEntry>& entries, const UnpackLimits& limits,
                   std::string_view part) {
    WriteTarGz(archive_, entries);
    Status s = UnpackArchive(archive_, target_, limits, shown);
    ASSERT_FALSE(s.ok());
    const std::string m(s.message());
    EXPECT_THAT(m, HasSubstr(std::string(part)));
    EXPECT_EQ(m.find(dir_.string()), std::string::npos) << m;
  };
  check({File("../evil", "pwned")}, {}, "refusing archive entry '../evil' in '" + shown + "'");
  check({File("a", "1"), File("b", "2")}, Limits(1, 100, 100), "archive '" + shown + "' has more");
  // Written through libarchive: a file where a directory must go.
  check({File("d", "file"), File("d/x", "under a file")}, {}, "'d/x'");
  const std::vector<RawEntry> big = {File("a", RandomBytes(512 * 1024, 2))};
  WriteTarGz(archive_, big);
  fs::resize_file(archive_, fs::file_size(archive_) / 2);
  Status s = UnpackArchive(archive_, target_, {}, shown);
  EXPECT_EQ(s.code(), StatusCode::kDataLoss) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr(shown));
  EXPECT_EQ(std::string(s.message()).find(dir_.string()), std::string::npos) << s;
  s = UnpackArchive((dir_ / "missing.tar.gz").string(), target_, {}, shown);
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(std::string(s.message()).find(dir_.string()), std::string::npos) << s;
}

}  // namespace
}  // namespace tandem::store
