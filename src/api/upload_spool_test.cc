// UploadSpool: the body's bytes go to a file and its hash; a write that
// fails (a full disk: /dev/full in place of the file) is InsufficientStorage
// saying the server is out of space, and the partial file is gone at once.
#include "api/upload_spool.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/http_status.h"
#include "glue/store/sha256.h"

namespace tandem::api {
namespace {

namespace fs = std::filesystem;

class UploadSpoolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("tandem-spool-" + std::to_string(::getpid()));
    ASSERT_TRUE(PrepareSpoolDir(dir_.string()).ok());
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

TEST_F(UploadSpoolTest, SpoolsAndHashesTheBody) {
  auto spool = UploadSpool::Create(dir_.string());
  ASSERT_TRUE(spool.ok()) << spool.status();
  ASSERT_TRUE((*spool)->Append("hello ").ok());
  ASSERT_TRUE((*spool)->Append("world").ok());
  std::ifstream in((*spool)->path());
  std::stringstream text;
  text << in.rdbuf();
  EXPECT_EQ(text.str(), "hello world");
  store::BlobInfo info = (*spool)->TakeBlobInfo();
  EXPECT_EQ(info.digest, store::Sha256Digest("hello world"));
  EXPECT_EQ(info.size, 11u);
  const std::string path = (*spool)->path();
  spool->reset();
  EXPECT_FALSE(fs::exists(path));  // not adopted: removed with the spool
}

TEST_F(UploadSpoolTest, AFullDiskIsInsufficientStorageAndRemovesThePartialFile) {
  auto spool = UploadSpool::Create(dir_.string());
  ASSERT_TRUE(spool.ok()) << spool.status();
  ASSERT_TRUE((*spool)->Append(std::string(4096, 'a')).ok());
  const std::string path = (*spool)->path();
  ASSERT_TRUE(fs::exists(path));
  // The disk fills up: writes to the spool's descriptor now fail with ENOSPC.
  const int full = ::open("/dev/full", O_WRONLY | O_CLOEXEC);
  ASSERT_GE(full, 0);
  ASSERT_EQ(::dup2(full, (*spool)->fd()), (*spool)->fd());
  ::close(full);
  Status s = (*spool)->Append(std::string(4096, 'b'));
  EXPECT_TRUE(IsInsufficientStorage(s)) << s;
  EXPECT_EQ(HttpStatusOf(s), 507);
  EXPECT_NE(s.message().find("out of storage space"), std::string_view::npos) << s;
  EXPECT_NE(s.message().find("No space left on device"), std::string_view::npos) << s;
  EXPECT_FALSE(fs::exists(path)) << "the partial file is removed at once";
  EXPECT_TRUE(fs::is_empty(dir_));
  EXPECT_EQ((*spool)->bytes(), 4096);  // what was written before
  EXPECT_EQ((*spool)->status(), s);    // and it stays refused
  EXPECT_EQ((*spool)->Append("more"), s);
}

}  // namespace
}  // namespace tandem::api
