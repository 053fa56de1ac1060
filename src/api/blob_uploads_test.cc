#include "api/blob_uploads.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "api/upload_spool.h"
#include "glue/images/errors.h"
#include "glue/images/testing/test_image.h"
#include "glue/store/sha256.h"
#include "glue/store/testing/memory_store.h"

namespace tandem::api {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

class BlobUploadsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("tandem-uploads-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    std::ofstream(dir_ / "left-by-a-previous-process") << "stale";
    BlobUploads::Options o;
    o.dir = dir_.string();
    o.max_bytes = 100;
    o.max_sessions = 2;
    o.abandon_after_micros = 60'000'000;
    uploads_ = std::make_unique<BlobUploads>(o, clock_);
    ASSERT_TRUE(uploads_->Init().ok());
    auto images = images::ImageStore::Open("embedded", objects_.get(), nullptr, &clock_);
    ASSERT_TRUE(images.ok());
    images_ = *std::move(images);
  }
  void TearDown() override {
    uploads_.reset();
    fs::remove_all(dir_);
  }
  size_t Files() const {
    return static_cast<size_t>(std::distance(fs::directory_iterator(dir_), {}));
  }

  FakeClock clock_;
  fs::path dir_;
  std::unique_ptr<store::MemoryStore> objects_ = store::MemoryStore::Create(&clock_);
  std::unique_ptr<images::ImageStore> images_;
  std::unique_ptr<BlobUploads> uploads_;
};

TEST_F(BlobUploadsTest, InitRemovesWhatAPreviousProcessLeft) { EXPECT_EQ(Files(), 0u); }

TEST_F(BlobUploadsTest, ChunksInOrderThenFinish) {
  auto s = uploads_->Start("team/app", "ann");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(Files(), 1u);
  ASSERT_TRUE(uploads_->Append(s->id, "team/app", "ann", 0, "hello ").ok());
  auto bad = uploads_->Append(s->id, "team/app", "ann", 3, "xx");
  EXPECT_EQ(bad.status().code(), StatusCode::kOutOfRange);
  EXPECT_THAT(bad.status().message(), HasSubstr("has 6 bytes"));
  auto more = uploads_->Append(s->id, "team/app", "ann", 6, "world");
  ASSERT_TRUE(more.ok());
  EXPECT_EQ(more->size, 11);
  std::string digest = store::Sha256Digest("hello world!");
  auto done = uploads_->Finish(s->id, "team/app", "ann", digest, "!", *images_);
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_EQ(done->digest, digest);
  EXPECT_EQ(Files(), 0u);
  EXPECT_EQ(uploads_->size(), 0u);
  auto r = images_->OpenBlob("team/app", digest);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*(*r)->ReadAll(), "hello world!");
}

TEST_F(BlobUploadsTest, WrongDigestStoresNothingAndEndsTheSession) {
  auto s = uploads_->Start("team/app", "ann");
  ASSERT_TRUE(s.ok());
  ASSERT_TRUE(uploads_->Append(s->id, "team/app", "ann", std::nullopt, "bytes").ok());
  std::string claimed = store::Sha256Digest("other");
  auto done = uploads_->Finish(s->id, "team/app", "ann", claimed, "", *images_);
  EXPECT_EQ(images::DistributionCode(done.status()), images::codes::kDigestInvalid);
  EXPECT_FALSE(*objects_->HasBlob(store::Sha256Digest("bytes")));  // never reached the store
  EXPECT_EQ(Files(), 0u);
  EXPECT_EQ(images::DistributionCode(uploads_->Get(s->id, "team/app", "ann").status()),
            images::codes::kBlobUploadUnknown);
}

TEST_F(BlobUploadsTest, SessionsBelongToTheirRepositoryAndPrincipal) {
  auto s = uploads_->Start("team/app", "ann");
  ASSERT_TRUE(s.ok());
  for (auto [repo, who] : std::vector<std::pair<std::string, std::string>>{
           {"team/other", "ann"}, {"team/app", "bob"}}) {
    auto got = uploads_->Get(s->id, repo, who);
    EXPECT_EQ(images::DistributionCode(got.status()), images::codes::kBlobUploadUnknown);
    EXPECT_THAT(got.status().message(), HasSubstr(s->id));
  }
  EXPECT_TRUE(uploads_->Get(s->id, "team/app", "ann").ok());
  EXPECT_FALSE(uploads_->Cancel(s->id, "team/app", "bob").ok());
  EXPECT_TRUE(uploads_->Cancel(s->id, "team/app", "ann").ok());
  EXPECT_EQ(Files(), 0u);
}

