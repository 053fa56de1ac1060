#include "glue/images/testing/image_store_conformance.h"

#include <gmock/gmock.h>

#include "glue/bus/event_types.h"
#include "glue/bus/testing/memory_bus.h"
#include "glue/images/errors.h"
#include "glue/images/manifest.h"
#include "glue/images/testing/test_image.h"
#include "glue/store/sha256.h"

namespace tandem::images {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::MakeTestImage;
using testing::PushBlobs;
using testing::PushImage;
using testing::ReaderOf;
using testing::TestImage;
namespace mt = media_types;

void ImageStoreConformanceTest::SetUp() {
  if (!GetParam().skip_reason.empty()) GTEST_SKIP() << GetParam().skip_reason;
  auto bus = bus::NewMemoryEventBus(Clock::Real());
  ASSERT_TRUE(bus.ok()) << bus.status();
  bus_ = *std::move(bus);
  store_ = GetParam().make(bus_.get());
  ASSERT_NE(store_, nullptr) << "factory '" << GetParam().name << "' failed";
}

void ImageStoreConformanceTest::TearDown() {
  store_.reset();
  bus_.reset();
}

std::vector<Json> ImageStoreConformanceTest::ImageEvents() {
  std::vector<Json> out;
  bus::TailOptions opts;
  opts.limit = 1000;
  auto tail = bus_->Tail(opts);
  EXPECT_TRUE(tail.ok()) << tail.status();
  if (!tail.ok()) return out;
  for (const auto& e : tail->events) {
    if (e.event.source == bus::events::kImagesSource &&
        e.event.detail_type == bus::events::kImageAction) {
      out.push_back(e.event.detail);
    }
  }
  return out;
}

namespace {

#define EXPECT_IMAGE_ERROR(expr, canonical, dist, substr)               \
  do {                                                                  \
    ::tandem::Status s_ = (expr);                                       \
    EXPECT_EQ(s_.code(), canonical) << s_;                              \
    EXPECT_EQ(DistributionCode(s_), dist) << s_;                        \
    EXPECT_THAT(std::string(s_.message()), HasSubstr(substr)) << s_;    \
  } while (0)

TEST_P(ImageStoreConformanceTest, BlobPushStatPull) {
  std::string data = "layer bytes " + std::string(100000, 'x');
  std::string digest = store::Sha256Digest(data);
  auto put = store_->PutBlob("team/app", ReaderOf(data, 777), digest);
  ASSERT_TRUE(put.ok()) << put.status();
  EXPECT_EQ(put->digest, digest);
  EXPECT_EQ(put->size, data.size());
  auto stat = store_->StatBlob("team/app", digest);
  ASSERT_TRUE(stat.ok()) << stat.status();
  EXPECT_EQ(stat->size, data.size());
  auto reader = store_->OpenBlob("team/app", digest);
  ASSERT_TRUE(reader.ok()) << reader.status();
  auto all = (*reader)->ReadAll();
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_EQ(*all, data);
  // Pushing the same blob again is fine.
  EXPECT_TRUE(store_->PutBlob("team/app", ReaderOf(data), digest).ok());
}

TEST_P(ImageStoreConformanceTest, BlobWithoutExpectedDigestIsComputed) {
  std::string data = "some config";
  auto put = store_->PutBlob("team/app", ReaderOf(data));
  ASSERT_TRUE(put.ok()) << put.status();
  EXPECT_EQ(put->digest, store::Sha256Digest(data));
  EXPECT_TRUE(store_->StatBlob("team/app", put->digest).ok());
}

TEST_P(ImageStoreConformanceTest, DigestMismatchRefusedAndNothingStored) {
  std::string data = "what was sent";
  std::string claimed = store::Sha256Digest("what was promised");
  auto put = store_->PutBlob("team/app", ReaderOf(data), claimed);
  EXPECT_IMAGE_ERROR(put.status(), StatusCode::kInvalidArgument, codes::kDigestInvalid,
                     claimed);
  EXPECT_EQ(store_->StatBlob("team/app", claimed).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store_->StatBlob("team/app", store::Sha256Digest(data)).status().code(),
            StatusCode::kNotFound);
}

TEST_P(ImageStoreConformanceTest, UnknownBlobIsBlobUnknown) {
  ASSERT_TRUE(store_->PutBlob("team/app", ReaderOf("x")).ok());
  std::string missing = store::Sha256Digest("never pushed");
  EXPECT_IMAGE_ERROR(store_->StatBlob("team/app", missing).status(), StatusCode::kNotFound,
                     codes::kBlobUnknown, missing);
  EXPECT_IMAGE_ERROR(store_->OpenBlob("team/app", missing).status(), StatusCode::kNotFound,
                     codes::kBlobUnknown, missing);
}

TEST_P(ImageStoreConformanceTest, InvalidNamesRefused) {
  EXPECT_IMAGE_ERROR(store_->PutBlob("../etc", ReaderOf("x")).status(),
                     StatusCode::kInvalidArgument, codes::kNameInvalid, "../etc");
  EXPECT_IMAGE_ERROR(store_->GetManifest("Team/App", "v1").status(), StatusCode::kInvalidArgument,
                     codes::kNameInvalid, "lower case");
  EXPECT_EQ(store_->GetManifest("team/app", "bad tag").status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_IMAGE_ERROR(store_->StatBlob("team/app", "sha256:12").status(),
                     StatusCode::kInvalidArgument, codes::kDigestInvalid, "64 hex");
}

TEST_P(ImageStoreConformanceTest, ManifestByTagAndByDigest) {
  TestImage image = MakeTestImage(1);
  auto digest = PushImage(*store_, "team/app", "v1", image);
  ASSERT_TRUE(digest.ok()) << digest.status();
  EXPECT_EQ(*digest, image.manifest_digest);
  for (const std::string& ref : {std::string("v1"), image.manifest_digest}) {
    auto m = store_->GetManifest("team/app", ref);
    ASSERT_TRUE(m.ok()) << ref << ": " << m.status();
    EXPECT_EQ(m->bytes, image.manifest_bytes);
    EXPECT_EQ(m->digest, image.manifest_digest);
    EXPECT_EQ(m->media_type, mt::kOciManifest);
  }
  auto ref = ParseReference("team/app:v1");
  ASSERT_TRUE(ref.ok());
  auto resolved = store_->Resolve(*ref);
  ASSERT_TRUE(resolved.ok()) << resolved.status();
  EXPECT_EQ(*resolved, image.manifest_digest);
  auto by_digest = store_->Resolve(*ParseReference("team/app@" + image.manifest_digest));
  ASSERT_TRUE(by_digest.ok()) << by_digest.status();
  EXPECT_EQ(*by_digest, image.manifest_digest);
}

TEST_P(ImageStoreConformanceTest, TagMovesOnRepush) {
  TestImage a = MakeTestImage(1), b = MakeTestImage(2);
  ASSERT_TRUE(PushImage(*store_, "team/app", "latest", a).ok());
  ASSERT_TRUE(PushImage(*store_, "team/app", "latest", b).ok());
  auto m = store_->GetManifest("team/app", "latest");
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->digest, b.manifest_digest);
  // The old manifest is still there by digest.
  EXPECT_TRUE(store_->GetManifest("team/app", a.manifest_digest).ok());
}

TEST_P(ImageStoreConformanceTest, ManifestByDigestMustMatch) {
  TestImage image = MakeTestImage(3);
  ASSERT_TRUE(PushBlobs(*store_, "team/app", image).ok());
  auto ok = store_->PutManifest("team/app", image.manifest_digest, mt::kOciManifest,
                                image.manifest_bytes);
  ASSERT_TRUE(ok.ok()) << ok.status();
  std::string other = store::Sha256Digest("other");
  auto bad = store_->PutManifest("team/app", other, mt::kOciManifest, image.manifest_bytes);
  EXPECT_IMAGE_ERROR(bad.status(), StatusCode::kInvalidArgument, codes::kDigestInvalid, other);
}

TEST_P(ImageStoreConformanceTest, ManifestNamingMissingBlobRefused) {
  TestImage image = MakeTestImage(4);
  // The config and the first layer, not the second.
  ASSERT_TRUE(store_->PutBlob("team/app", ReaderOf(image.config.bytes), image.config.digest).ok());
  ASSERT_TRUE(
      store_->PutBlob("team/app", ReaderOf(image.layers[0].bytes), image.layers[0].digest).ok());
  auto put = store_->PutManifest("team/app", "v1", mt::kOciManifest, image.manifest_bytes);
  EXPECT_IMAGE_ERROR(put.status(), StatusCode::kNotFound, codes::kManifestBlobUnknown,
                     image.layers[1].digest);
  EXPECT_EQ(store_->GetManifest("team/app", "v1").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store_->GetManifest("team/app", image.manifest_digest).status().code(),
            StatusCode::kNotFound);
  EXPECT_TRUE(ImageEvents().empty());
}

TEST_P(ImageStoreConformanceTest, BlobsOfAnotherRepositoryDoNotCount) {
  TestImage image = MakeTestImage(5);
  ASSERT_TRUE(PushBlobs(*store_, "team/one", image).ok());
  auto put = store_->PutManifest("team/two", "v1", mt::kOciManifest, image.manifest_bytes);
  EXPECT_EQ(DistributionCode(put.status()), codes::kManifestBlobUnknown) << put.status();
}

TEST_P(ImageStoreConformanceTest, OversizeAndInvalidManifestsRefused) {
  ASSERT_TRUE(store_->PutBlob("team/app", ReaderOf("x")).ok());
  std::string big = "{\"schemaVersion\":2,\"annotations\":{\"x\":\"" +
                    std::string(kMaxManifestBytes, 'x') + "\"}}";
  EXPECT_IMAGE_ERROR(store_->PutManifest("team/app", "big", "", big).status(),
                     StatusCode::kResourceExhausted, codes::kSizeInvalid, "limit");
  EXPECT_IMAGE_ERROR(store_->PutManifest("team/app", "bad", "", "{not json").status(),
                     StatusCode::kInvalidArgument, codes::kManifestInvalid, "JSON");
  EXPECT_EQ(store_->GetManifest("team/app", "big").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store_->GetManifest("team/app", "bad").status().code(), StatusCode::kNotFound);
}

TEST_P(ImageStoreConformanceTest, DockerSchema2Manifest) {
  TestImage image = MakeTestImage(6, 1, 500, mt::kDockerManifest);
  ASSERT_TRUE(PushImage(*store_, "team/docker", "v1", image).ok());
  auto m = store_->GetManifest("team/docker", "v1");
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->media_type, mt::kDockerManifest);
  EXPECT_EQ(m->bytes, image.manifest_bytes);
}

TEST_P(ImageStoreConformanceTest, IndexManifest) {
  TestImage amd = MakeTestImage(7), arm = MakeTestImage(8);
  ASSERT_TRUE(PushImage(*store_, "team/multi", amd.manifest_digest, amd).ok());
  Index index;
  index.media_type = std::string(mt::kOciIndex);
  index.manifests.push_back({.media_type = std::string(mt::kOciManifest),
                             .digest = amd.manifest_digest,
                             .size = static_cast<int64_t>(amd.manifest_bytes.size()),
                             .platform = Platform{"amd64", "linux", ""}});
  index.manifests.push_back({.media_type = std::string(mt::kOciManifest),
                             .digest = arm.manifest_digest,
                             .size = static_cast<int64_t>(arm.manifest_bytes.size()),
                             .platform = Platform{"arm64", "linux", "v8"}});
  std::string bytes = SerializeIndex(index);
  // The arm64 manifest is not pushed yet.
  auto refused = store_->PutManifest("team/multi", "v1", mt::kOciIndex, bytes);
  EXPECT_IMAGE_ERROR(refused.status(), StatusCode::kNotFound, codes::kManifestBlobUnknown,
                     arm.manifest_digest);
  ASSERT_TRUE(PushImage(*store_, "team/multi", arm.manifest_digest, arm).ok());
  auto put = store_->PutManifest("team/multi", "v1", mt::kOciIndex, bytes);
  ASSERT_TRUE(put.ok()) << put.status();
  auto m = store_->GetManifest("team/multi", "v1");
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->media_type, mt::kOciIndex);
  EXPECT_EQ(m->bytes, bytes);
  EXPECT_EQ(m->digest, store::Sha256Digest(bytes));
}

