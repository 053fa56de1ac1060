#include "glue/images/embedded_image_store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "common/clock.h"
#include "glue/images/errors.h"
#include "glue/images/testing/image_store_conformance.h"
#include "glue/images/testing/test_image.h"
#include "glue/store/file_store.h"
#include "glue/store/sha256.h"
#include "glue/store/testing/memory_store.h"

namespace tandem::images {
namespace {

using ::testing::HasSubstr;
using testing::MakeTestImage;
using testing::PushImage;
using testing::ReaderOf;

// The stores behind the conformance factory's image stores live until exit.
std::vector<std::unique_ptr<store::MemoryStore>>& Stores() {
  static auto* stores = new std::vector<std::unique_ptr<store::MemoryStore>>();
  return *stores;
}

INSTANTIATE_TEST_SUITE_P(
    Embedded, ImageStoreConformanceTest,
    ::testing::Values(ImageStoreFactory{
        "embedded",
        [](bus::EventBus* bus) -> std::unique_ptr<ImageStore> {
          Stores().push_back(store::MemoryStore::Create());
          auto s = ImageStore::Open("embedded", Stores().back().get(), bus, nullptr);
          return s.ok() ? *std::move(s) : nullptr;
        }}),
    ImageStoreFactoryName);

class EmbeddedImageStoreTest : public ::testing::Test {
 protected:
  FakeClock clock_;
  std::unique_ptr<store::MemoryStore> objects_ = store::MemoryStore::Create(&clock_);
  EmbeddedImageStore images_{*objects_, nullptr, &clock_};
};

TEST_F(EmbeddedImageStoreTest, OpenNeedsTheObjectStoreAndAKnownScheme) {
  auto none = ImageStore::Open("embedded", nullptr, nullptr, nullptr);
  EXPECT_EQ(none.status().code(), StatusCode::kInvalidArgument);
  auto bad = ImageStore::Open("ftp://x", objects_.get(), nullptr, nullptr);
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(bad.status().message(), HasSubstr("unknown scheme 'ftp'"));
  auto dflt = ImageStore::Open("", objects_.get(), nullptr, nullptr);
  ASSERT_TRUE(dflt.ok());
  EXPECT_EQ((*dflt)->uri(), "embedded");
}

// A finished upload's file with the digest computed as it arrived: on a
// file store it becomes the blob itself, renamed unread (the same inode); on
// a store that must hash it (memory), content that is not what the caller
// says is refused and nothing is named in the repository.
TEST_F(EmbeddedImageStoreTest, PutHashedBlobFileAdoptsTheFileUnread) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("tandem-hashed-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  auto files = store::FileStore::Open((dir / "store").string());
  ASSERT_TRUE(files.ok()) << files.status();
  EmbeddedImageStore on_files(**files, nullptr, &clock_);
  const std::string data = "a layer hashed while it was uploaded";
  const store::BlobInfo hashed{store::Sha256Digest(data), data.size()};
  const std::string file = (dir / "upload").string();
  std::ofstream(file, std::ios::binary) << data;
  struct stat before;
  ASSERT_EQ(::stat(file.c_str(), &before), 0);
  auto put = on_files.PutHashedBlobFile("team/app", file, hashed);
  ASSERT_TRUE(put.ok()) << put.status();
  EXPECT_EQ(put->digest, hashed.digest);
  EXPECT_FALSE(fs::exists(file));
  struct stat blob;
  ASSERT_EQ(::stat((*files)->BlobPath(hashed.digest).c_str(), &blob), 0);
  EXPECT_EQ(blob.st_ino, before.st_ino);
  EXPECT_TRUE(on_files.StatBlob("team/app", hashed.digest).ok());

  std::ofstream(file, std::ios::binary) << "other bytes";
  const store::BlobInfo claimed{store::Sha256Digest("not these"), 11};
  auto refused = images_.PutHashedBlobFile("team/app", file, claimed);  // memory: hashes it
  EXPECT_EQ(refused.status().code(), StatusCode::kFailedPrecondition) << refused.status();
  EXPECT_EQ(images_.StatBlob("team/app", claimed.digest).status().code(), StatusCode::kNotFound);
  fs::remove_all(dir);
}

TEST_F(EmbeddedImageStoreTest, BlobsDedupeWithTheObjectStore) {
  std::string data = "an artifact and a layer";
  auto artifact = objects_->PutString("jobs/1/model.tar.gz", data);
  ASSERT_TRUE(artifact.ok());
  auto blob = images_.PutBlob("team/app", ReaderOf(data), artifact->digest);
  ASSERT_TRUE(blob.ok()) << blob.status();
  EXPECT_EQ(blob->digest, artifact->digest);
  auto stat = objects_->StatBlob(artifact->digest);
  ASSERT_TRUE(stat.ok());
}

TEST_F(EmbeddedImageStoreTest, CorruptBlobIsDataLossOnRead) {
  std::string data = "layer that will rot";
  std::string digest = store::Sha256Digest(data);
  ASSERT_TRUE(images_.PutBlob("team/app", ReaderOf(data), digest).ok());
  ASSERT_TRUE(objects_->CorruptBlobForTest(digest, "rotten bytes here!!").ok());
  auto r = images_.OpenBlob("team/app", digest);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ((*r)->ReadAll().status().code(), StatusCode::kDataLoss);
}

TEST_F(EmbeddedImageStoreTest, CorruptManifestIsDataLoss) {
  auto image = MakeTestImage(1);
  ASSERT_TRUE(PushImage(images_, "team/app", "v1", image).ok());
  ASSERT_TRUE(objects_->CorruptBlobForTest(image.manifest_digest, "{}").ok());
  EXPECT_EQ(images_.GetManifest("team/app", "v1").status().code(), StatusCode::kDataLoss);
}

TEST_F(EmbeddedImageStoreTest, GarbageCollectKeepsReferencedAndRecentBlobs) {
  auto image = MakeTestImage(2);
  ASSERT_TRUE(PushImage(images_, "team/app", "v1", image).ok());
  std::string stray = "uploaded but never named by a manifest";
  std::string stray_digest = store::Sha256Digest(stray);
  ASSERT_TRUE(images_.PutBlob("team/app", ReaderOf(stray), stray_digest).ok());
  // A failed upload leaves bytes no name points at.
  std::string bad = "digest mismatch";
  EXPECT_FALSE(images_.PutBlob("team/app", ReaderOf(bad), stray_digest).ok());

  // Within the grace period nothing goes.
  auto gc = images_.GarbageCollect(3600LL * 1'000'000);
  ASSERT_TRUE(gc.ok()) << gc.status();
  EXPECT_EQ(gc->blob_links_removed, 0u);
  EXPECT_EQ(gc->blobs_deleted, 0u);
  EXPECT_TRUE(images_.StatBlob("team/app", stray_digest).ok());

  clock_.AdvanceSeconds(7200);
  gc = images_.GarbageCollect(3600LL * 1'000'000);
  ASSERT_TRUE(gc.ok()) << gc.status();
  EXPECT_EQ(gc->blob_links_removed, 1u);
  EXPECT_EQ(gc->blobs_deleted, 2u);  // the stray blob and the mismatched upload
  EXPECT_EQ(images_.StatBlob("team/app", stray_digest).status().code(), StatusCode::kNotFound);
  EXPECT_FALSE(*objects_->HasBlob(store::Sha256Digest(bad)));
  // The image is intact.
  EXPECT_TRUE(images_.GetManifest("team/app", "v1").ok());
  for (const auto& layer : image.layers) {
    auto r = images_.OpenBlob("team/app", layer.digest);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(*(*r)->ReadAll(), layer.bytes);
  }

  // Deleting the manifest makes its blobs and the manifest bytes collectable.
  ASSERT_TRUE(images_.DeleteManifest("team/app", image.manifest_digest).ok());
  clock_.AdvanceSeconds(7200);
  gc = images_.GarbageCollect(0);
  ASSERT_TRUE(gc.ok()) << gc.status();
  EXPECT_EQ(gc->blob_links_removed, 3u);
  // Config, two layers, the manifest's bytes and the emptied catalog entry.
  EXPECT_EQ(gc->blobs_deleted, 5u);
  auto repos = images_.ListRepositories();
  ASSERT_TRUE(repos.ok());
  EXPECT_TRUE(repos->names.empty());
  EXPECT_EQ(DistributionCode(images_.ListTags("team/app").status()), codes::kNameUnknown);
}

TEST_F(EmbeddedImageStoreTest, NegativeGraceRefused) {
  EXPECT_EQ(images_.GarbageCollect(-1).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace tandem::images
