#include "glue/store/testing/object_store_conformance.h"

#include <gmock/gmock.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "common/ids.h"
#include "glue/store/sha256.h"
#include "glue/store/testing/test_data.h"

namespace tandem::store {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

constexpr char kAbcDigest[] =
    "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
constexpr char kEmptyDigest[] =
    "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
constexpr char kMissingDigest[] =
    "sha256:0000000000000000000000000000000000000000000000000000000000000000";

void WriteFile(const std::string& path, std::string_view data) {
  std::ofstream out(path, std::ios::binary);
  out.write(data.data(), static_cast<std::streamsize>(data.size()));
}

// Reads through a BlobReader in small, odd-sized chunks.
StatusOr<std::string> ReadInChunks(BlobReader& reader, size_t chunk) {
  std::string out;
  std::vector<char> buf(chunk);
  for (;;) {
    ASSIGN_OR_RETURN(size_t n, reader.Read(buf.data(), buf.size()));
    if (n == 0) return out;
    out.append(buf.data(), n);
  }
}

std::vector<std::string> Keys(const ListResult& r) {
  std::vector<std::string> keys;
  for (const auto& o : r.objects) keys.push_back(o.key);
  return keys;
}

}  // namespace

void ObjectStoreConformanceTest::SetUp() {
  store_ = GetParam().make();
  if (IsSkipped() || HasFatalFailure()) return;  // the factory ended the test
  ASSERT_NE(store_, nullptr);
  scratch_ = (fs::temp_directory_path() / ("tandem-store-conf-" + NewUlid(Clock::Real()))).string();
  fs::create_directories(scratch_);
}

void ObjectStoreConformanceTest::TearDown() {
  store_.reset();
  std::error_code ec;
  fs::remove_all(scratch_, ec);
}

TEST_P(ObjectStoreConformanceTest, DigestMatchesKnownSha256Vectors) {
  auto abc = store_->PutBlobFromString("abc");
  ASSERT_TRUE(abc.ok()) << abc.status();
  EXPECT_EQ(abc->digest, kAbcDigest);
  EXPECT_EQ(abc->size, 3u);
  auto empty = store_->PutBlobFromString("");
  ASSERT_TRUE(empty.ok()) << empty.status();
  EXPECT_EQ(empty->digest, kEmptyDigest);
  EXPECT_EQ(empty->size, 0u);
}

TEST_P(ObjectStoreConformanceTest, BlobRoundTripEmptyOneByteAndMultiMiB) {
  for (const std::string& content :
       {std::string(), std::string("x"), RandomBytes(3 * 1024 * 1024 + 17, 1)}) {
    std::istringstream in(content);
    auto put = store_->PutBlob(in);
    ASSERT_TRUE(put.ok()) << put.status();
    EXPECT_EQ(put->size, content.size());
    auto stat = store_->StatBlob(put->digest);
    ASSERT_TRUE(stat.ok()) << stat.status();
    EXPECT_EQ(stat->size, content.size());
    auto reader = store_->OpenBlob(put->digest);
    ASSERT_TRUE(reader.ok()) << reader.status();
    EXPECT_EQ((*reader)->digest(), put->digest);
    EXPECT_EQ((*reader)->size(), content.size());
    auto got = ReadInChunks(**reader, 4093);
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_TRUE(*got == content) << "size " << got->size() << " vs " << content.size();
    // Reading past the end keeps returning 0.
    char c;
    auto again = (*reader)->Read(&c, 1);
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(*again, 0u);
    EXPECT_TRUE(store_->VerifyBlob(put->digest).ok());
  }
}

TEST_P(ObjectStoreConformanceTest, PutBlobFromFileAndGetBlobToFile) {
  const std::string content = RandomBytes(2 * 1024 * 1024 + 3, 2);
  const std::string src = scratch() + "/src.bin";
  const std::string dst = scratch() + "/dst.bin";
  WriteFile(src, content);
  auto put = store_->PutBlobFromFile(src);
  ASSERT_TRUE(put.ok()) << put.status();
  WriteFile(dst, "old content to be replaced");
  ASSERT_TRUE(store_->GetBlobToFile(put->digest, dst).ok());
  EXPECT_TRUE(ReadFile(dst) == content);
  // Only src and dst in the scratch dir: no temp files left behind.
  EXPECT_EQ(std::distance(fs::directory_iterator(scratch()), fs::directory_iterator()), 2);

  auto missing_src = store_->PutBlobFromFile(scratch() + "/nope");
  EXPECT_EQ(missing_src.status().code(), StatusCode::kNotFound);
}