TEST_P(ImageStoreConformanceTest, TagsListPagination) {
  TestImage image = MakeTestImage(9);
  ASSERT_TRUE(PushBlobs(*store_, "team/app", image).ok());
  for (std::string tag : {"v3", "v1", "a", "v2", "B", "v10"}) {
    ASSERT_TRUE(
        store_->PutManifest("team/app", tag, mt::kOciManifest, image.manifest_bytes).ok());
  }
  auto all = store_->ListTags("team/app");
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_THAT(all->names, ElementsAre("B", "a", "v1", "v10", "v2", "v3"));
  EXPECT_FALSE(all->more);
  auto p1 = store_->ListTags("team/app", "", 4);
  ASSERT_TRUE(p1.ok()) << p1.status();
  EXPECT_THAT(p1->names, ElementsAre("B", "a", "v1", "v10"));
  EXPECT_TRUE(p1->more);
  auto p2 = store_->ListTags("team/app", p1->names.back(), 4);
  ASSERT_TRUE(p2.ok()) << p2.status();
  EXPECT_THAT(p2->names, ElementsAre("v2", "v3"));
  EXPECT_FALSE(p2->more);
  auto exact = store_->ListTags("team/app", "", 6);
  ASSERT_TRUE(exact.ok());
  EXPECT_EQ(exact->names.size(), 6u);
  EXPECT_FALSE(exact->more);
}

