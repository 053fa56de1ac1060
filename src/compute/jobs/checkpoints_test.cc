// CheckpointSync: restore into a fresh directory, upload of new and changed
// files only, symlinks never followed, limits, and nothing after the final
// sync.
#include "compute/jobs/checkpoints.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "glue/store/testing/memory_store.h"

namespace tandem::compute::jobs {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

class CheckpointSyncTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "tandem-ckpt-XXXXXX").string();
    root_ = ::mkdtemp(tmpl.data());
    dir_ = root_ + "/checkpoints";
    fs::create_directories(dir_);
    store_ = store::MemoryStore::Create();
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(root_, ec);
  }
  void Write(const std::string& rel, const std::string& text) {
    fs::create_directories(fs::path(dir_ + "/" + rel).parent_path());
    std::ofstream(dir_ + "/" + rel, std::ios::trunc) << text;
  }
  std::string Read(const std::string& path) {
    std::ifstream in(path);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }
  std::vector<std::string> Keys(const std::string& prefix = "") {
    std::vector<std::string> keys;
    auto page = store_->List(prefix);
    EXPECT_TRUE(page.ok()) << page.status();
    for (const auto& o : page->objects) keys.push_back(o.key);
    return keys;
  }

  std::string root_, dir_;
  std::unique_ptr<store::MemoryStore> store_;
};

TEST_F(CheckpointSyncTest, UploadsNewAndChangedFilesOnly) {
  CheckpointSync sync(*store_, "teams/a/ckpt", dir_);
  Write("model.json", "round 1");
  Write("sub/dir/state.bin", "s");
  auto first = sync.Sync();
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->files, 2);
  EXPECT_EQ(Keys(), (std::vector<std::string>{"teams/a/ckpt/model.json",
                                              "teams/a/ckpt/sub/dir/state.bin"}));
  auto again = sync.Sync();  // nothing changed
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->files, 0);
  Write("model.json", "round 2 and more");
  auto changed = sync.Sync();
  ASSERT_TRUE(changed.ok());
  EXPECT_EQ(changed->files, 1);
  EXPECT_EQ(*store_->GetString("teams/a/ckpt/model.json"), "round 2 and more");
  // A deleted file stays in the store.
  fs::remove(dir_ + "/sub/dir/state.bin");
  ASSERT_TRUE(sync.Sync().ok());
  EXPECT_TRUE(store_->Stat("teams/a/ckpt/sub/dir/state.bin").ok());
}

TEST_F(CheckpointSyncTest, RestoresIntoAFreshDirectoryAndDoesNotUploadItBack) {
  ASSERT_TRUE(store_->PutString("p/ckpt/model.json", "saved").ok());
  ASSERT_TRUE(store_->PutString("p/ckpt/a/b.txt", "nested").ok());
  ASSERT_TRUE(store_->PutString("p/ckptX/other", "not mine").ok());  // a sibling prefix
  CheckpointSync sync(*store_, "p/ckpt", dir_);
  auto restored = sync.Restore();
  ASSERT_TRUE(restored.ok()) << restored.status();
  EXPECT_EQ(restored->files, 2);
  EXPECT_EQ(restored->bytes, 11);
  EXPECT_EQ(Read(dir_ + "/model.json"), "saved");
  EXPECT_EQ(Read(dir_ + "/a/b.txt"), "nested");
  EXPECT_FALSE(fs::exists(dir_ + "/other"));
  auto synced = sync.Sync();
  ASSERT_TRUE(synced.ok());
  EXPECT_EQ(synced->files, 0);  // unchanged since the restore
}

TEST_F(CheckpointSyncTest, EmptyPrefixRestoresNothing) {
  CheckpointSync sync(*store_, "teams/a/none", dir_);
  auto restored = sync.Restore();
  ASSERT_TRUE(restored.ok()) << restored.status();
  EXPECT_EQ(restored->files, 0);
  EXPECT_TRUE(fs::is_empty(dir_));
}