TEST_P(ObjectStoreConformanceTest, AdoptHashedBlobFileStoresTheFileUnderItsDigest) {
  for (const std::string& content : {std::string(), RandomBytes(2 * 1024 * 1024 + 5, 7)}) {
    const std::string src = scratch() + "/spool.bin";
    WriteFile(src, content);
    const BlobInfo hashed{Sha256Digest(content), content.size()};
    auto put = store_->AdoptHashedBlobFile(src, hashed);
    ASSERT_TRUE(put.ok()) << put.status();
    EXPECT_EQ(put->digest, hashed.digest);
    EXPECT_EQ(put->size, content.size());
    auto reader = store_->OpenBlob(hashed.digest);
    ASSERT_TRUE(reader.ok()) << reader.status();
    auto got = (*reader)->ReadAll();
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_TRUE(*got == content);
    // The caller removes what the store left (a backend may have taken it).
    std::filesystem::remove(src);
  }
  // A file of another size than the caller says is refused; nothing stored.
  const std::string src = scratch() + "/short.bin";
  WriteFile(src, "abc");
  auto wrong = store_->AdoptHashedBlobFile(src, BlobInfo{kAbcDigest, 4});
  EXPECT_EQ(wrong.status().code(), StatusCode::kFailedPrecondition) << wrong.status();
  EXPECT_FALSE(*store_->HasBlob(kAbcDigest));
  EXPECT_EQ(store_->AdoptHashedBlobFile(src, BlobInfo{"sha256:nope", 3}).status().code(),
            StatusCode::kInvalidArgument);
  auto missing = store_->AdoptHashedBlobFile(scratch() + "/nope", BlobInfo{kAbcDigest, 3});
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
}

TEST_P(ObjectStoreConformanceTest, SameContentTwiceIsOneBlob) {
  auto a = store_->PutBlobFromString("dedup me");
  auto b = store_->PutString("k1", "dedup me");
  auto c = store_->PutString("k2", "dedup me");
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  EXPECT_EQ(a->digest, b->digest);
  EXPECT_EQ(b->digest, c->digest);
  // One blob: deleting it once makes it disappear for every name.
  ASSERT_TRUE(store_->DeleteBlob(a->digest).ok());
  EXPECT_FALSE(*store_->HasBlob(a->digest));
  EXPECT_EQ(store_->DeleteBlob(a->digest).code(), StatusCode::kNotFound);
  EXPECT_EQ(store_->GetString("k1").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store_->GetString("k2").status().code(), StatusCode::kNotFound);
}

TEST_P(ObjectStoreConformanceTest, NamedObjectRoundTripAndStat) {
  const std::string content = RandomBytes(1024 * 1024 + 1, 3);
  std::istringstream in(content);
  auto put = store_->Put("jobs/01abc/model.tar.gz", in);
  ASSERT_TRUE(put.ok()) << put.status();
  EXPECT_EQ(put->key, "jobs/01abc/model.tar.gz");
  EXPECT_EQ(put->size, content.size());
  auto stat = store_->Stat("jobs/01abc/model.tar.gz");
  ASSERT_TRUE(stat.ok()) << stat.status();
  EXPECT_EQ(stat->key, put->key);
  EXPECT_EQ(stat->digest, put->digest);
  EXPECT_EQ(stat->size, content.size());
  EXPECT_GT(stat->created_micros, 0);
  auto blob = store_->StatBlob(stat->digest);
  ASSERT_TRUE(blob.ok());
  auto reader = store_->Get("jobs/01abc/model.tar.gz");
  ASSERT_TRUE(reader.ok()) << reader.status();
  auto got = ReadInChunks(**reader, 100000);
  ASSERT_TRUE(got.ok());
  EXPECT_TRUE(*got == content);
  const std::string dst = scratch() + "/model.tar.gz";
  ASSERT_TRUE(store_->GetToFile("jobs/01abc/model.tar.gz", dst).ok());
  EXPECT_TRUE(ReadFile(dst) == content);

  const std::string src = scratch() + "/in.txt";
  WriteFile(src, "from a file");
  ASSERT_TRUE(store_->PutFile("f", src).ok());
  EXPECT_EQ(*store_->GetString("f"), "from a file");
}

TEST_P(ObjectStoreConformanceTest, KeyAndPrefixOfAnotherKeyCoexist) {
  ASSERT_TRUE(store_->PutString("a/b", "leaf").ok());
  ASSERT_TRUE(store_->PutString("a/b/c", "deeper").ok());
  ASSERT_TRUE(store_->PutString("a/b.d", "suffix-like").ok());
  ASSERT_TRUE(store_->PutString("a/b.obj/x", "suffix-like dir").ok());
  EXPECT_EQ(*store_->GetString("a/b"), "leaf");
  EXPECT_EQ(*store_->GetString("a/b/c"), "deeper");
  EXPECT_EQ(*store_->GetString("a/b.d"), "suffix-like");
  EXPECT_EQ(*store_->GetString("a/b.obj/x"), "suffix-like dir");
}