TEST_P(ImageStoreConformanceTest, Catalog) {
  for (std::string repo : {"team/b", "team/a", "team-x/c", "team/a/sub", "solo"}) {
    ASSERT_TRUE(PushImage(*store_, repo, "v1", MakeTestImage(10, 1, 10)).ok()) << repo;
  }
  auto all = store_->ListRepositories();
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_THAT(all->names, ElementsAre("solo", "team-x/c", "team/a", "team/a/sub", "team/b"));
  auto p1 = store_->ListRepositories("", 2);
  ASSERT_TRUE(p1.ok());
  EXPECT_THAT(p1->names, ElementsAre("solo", "team-x/c"));
  EXPECT_TRUE(p1->more);
  auto p2 = store_->ListRepositories("team-x/c", 10);
  ASSERT_TRUE(p2.ok());
  EXPECT_THAT(p2->names, ElementsAre("team/a", "team/a/sub", "team/b"));
  EXPECT_FALSE(p2->more);
}

TEST_P(ImageStoreConformanceTest, UnknownRepositoryAndTagNamed) {
  EXPECT_IMAGE_ERROR(store_->GetManifest("team/nothing", "v1").status(), StatusCode::kNotFound,
                     codes::kNameUnknown, "team/nothing");
  EXPECT_IMAGE_ERROR(store_->ListTags("team/nothing").status(), StatusCode::kNotFound,
                     codes::kNameUnknown, "team/nothing");
  ASSERT_TRUE(PushImage(*store_, "team/app", "v1", MakeTestImage(11)).ok());
  EXPECT_IMAGE_ERROR(store_->GetManifest("team/app", "v2").status(), StatusCode::kNotFound,
                     codes::kManifestUnknown, "v2");
  std::string d = store::Sha256Digest("no such manifest");
  EXPECT_IMAGE_ERROR(store_->GetManifest("team/app", d).status(), StatusCode::kNotFound,
                     codes::kManifestUnknown, d);
  auto ref = ParseReference("team/app:nope");
  ASSERT_TRUE(ref.ok());
  EXPECT_EQ(store_->Resolve(*ref).status().code(), StatusCode::kNotFound);
}