TEST_F(CheckpointSyncTest, RestoreOverTheLimitsIsRefusedAndWritesNothing) {
  ASSERT_TRUE(store_->PutString("p/c/one", "12345").ok());
  ASSERT_TRUE(store_->PutString("p/c/two", "67890").ok());
  CheckpointLimits bytes;
  bytes.max_bytes = 9;
  auto big = CheckpointSync(*store_, "p/c", dir_, bytes).Restore();
  ASSERT_FALSE(big.ok());
  EXPECT_EQ(big.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(big.status().message()), HasSubstr("larger than 9 bytes"));
  CheckpointLimits files;
  files.max_files = 1;
  auto many = CheckpointSync(*store_, "p/c", dir_, files).Restore();
  ASSERT_FALSE(many.ok());
  EXPECT_THAT(std::string(many.status().message()), HasSubstr("more than 1 files"));
  EXPECT_TRUE(fs::is_empty(dir_));
}

TEST_F(CheckpointSyncTest, SymlinksAreNeverFollowed) {
  // A secret outside the checkpoint directory, reachable only through links.
  fs::create_directories(root_ + "/secret");
  std::ofstream(root_ + "/secret/key") << "do not upload";
  Write("ok.txt", "fine");
  fs::create_symlink(root_ + "/secret/key", dir_ + "/link-to-file");
  fs::create_symlink(root_ + "/secret", dir_ + "/link-to-dir");
  ASSERT_EQ(::mkfifo((dir_ + "/fifo").c_str(), 0600), 0);
  CheckpointSync sync(*store_, "t/c", dir_);
  auto synced = sync.Sync();
  ASSERT_TRUE(synced.ok()) << synced.status();
  EXPECT_EQ(synced->files, 1);
  EXPECT_EQ(synced->skipped, 3);
  EXPECT_EQ(Keys(), std::vector<std::string>{"t/c/ok.txt"});

  // The checkpoint directory itself replaced by a link: nothing is read.
  fs::remove_all(dir_);
  fs::create_symlink(root_ + "/secret", dir_);
  CheckpointSync replaced(*store_, "t/d", dir_);
  auto none = replaced.Sync();
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_EQ(none->files, 0);
  EXPECT_TRUE(Keys("t/d/").empty());
}

TEST_F(CheckpointSyncTest, FilesBeyondTheLimitsAreSkipped) {
  Write("a", "1234");
  Write("b", "5678");
  Write("c", "9");
  CheckpointLimits limits;
  limits.max_bytes = 6;
  CheckpointSync sync(*store_, "t/c", dir_, limits);
  auto synced = sync.Sync();
  ASSERT_TRUE(synced.ok());
  EXPECT_EQ(synced->files, 2);  // a (4 bytes) and c (1 byte); b would pass 6
  EXPECT_EQ(synced->skipped, 1);
  EXPECT_EQ(Keys(), (std::vector<std::string>{"t/c/a", "t/c/c"}));

  CheckpointLimits depth;
  depth.max_depth = 2;
  Write("x/y/z/deep", "d");
  Write("x/shallow", "s");
  CheckpointSync shallow(*store_, "t/depth", dir_, depth);
  ASSERT_TRUE(shallow.Sync().ok());
  EXPECT_TRUE(store_->Stat("t/depth/x/shallow").ok());
  EXPECT_FALSE(store_->Stat("t/depth/x/y/z/deep").ok());
}

TEST_F(CheckpointSyncTest, NothingAfterTheFinalSync) {
  CheckpointSync sync(*store_, "t/c", dir_);
  Write("a", "1");
  auto last = sync.Sync(/*final=*/true);
  ASSERT_TRUE(last.ok());
  EXPECT_EQ(last->files, 1);
  Write("b", "2");
  auto after = sync.Sync();
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->files, 0);
  EXPECT_FALSE(store_->Stat("t/c/b").ok());
  EXPECT_FALSE(sync.TryMarkBusy());  // closed: no periodic sync is queued
}

TEST_F(CheckpointSyncTest, BusyMarkerAllowsOneQueuedSync) {
  CheckpointSync sync(*store_, "t/c", dir_);
  EXPECT_TRUE(sync.TryMarkBusy());
  EXPECT_FALSE(sync.TryMarkBusy());
  sync.ClearBusy();
  EXPECT_TRUE(sync.TryMarkBusy());
}

}  // namespace
}  // namespace tandem::compute::jobs