TEST_P(ObjectStoreConformanceTest, OverwriteIsLastWriterWins) {
  ASSERT_TRUE(store_->PutString("k", "one").ok());
  auto second = store_->PutString("k", "two");
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(*store_->GetString("k"), "two");
  EXPECT_EQ(store_->Stat("k")->digest, second->digest);
}

TEST_P(ObjectStoreConformanceTest, ConcurrentPutsOfOneKeyLeaveOneIntactWinner) {
  std::vector<std::string> contents;
  for (int i = 0; i < 8; ++i) contents.push_back(RandomBytes(256 * 1024, 100 + i));
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&, i] {
      for (int round = 0; round < 5; ++round) {
        EXPECT_TRUE(store_->PutString("race/key", contents[i]).ok());
      }
    });
  }
  for (auto& t : threads) t.join();
  auto got = store_->GetString("race/key");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_NE(std::find(contents.begin(), contents.end(), *got), contents.end());
  EXPECT_EQ(store_->List("race/")->objects.size(), 1u);
}

TEST_P(ObjectStoreConformanceTest, ListWithPrefixAndPagination) {
  for (const char* k : {"a/3", "a/1", "a/5", "a/2", "a/4", "a-x", "b/1", "a/sub/deep"}) {
    ASSERT_TRUE(store_->PutString(k, k).ok()) << k;
  }
  auto all = store_->List("");
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_THAT(Keys(*all), ::testing::ElementsAre("a-x", "a/1", "a/2", "a/3", "a/4", "a/5",
                                                 "a/sub/deep", "b/1"));
  EXPECT_TRUE(all->next_page_token.empty());
  EXPECT_EQ(all->objects[0].size, 3u);

  std::vector<std::string> paged;
  std::string token;
  int pages = 0;
  do {
    auto page = store_->List("a/", token, 2);
    ASSERT_TRUE(page.ok()) << page.status();
    ASSERT_LE(page->objects.size(), 2u);
    for (const auto& o : page->objects) paged.push_back(o.key);
    token = page->next_page_token;
    ASSERT_LT(++pages, 10);
  } while (!token.empty());
  EXPECT_THAT(paged, ::testing::ElementsAre("a/1", "a/2", "a/3", "a/4", "a/5", "a/sub/deep"));
  EXPECT_EQ(pages, 3);

  EXPECT_THAT(Keys(*store_->List("a")),
              ::testing::ElementsAre("a-x", "a/1", "a/2", "a/3", "a/4", "a/5", "a/sub/deep"));
  EXPECT_THAT(Keys(*store_->List("a/s")), ::testing::ElementsAre("a/sub/deep"));
  EXPECT_TRUE(store_->List("zzz")->objects.empty());
}

TEST_P(ObjectStoreConformanceTest, DeleteRemovesNameButKeepsBlobUntilGc) {
  auto keep = store_->PutString("keep", "kept content");
  auto gone = store_->PutString("gone", "deleted content");
  ASSERT_TRUE(keep.ok() && gone.ok());
  ASSERT_TRUE(store_->Delete("gone").ok());
  EXPECT_EQ(store_->Stat("gone").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store_->Delete("gone").code(), StatusCode::kNotFound);
  EXPECT_THAT(Keys(*store_->List("")), ::testing::ElementsAre("keep"));
  EXPECT_TRUE(*store_->HasBlob(gone->digest));

  // A generous grace period protects fresh blobs.
  auto gc = store_->GarbageCollect();
  ASSERT_TRUE(gc.ok()) << gc.status();
  EXPECT_EQ(gc->blobs_deleted, 0u);
  EXPECT_TRUE(*store_->HasBlob(gone->digest));

  gc = store_->GarbageCollect(0);
  ASSERT_TRUE(gc.ok()) << gc.status();
  EXPECT_EQ(gc->blobs_deleted, 1u);
  EXPECT_EQ(gc->bytes_freed, std::string("deleted content").size());
  EXPECT_FALSE(*store_->HasBlob(gone->digest));
  EXPECT_TRUE(*store_->HasBlob(keep->digest));
  EXPECT_EQ(*store_->GetString("keep"), "kept content");
}

