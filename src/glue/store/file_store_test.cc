#include "glue/store/file_store.h"

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

#include "common/clock.h"
#include "common/ids.h"
#include "glue/store/sha256.h"
#include "glue/store/testing/object_store_conformance.h"
#include "glue/store/testing/test_data.h"

namespace tandem::store {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

std::string NewTempDir(std::string_view tag) {
  fs::path p =
      fs::temp_directory_path() / ("tandem-" + std::string(tag) + "-" + NewUlid(Clock::Real()) +
                                   "-" + std::to_string(::getpid()));
  fs::create_directories(p);
  return p.string();
}

// Stores made by the conformance factory live under one dir removed at exit.
class StoreDirs : public ::testing::Environment {
 public:
  void SetUp() override { base_ = NewTempDir("filestore-conf"); }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(base_, ec);
  }
  std::string Next() { return base_ + "/" + std::to_string(next_++); }

 private:
  std::string base_;
  int next_ = 0;
};
StoreDirs* const store_dirs =
    static_cast<StoreDirs*>(::testing::AddGlobalTestEnvironment(new StoreDirs));

INSTANTIATE_TEST_SUITE_P(File, ObjectStoreConformanceTest,
                         ::testing::Values(ObjectStoreFactory{
                             "file",
                             []() -> std::unique_ptr<ObjectStore> {
                               auto s = ObjectStore::Open("file://" + store_dirs->Next());
                               return s.ok() ? *std::move(s) : nullptr;
                             }}),
                         ObjectStoreFactoryName);

size_t CountFiles(const std::string& dir) {
  size_t n = 0;
  for (const auto& e : fs::recursive_directory_iterator(dir)) n += e.is_regular_file() ? 1 : 0;
  return n;
}

class FileStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = NewTempDir("filestore");
    root_ = dir_ + "/store";
    auto s = FileStore::Open(root_);
    ASSERT_TRUE(s.ok()) << s.status();
    store_ = *std::move(s);
  }
  void TearDown() override {
    store_.reset();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  void FlipByte(const std::string& path, size_t offset) {
    fs::permissions(path, fs::perms::owner_write, fs::perm_options::add);
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(static_cast<std::streamoff>(offset));
    char c;
    f.get(c);
    f.seekp(static_cast<std::streamoff>(offset));
    f.put(static_cast<char>(c ^ 0x01));
  }

  std::string dir_;
  std::string root_;
  std::unique_ptr<FileStore> store_;
};