TEST_P(ImageStoreConformanceTest, DeleteManifestRemovesItsTags) {
  TestImage a = MakeTestImage(12), b = MakeTestImage(13);
  ASSERT_TRUE(PushImage(*store_, "team/app", "v1", a).ok());
  ASSERT_TRUE(store_->PutManifest("team/app", "stable", mt::kOciManifest, a.manifest_bytes).ok());
  ASSERT_TRUE(PushImage(*store_, "team/app", "v2", b).ok());
  ASSERT_TRUE(store_->DeleteManifest("team/app", a.manifest_digest).ok());
  EXPECT_EQ(store_->GetManifest("team/app", a.manifest_digest).status().code(),
            StatusCode::kNotFound);
  EXPECT_EQ(store_->GetManifest("team/app", "v1").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store_->GetManifest("team/app", "stable").status().code(), StatusCode::kNotFound);
  auto tags = store_->ListTags("team/app");
  ASSERT_TRUE(tags.ok()) << tags.status();
  EXPECT_THAT(tags->names, ElementsAre("v2"));
  EXPECT_IMAGE_ERROR(store_->DeleteManifest("team/app", a.manifest_digest),
                     StatusCode::kNotFound, codes::kManifestUnknown, a.manifest_digest);
}

TEST_P(ImageStoreConformanceTest, DeleteTagKeepsManifest) {
  TestImage a = MakeTestImage(14);
  ASSERT_TRUE(PushImage(*store_, "team/app", "v1", a).ok());
  ASSERT_TRUE(store_->PutManifest("team/app", "v1b", mt::kOciManifest, a.manifest_bytes).ok());
  if (!GetParam().deletes_tags) {
    EXPECT_IMAGE_ERROR(store_->DeleteTag("team/app", "v1"), StatusCode::kUnimplemented,
                       codes::kUnsupported, "v1");
    EXPECT_TRUE(store_->GetManifest("team/app", "v1").ok());
    return;
  }
  ASSERT_TRUE(store_->DeleteTag("team/app", "v1").ok());
  EXPECT_EQ(store_->GetManifest("team/app", "v1").status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(store_->GetManifest("team/app", "v1b").ok());
  EXPECT_TRUE(store_->GetManifest("team/app", a.manifest_digest).ok());
  EXPECT_IMAGE_ERROR(store_->DeleteTag("team/app", "v1"), StatusCode::kNotFound,
                     codes::kManifestUnknown, "v1");
}

TEST_P(ImageStoreConformanceTest, MountBlob) {
  std::string data = "shared base layer";
  std::string digest = store::Sha256Digest(data);
  ASSERT_TRUE(store_->PutBlob("team/base", ReaderOf(data), digest).ok());
  EXPECT_EQ(store_->StatBlob("team/app", digest).status().code(), StatusCode::kNotFound);
  auto mounted = store_->MountBlob("team/base", "team/app", digest);
  ASSERT_TRUE(mounted.ok()) << mounted.status();
  EXPECT_EQ(mounted->size, data.size());
  auto r = store_->OpenBlob("team/app", digest);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*(*r)->ReadAll(), data);
  std::string other = store::Sha256Digest("nowhere");
  EXPECT_IMAGE_ERROR(store_->MountBlob("team/base", "team/app", other).status(),
                     StatusCode::kNotFound, codes::kBlobUnknown, other);
}