TEST_P(ObjectStoreConformanceTest, UnknownKeyAndDigestAreNotFound) {
  EXPECT_EQ(store_->Stat("no/such").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store_->Get("no/such").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store_->GetString("nosuch").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store_->Delete("no/such").code(), StatusCode::kNotFound);
  EXPECT_EQ(store_->OpenBlob(kMissingDigest).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store_->StatBlob(kMissingDigest).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store_->DeleteBlob(kMissingDigest).code(), StatusCode::kNotFound);
  EXPECT_EQ(store_->VerifyBlob(kMissingDigest).code(), StatusCode::kNotFound);
  EXPECT_FALSE(*store_->HasBlob(kMissingDigest));
  const std::string dst = scratch() + "/never";
  EXPECT_EQ(store_->GetBlobToFile(kMissingDigest, dst).code(), StatusCode::kNotFound);
  EXPECT_EQ(store_->GetToFile("no/such", dst).code(), StatusCode::kNotFound);
  EXPECT_FALSE(fs::exists(dst));
  EXPECT_TRUE(fs::is_empty(scratch()));
}

TEST_P(ObjectStoreConformanceTest, LinkNamesExistingBlobAndRefusesMissingOne) {
  auto blob = store_->PutBlobFromString("linked");
  ASSERT_TRUE(blob.ok());
  auto linked = store_->Link("x/linked", blob->digest);
  ASSERT_TRUE(linked.ok()) << linked.status();
  EXPECT_EQ(linked->size, 6u);
  EXPECT_EQ(*store_->GetString("x/linked"), "linked");

  auto missing = store_->Link("x/missing", kMissingDigest);
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr(kMissingDigest));
  EXPECT_EQ(store_->Stat("x/missing").status().code(), StatusCode::kNotFound);
}

TEST_P(ObjectStoreConformanceTest, InvalidKeysAreRefusedByEveryMethod) {
  auto blob = store_->PutBlobFromString("content");
  ASSERT_TRUE(blob.ok());
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"../x", "'..' segment"},
      {"a/../../x", "'..' segment"},
      {"/abs", "absolute"},
      {"a//b", "empty path segment"},
      {"a/", "empty path segment"},
      {"a/./b", "'.' segment"},
      {"", "empty key"},
      {std::string("a\0b", 3), "NUL"},
      {"a\nb", "control character"},
      {"a\\b", "backslash"},
      {std::string(1025, 'k'), "longer than 1024"},
  };
  for (const auto& [key, reason] : bad) {
    SCOPED_TRACE("key reason: " + reason);
    auto put = store_->PutString(key, "x");
    EXPECT_EQ(put.status().code(), StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(put.status().message()), HasSubstr(reason));
    EXPECT_EQ(store_->Link(key, blob->digest).status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(store_->Stat(key).status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(store_->Get(key).status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(store_->Delete(key).code(), StatusCode::kInvalidArgument);
  }
  EXPECT_TRUE(store_->List("")->objects.empty());
}

TEST_P(ObjectStoreConformanceTest, MalformedDigestsAreInvalidArgument) {
  for (const std::string& d :
       {std::string("abc"), std::string("sha256:abc"), std::string("md5:") + std::string(64, 'a'),
        std::string("sha256:") + std::string(64, 'A'),
        std::string("sha256:") + std::string(63, 'a'),
        std::string("sha256:") + std::string(63, 'a') + "g", std::string("sha256:../../etc/x")}) {
    SCOPED_TRACE(d);
    EXPECT_EQ(store_->OpenBlob(d).status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(store_->StatBlob(d).status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(store_->HasBlob(d).status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(store_->DeleteBlob(d).code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(store_->Link("k", d).status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(store_->GetBlobToFile(d, scratch() + "/x").code(), StatusCode::kInvalidArgument);
  }
}

TEST_P(ObjectStoreConformanceTest, NegativeGraceIsInvalidArgument) {
  ASSERT_TRUE(store_->PutBlobFromString("unreferenced").ok());
  EXPECT_EQ(store_->GarbageCollect(-1).status().code(), StatusCode::kInvalidArgument);
}

TEST_P(ObjectStoreConformanceTest, FailingInputStoresNothing) {
  int calls = 0;
  ReadFn failing = [&](char* buf, size_t n) -> StatusOr<size_t> {
    if (++calls > 2) return UnavailableError("input broke");
    std::fill_n(buf, std::min<size_t>(n, 1000), 'z');
    return std::min<size_t>(n, 1000);
  };
  auto put = store_->Put("broken", failing);
  EXPECT_EQ(put.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(store_->Stat("broken").status().code(), StatusCode::kNotFound);
  // The 2000 bytes read before the failure were not stored as a blob.
  EXPECT_FALSE(*store_->HasBlob(Sha256Digest(std::string(2000, 'z'))));
}

}  // namespace tandem::store