TEST_F(FileStoreTest, LayoutOnDisk) {
  auto put = store_->PutString("jobs/j1/model.tar.gz", "abc");
  ASSERT_TRUE(put.ok());
  EXPECT_TRUE(fs::is_regular_file(
      root_ + "/blobs/sha256/ba/ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
  EXPECT_EQ(store_->BlobPath(put->digest),
            root_ +
                "/blobs/sha256/ba/"
                "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_TRUE(fs::is_regular_file(root_ + "/names/jobs.d/j1.d/model.tar.gz.obj"));
  EXPECT_TRUE(fs::is_empty(root_ + "/tmp"));
}

// An upload's spool file is taken, not copied: hashed by the store, renamed
// to its blob path (read-only) and gone from where it was.
TEST_F(FileStoreTest, AdoptBlobFileRenamesTheFileIntoPlace) {
  const std::string file = dir_ + "/upload";
  std::ofstream(file, std::ios::binary) << "abc";
  struct stat before;
  ASSERT_EQ(::stat(file.c_str(), &before), 0);
  auto adopted = store_->AdoptBlobFile(file);
  ASSERT_TRUE(adopted.ok()) << adopted.status();
  EXPECT_EQ(adopted->digest,
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(adopted->size, 3u);
  EXPECT_FALSE(fs::exists(file));
  struct stat blob;
  ASSERT_EQ(::stat(store_->BlobPath(adopted->digest).c_str(), &blob), 0);
  EXPECT_EQ(blob.st_ino, before.st_ino);  // the same file, renamed
  EXPECT_EQ(blob.st_mode & 0777, 0444u);
  EXPECT_TRUE(store_->VerifyBlob(adopted->digest).ok());
  EXPECT_TRUE(fs::is_empty(root_ + "/tmp"));

  // The same content again: the stored blob stays, the file is left to the caller.
  std::ofstream(file, std::ios::binary) << "abc";
  auto again = store_->AdoptBlobFile(file);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->digest, adopted->digest);
  EXPECT_EQ(CountFiles(root_ + "/blobs"), 1u);

  // Not a regular file, or missing: refused, nothing stored.
  EXPECT_EQ(store_->AdoptBlobFile(dir_).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->AdoptBlobFile(dir_ + "/missing").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(CountFiles(root_ + "/blobs"), 1u);
}

// With the digest known (an upload hashed as it arrived) the file is renamed
// into place unread: the store takes the caller's word, which shows in a
// file that does not hold what the caller said: it is stored under that
// digest, but never served (every read verifies it: DataLoss).
TEST_F(FileStoreTest, AdoptHashedBlobFileRenamesTheFileUnread) {
  const std::string file = dir_ + "/upload";
  std::ofstream(file, std::ios::binary) << "abc";
  struct stat before;
  ASSERT_EQ(::stat(file.c_str(), &before), 0);
  const BlobInfo abc{"sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", 3};
  auto adopted = store_->AdoptHashedBlobFile(file, abc);
  ASSERT_TRUE(adopted.ok()) << adopted.status();
  EXPECT_EQ(adopted->digest, abc.digest);
  EXPECT_FALSE(fs::exists(file));
  struct stat blob;
  ASSERT_EQ(::stat(store_->BlobPath(abc.digest).c_str(), &blob), 0);
  EXPECT_EQ(blob.st_ino, before.st_ino);
  EXPECT_EQ(blob.st_mode & 0777, 0444u);
  EXPECT_TRUE(store_->VerifyBlob(abc.digest).ok());

  std::ofstream(file, std::ios::binary) << "xyz";  // not what the caller says
  const BlobInfo claimed{"sha256:" + std::string(64, '1'), 3};
  ASSERT_TRUE(store_->AdoptHashedBlobFile(file, claimed).ok());
  EXPECT_EQ(store_->VerifyBlob(claimed.digest).code(), StatusCode::kDataLoss);
  EXPECT_TRUE(fs::is_empty(root_ + "/tmp"));
}

// A file on another filesystem (tmpfs /dev/shm here) cannot be renamed into
// the store: it is copied, and left where it was.
TEST_F(FileStoreTest, AdoptBlobFileFromAnotherFilesystemCopies) {
  struct stat shm, root;
  if (::stat("/dev/shm", &shm) != 0 || ::stat(root_.c_str(), &root) != 0 ||
      shm.st_dev == root.st_dev) {
    GTEST_SKIP() << "/dev/shm is missing or on the store's filesystem";
  }
  const std::string file = "/dev/shm/tandem-adopt-" + std::to_string(::getpid());
  std::ofstream(file, std::ios::binary) << "xyz";
  auto adopted = store_->AdoptBlobFile(file);
  ASSERT_TRUE(adopted.ok()) << adopted.status();
  EXPECT_TRUE(fs::exists(file));
  EXPECT_TRUE(store_->VerifyBlob(adopted->digest).ok());
  // Copying reads the file, so a digest known beforehand is checked.
  auto hashed = store_->AdoptHashedBlobFile(file, *adopted);
  EXPECT_TRUE(hashed.ok()) << hashed.status();
  auto wrong = store_->AdoptHashedBlobFile(file, {"sha256:" + std::string(64, '2'), 3});
  EXPECT_EQ(wrong.status().code(), StatusCode::kFailedPrecondition) << wrong.status();
  fs::remove(file);
}

// A bind mount of the store's own filesystem (as a container's volumes are)
// has the same st_dev, yet rename() across it fails with EXDEV: the file is
// copied instead. Run in a child in its own user and mount namespaces, where
// `dir_/mnt` is a bind mount of `dir_/outside`.
TEST_F(FileStoreTest, AdoptBlobFileAcrossABindMountOfTheSameFilesystemCopies) {
  fs::create_directories(dir_ + "/outside");
  fs::create_directories(dir_ + "/mnt");
  const uid_t uid = ::getuid();
  const gid_t gid = ::getgid();
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    if (::unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0) ::_exit(77);  // no namespaces here
    auto write = [](const std::string& path, const std::string& text) {
      std::ofstream(path) << text;
    };
    write("/proc/self/setgroups", "deny");
    write("/proc/self/uid_map", "0 " + std::to_string(uid) + " 1");
    write("/proc/self/gid_map", "0 " + std::to_string(gid) + " 1");
    if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) ::_exit(77);
    if (::mount((dir_ + "/outside").c_str(), (dir_ + "/mnt").c_str(), nullptr, MS_BIND,
                nullptr) != 0) {
      ::_exit(77);
    }
    const std::string file = dir_ + "/mnt/model.tar.gz";
    std::ofstream(file, std::ios::binary) << "packed model";
    auto adopted = store_->AdoptBlobFile(file);
    if (!adopted.ok()) ::_exit(1);
    if (!store_->VerifyBlob(adopted->digest).ok()) ::_exit(2);
    ::_exit(fs::exists(file) ? 0 : 3);  // copied, left where it was
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  if (WEXITSTATUS(status) == 77) GTEST_SKIP() << "no user/mount namespaces here";
  EXPECT_EQ(WEXITSTATUS(status), 0) << "1: AdoptBlobFile failed, 2: blob damaged, 3: file moved";
  EXPECT_EQ(CountFiles(root_ + "/blobs"), 1u);
}

// Staging without a copy: the path becomes another name of the blob's file
// (read-only, nothing read); bad arguments and absent blobs change nothing.
TEST_F(FileStoreTest, LinkBlobToFileMakesAHardLinkOfTheBlob) {
  auto put = store_->PutBlobFromString("abc");
  ASSERT_TRUE(put.ok()) << put.status();
  const std::string path = dir_ + "/staged";
  ASSERT_TRUE(store_->LinkBlobToFile(put->digest, path).ok());
  struct stat blob, linked;
  ASSERT_EQ(::stat(store_->BlobPath(put->digest).c_str(), &blob), 0);
  ASSERT_EQ(::stat(path.c_str(), &linked), 0);
  EXPECT_EQ(linked.st_ino, blob.st_ino);
  EXPECT_EQ(linked.st_mode & 0777, 0444u);
  std::ifstream in(path);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(text, "abc");

  EXPECT_EQ(store_->LinkBlobToFile(put->digest, path).code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(store_->LinkBlobToFile("sha256:" + std::string(64, 'f'), dir_ + "/absent").code(),
            StatusCode::kNotFound);
  EXPECT_FALSE(fs::exists(dir_ + "/absent"));
  EXPECT_EQ(store_->LinkBlobToFile("sha256:nothex", dir_ + "/bad").code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->LinkBlobToFile(put->digest, "").code(), StatusCode::kInvalidArgument);
  EXPECT_FALSE(fs::exists(dir_ + "/bad"));
  EXPECT_EQ(CountFiles(root_ + "/blobs"), 1u);
}

// Another filesystem: Unimplemented (the caller copies instead).
TEST_F(FileStoreTest, LinkBlobToFileAcrossFilesystemsIsUnimplemented) {
  struct stat shm, root;
  if (::stat("/dev/shm", &shm) != 0 || ::stat(root_.c_str(), &root) != 0 ||
      shm.st_dev == root.st_dev) {
    GTEST_SKIP() << "/dev/shm is missing or on the store's filesystem";
  }
  auto put = store_->PutBlobFromString("xyz");
  ASSERT_TRUE(put.ok()) << put.status();
  const std::string path = "/dev/shm/tandem-link-" + std::to_string(::getpid());
  EXPECT_EQ(store_->LinkBlobToFile(put->digest, path).code(), StatusCode::kUnimplemented);
  EXPECT_FALSE(fs::exists(path));
}

TEST_F(FileStoreTest, OpenByUri) {
  auto s = ObjectStore::Open("file://" + dir_ + "/other");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ((*s)->uri(), "file://" + dir_ + "/other");
  EXPECT_TRUE(fs::is_directory(dir_ + "/other/blobs/sha256"));
}

TEST_F(FileStoreTest, FlippedByteIsDataLossEverywhereAndWritesNothing) {
  const std::string content = RandomBytes(1024 * 1024, 7);
  auto put = store_->PutString("m", content);
  ASSERT_TRUE(put.ok());
  FlipByte(store_->BlobPath(put->digest), 500'000);

  auto reader = store_->Get("m");
  ASSERT_TRUE(reader.ok());  // opening succeeds; the mismatch is found at the end
  std::vector<char> buf(64 * 1024);
  Status final_status;
  for (;;) {
    auto n = (*reader)->Read(buf.data(), buf.size());
    if (!n.ok()) {
      final_status = n.status();
      break;
    }
    ASSERT_NE(*n, 0u) << "corrupt blob reached EOF without DataLoss";
  }
  EXPECT_EQ(final_status.code(), StatusCode::kDataLoss);
  EXPECT_THAT(std::string(final_status.message()), HasSubstr(put->digest));

  EXPECT_EQ(store_->GetString("m").status().code(), StatusCode::kDataLoss);
  EXPECT_EQ(store_->VerifyBlob(put->digest).code(), StatusCode::kDataLoss);
  const std::string out_dir = dir_ + "/out";
  fs::create_directories(out_dir);
  EXPECT_EQ(store_->GetBlobToFile(put->digest, out_dir + "/model").code(), StatusCode::kDataLoss);
  EXPECT_EQ(store_->GetToFile("m", out_dir + "/model").code(), StatusCode::kDataLoss);
  EXPECT_TRUE(fs::is_empty(out_dir)) << "partial or temp file left behind";

  // Re-putting the good content does not heal a same-size corrupt blob
  // silently, but a truncated one is replaced.
  fs::resize_file(store_->BlobPath(put->digest), 10);
  EXPECT_EQ(store_->VerifyBlob(put->digest).code(), StatusCode::kDataLoss);
  ASSERT_TRUE(store_->PutString("m", content).ok());
  EXPECT_TRUE(store_->VerifyBlob(put->digest).ok());
}

TEST_F(FileStoreTest, ConcurrentWritersOfOneBlobFromThreads) {
  const std::string content = RandomBytes(4 * 1024 * 1024, 9);
  const std::string digest = Sha256Digest(content);
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&] {
      auto put = store_->PutBlobFromString(content);
      ASSERT_TRUE(put.ok()) << put.status();
      EXPECT_EQ(put->digest, digest);
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(CountFiles(root_ + "/blobs"), 1u);
  EXPECT_TRUE(fs::is_empty(root_ + "/tmp"));
  EXPECT_TRUE(store_->VerifyBlob(digest).ok());
}

TEST_F(FileStoreTest, ConcurrentWritersOfOneBlobFromProcesses) {
  const std::string content = RandomBytes(4 * 1024 * 1024, 11);
  const std::string digest = Sha256Digest(content);
  std::vector<pid_t> children;
  for (int i = 0; i < 4; ++i) {
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      auto store = ObjectStore::Open("file://" + root_);
      bool ok = store.ok();
      for (int round = 0; ok && round < 3; ++round) {
        auto put = (*store)->PutString("shared/key", content);
        ok = put.ok() && put->digest == digest;
      }
      ::_exit(ok ? 0 : 1);
    }
    children.push_back(pid);
  }
  for (pid_t pid : children) {
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "child failed";
  }
  EXPECT_EQ(CountFiles(root_ + "/blobs"), 1u);
  EXPECT_TRUE(fs::is_empty(root_ + "/tmp"));
  EXPECT_TRUE(store_->VerifyBlob(digest).ok());
  EXPECT_EQ(store_->Stat("shared/key")->digest, digest);
}

TEST_F(FileStoreTest, SymlinkPlantedUnderNamesIsRefused) {
  // An attacker-controlled dir outside the root holding a valid-looking record.
  const std::string outside = dir_ + "/outside";
  fs::create_directories(outside);
  auto blob = store_->PutBlobFromString("secret");
  ASSERT_TRUE(blob.ok());
  {
    std::ofstream rec(outside + "/x.obj");
    rec << R"({"key":"evil/x","digest":")" << blob->digest << R"(","size":6,"created_micros":1})";
  }
  fs::create_directory_symlink(outside, root_ + "/names/evil.d");
  fs::create_symlink(outside + "/x.obj", root_ + "/names/leaf.obj");

  for (const char* key : {"evil/x", "leaf"}) {
    SCOPED_TRACE(key);
    auto stat = store_->Stat(key);
    EXPECT_EQ(stat.status().code(), StatusCode::kPermissionDenied);
    EXPECT_THAT(std::string(stat.status().message()), HasSubstr(key));
    EXPECT_EQ(store_->Get(key).status().code(), StatusCode::kPermissionDenied);
  }
  EXPECT_EQ(store_->PutString("evil/y", "data").status().code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(store_->Link("evil/sub/z", blob->digest).status().code(),
            StatusCode::kPermissionDenied);
  // Nothing was written outside; listing does not follow the symlinks.
  EXPECT_EQ(CountFiles(outside), 1u);
  EXPECT_EQ(std::distance(fs::directory_iterator(outside), fs::directory_iterator()), 1);
  EXPECT_TRUE(store_->List("")->objects.empty());
}

TEST_F(FileStoreTest, GarbageCollectKeepsReferencedAndRecentBlobs) {
  auto live = store_->PutString("live", "live");
  auto dead = store_->PutBlobFromString("dead");
  ASSERT_TRUE(live.ok() && dead.ok());
  auto gc = store_->GarbageCollect(3600LL * 1'000'000);
  ASSERT_TRUE(gc.ok());
  EXPECT_EQ(gc->blobs_deleted, 0u);
  EXPECT_EQ(gc->blobs_kept, 2u);
  // Age the dead blob past the grace period.
  struct timespec old_times[2] = {{1'000'000'000, 0}, {1'000'000'000, 0}};
  ASSERT_EQ(::utimensat(AT_FDCWD, store_->BlobPath(dead->digest).c_str(), old_times, 0), 0);
  gc = store_->GarbageCollect(3600LL * 1'000'000);
  ASSERT_TRUE(gc.ok());
  EXPECT_EQ(gc->blobs_deleted, 1u);
  EXPECT_FALSE(*store_->HasBlob(dead->digest));
  EXPECT_TRUE(*store_->HasBlob(live->digest));
}

TEST_F(FileStoreTest, CorruptNameRecordIsDataLoss) {
  ASSERT_TRUE(store_->PutString("k", "v").ok());
  { std::ofstream(root_ + "/names/k.obj") << "not json"; }
  EXPECT_EQ(store_->Stat("k").status().code(), StatusCode::kDataLoss);
  EXPECT_EQ(store_->GarbageCollect(0).status().code(), StatusCode::kDataLoss);
}

TEST(FileStoreOpenTest, RejectsRelativeRootAndUnknownScheme) {
  EXPECT_EQ(FileStore::Open("relative/dir").status().code(), StatusCode::kInvalidArgument);
  auto s3 = ObjectStore::Open("gopher://bucket/x");
  EXPECT_EQ(s3.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s3.status().message()), HasSubstr("gopher"));
  EXPECT_EQ(ObjectStore::Open("file://host/x").status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace tandem::store