TEST_P(ImageStoreConformanceTest, DeleteBlob) {
  std::string data = "to delete";
  std::string digest = store::Sha256Digest(data);
  ASSERT_TRUE(store_->PutBlob("team/app", ReaderOf(data), digest).ok());
  ASSERT_TRUE(store_->DeleteBlob("team/app", digest).ok());
  EXPECT_EQ(store_->StatBlob("team/app", digest).status().code(), StatusCode::kNotFound);
  EXPECT_IMAGE_ERROR(store_->DeleteBlob("team/app", digest), StatusCode::kNotFound,
                     codes::kBlobUnknown, digest);
}

TEST_P(ImageStoreConformanceTest, PushAndDeleteEvents) {
  TestImage a = MakeTestImage(15);
  ASSERT_TRUE(PushImage(*store_, "team/app", a.manifest_digest, a).ok());  // no tag: no event
  ASSERT_TRUE(store_->PutManifest("team/app", "v1", mt::kOciManifest, a.manifest_bytes).ok());
  ASSERT_TRUE(store_->DeleteManifest("team/app", a.manifest_digest).ok());
  std::vector<Json> events = ImageEvents();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0], Json({{"action-type", "PUSH"},
                             {"repository-name", "team/app"},
                             {"image-digest", a.manifest_digest},
                             {"image-tag", "v1"},
                             {"result", "SUCCESS"}}));
  EXPECT_EQ(events[1]["action-type"], "DELETE");
  EXPECT_EQ(events[1]["image-tag"], "v1");
  EXPECT_EQ(events[1]["image-digest"], a.manifest_digest);
}

}  // namespace
}  // namespace tandem::images