TEST_F(BlobUploadsTest, BoundedSizeAndCount) {
  auto s = uploads_->Start("team/app", "ann");
  ASSERT_TRUE(s.ok());
  ASSERT_TRUE(uploads_->Append(s->id, "team/app", "ann", 0, std::string(90, 'x')).ok());
  auto over = uploads_->Append(s->id, "team/app", "ann", 90, std::string(11, 'x'));
  EXPECT_EQ(over.status().code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(images::DistributionCode(over.status()), images::codes::kSizeInvalid);
  EXPECT_EQ(uploads_->Get(s->id, "team/app", "ann")->size, 90);  // nothing appended
  ASSERT_TRUE(uploads_->Start("team/app", "ann").ok());
  auto third = uploads_->Start("team/app", "ann");
  EXPECT_EQ(images::DistributionCode(third.status()), images::codes::kTooManyRequests);
  EXPECT_EQ(Files(), 2u);
}

TEST_F(BlobUploadsTest, AbandonedSessionsAreSwept) {
  auto old = uploads_->Start("team/app", "ann");
  ASSERT_TRUE(old.ok());
  clock_.AdvanceSeconds(30);
  auto recent = uploads_->Start("team/app", "ann");
  ASSERT_TRUE(recent.ok());
  clock_.AdvanceSeconds(45);  // old: 75 s idle, recent: 45 s
  EXPECT_EQ(uploads_->Sweep(), 1u);
  EXPECT_EQ(Files(), 1u);
  EXPECT_FALSE(uploads_->Get(old->id, "team/app", "ann").ok());
  EXPECT_TRUE(uploads_->Get(recent->id, "team/app", "ann").ok());
  // Starting a session sweeps too.
  clock_.AdvanceSeconds(61);
  ASSERT_TRUE(uploads_->Start("team/app", "ann").ok());
  EXPECT_FALSE(uploads_->Get(recent->id, "team/app", "ann").ok());
  EXPECT_EQ(Files(), 1u);
}

// Bodies streamed to disk: the first chunk's file is adopted (renamed, its
// hash kept), later ones are copied; bad input leaves nothing behind.
std::shared_ptr<UploadSpool> Spooled(const fs::path& dir, std::string_view data) {
  auto spool = UploadSpool::Create(dir.string());
  EXPECT_TRUE(spool.ok()) << spool.status();
  EXPECT_TRUE((*spool)->Append(data).ok());
  return *spool;
}

TEST_F(BlobUploadsTest, SpooledChunksAreAdoptedThenAppended) {
  auto s = uploads_->Start("team/app", "ann");
  ASSERT_TRUE(s.ok());
  auto first = Spooled(dir_, "hello ");
  const std::string first_path = first->path();
  auto a = uploads_->AppendSpool(s->id, "team/app", "ann", 0, *first);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->size, 6);
  EXPECT_FALSE(fs::exists(first_path));  // renamed into the session's place
  first.reset();
  EXPECT_EQ(Files(), 1u);                // the session's file only
  auto wrong_start = Spooled(dir_, "xx");
  EXPECT_EQ(uploads_->AppendSpool(s->id, "team/app", "ann", 2, *wrong_start).status().code(),
            StatusCode::kOutOfRange);
  wrong_start.reset();
  auto second = Spooled(dir_, "world");
  ASSERT_TRUE(uploads_->AppendSpool(s->id, "team/app", "ann", 6, *second).ok());
  second.reset();
  EXPECT_EQ(Files(), 1u);
  auto last = Spooled(dir_, "!");
  std::string digest = store::Sha256Digest("hello world!");
  auto done = uploads_->Finish(s->id, "team/app", "ann", digest, "", *images_, last.get());
  ASSERT_TRUE(done.ok()) << done.status();
  last.reset();
  EXPECT_EQ(Files(), 0u);
  auto r = images_->OpenBlob("team/app", digest);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*(*r)->ReadAll(), "hello world!");
}

TEST_F(BlobUploadsTest, SpooledBadInputLeavesNothing) {
  auto s = uploads_->Start("team/app", "ann");
  ASSERT_TRUE(s.ok());
  // Over max_bytes (100): refused, the session keeps what it had.
  auto huge = Spooled(dir_, std::string(101, 'x'));
  auto over = uploads_->AppendSpool(s->id, "team/app", "ann", 0, *huge);
  EXPECT_EQ(images::DistributionCode(over.status()), images::codes::kSizeInvalid);
  huge.reset();
  EXPECT_EQ(uploads_->Get(s->id, "team/app", "ann")->size, 0);
  // A digest the bytes do not have: nothing reaches the store, no file stays.
  auto body = Spooled(dir_, "bytes");
  auto done = uploads_->Finish(s->id, "team/app", "ann", store::Sha256Digest("other"), "",
                               *images_, body.get());
  EXPECT_EQ(images::DistributionCode(done.status()), images::codes::kDigestInvalid);
  body.reset();
  EXPECT_FALSE(*objects_->HasBlob(store::Sha256Digest("bytes")));
  EXPECT_EQ(Files(), 0u);
}

}  // namespace
}  // namespace tandem::api
