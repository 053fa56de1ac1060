// S3Store's large transfers against s3rver: the single streamed PUT and its
// guard against a changing source, the multipart threshold's boundaries, and
// the download straight into the file.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>

#include "common/clock.h"
#include "common/ids.h"
#include "common/testing/test_server.h"
#include "glue/store/s3_store.h"
#include "glue/store/testing/s3_server_test.h"
#include "glue/store/sha256.h"
#include "glue/store/testing/test_data.h"

namespace tandem::store {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr uint64_t kMiB = 1 << 20;

// "METHOD query-names status" of every request the store sends.
class Calls {
 public:
  void Watch(S3Store& store, std::function<void(const S3Request&, int)> also = nullptr) {
    store.client().set_observer([this, also](const S3Request& r, int status) {
      std::string q;
      for (const auto& [k, v] : r.query) q += k + ",";
      {
        std::lock_guard<std::mutex> lock(mu_);
        calls_.push_back(r.method + " " + q + " " + std::to_string(status));
      }
      if (also) also(r, status);
    });
  }
  std::vector<std::string> Take() {
    std::lock_guard<std::mutex> lock(mu_);
    return std::move(calls_);
  }

 private:
  std::mutex mu_;
  std::vector<std::string> calls_;
};

class S3TransferTest : public S3ServerTest {
 protected:
  std::string WriteFile(const std::string& name, const std::string& data) {
    const std::string path = scratch_ + "/" + name;
    std::ofstream(path, std::ios::binary) << data;
    return path;
  }
  static std::string ReadFile(const std::string& path) {
    std::stringstream ss;
    ss << std::ifstream(path, std::ios::binary).rdbuf();
    return ss.str();
  }
  // Whether anything is stored at the blob's key (a raw HEAD: also sees an
  // object HasBlob would call damaged).
  static bool AnyObjectAt(S3Store& store, const std::string& digest) {
    S3Request head;
    head.method = "HEAD";
    head.key = store.BlobKey(digest);
    return store.client().Do(head).ok();
  }
};

TEST_F(S3TransferTest, BlobsUpToTheThresholdGoInOneStreamedPutSignedWithTheDigest) {
  auto store = OpenStore();  // default threshold: 5 GiB
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->client().config().multipart_threshold, kS3MaxPutSize);
  const std::string data = RandomBytes(21 * kMiB + 7, 41);  // > part_size (16 MiB)
  const std::string digest = Sha256Digest(data);
  const std::string path = WriteFile("one.bin", data);
  std::string signed_hash;
  Calls calls;
  calls.Watch(*store, [&](const S3Request& r, int) {
    if (r.method == "PUT") signed_hash = r.payload_sha256;
  });
  auto put = store->PutBlobFromFile(path);
  ASSERT_TRUE(put.ok()) << put.status();
  EXPECT_EQ(put->digest, digest);
  EXPECT_THAT(calls.Take(), ElementsAre("HEAD  404", "PUT  200"));
  EXPECT_EQ(signed_hash, digest.substr(7));  // x-amz-content-sha256: S3 checks it
  const std::string out = scratch_ + "/out.bin";
  ASSERT_TRUE(store->GetBlobToFile(digest, out).ok());
  EXPECT_TRUE(ReadFile(out) == data);
  calls.Take();

  // PutBlob from a stream: spooled past part_size, then the same one PUT.
  const std::string other = RandomBytes(17 * kMiB + 1, 42);
  auto from_string = store->PutBlobFromString(other);
  ASSERT_TRUE(from_string.ok()) << from_string.status();
  EXPECT_THAT(calls.Take(), ElementsAre("HEAD  404", "PUT  200"));
  auto reader = store->OpenBlob(from_string->digest);
  ASSERT_TRUE(reader.ok()) << reader.status();
  auto bytes = (*reader)->ReadAll();
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  EXPECT_TRUE(*bytes == other);
}

TEST_F(S3TransferTest, MultipartThresholdBoundaries) {
  auto store = OpenStore("&part_size=5242880&multipart_threshold=6291456");  // 5 / 6 MiB
  ASSERT_NE(store, nullptr);
  Calls calls;
  calls.Watch(*store);
  const std::vector<std::string> single = {"HEAD  404", "PUT  200"};
  const std::vector<std::string> multipart = {"HEAD  404", "POST uploads, 200",
                                              "PUT partNumber,uploadId, 200",
                                              "PUT partNumber,uploadId, 200", "POST uploadId, 200"};
  struct Case {
    uint64_t size;
    const std::vector<std::string>* want;
  };
  int seed = 50;
  for (const Case& c : {Case{6 * kMiB, &single}, Case{6 * kMiB + 1, &multipart}}) {
    SCOPED_TRACE(c.size);
    // From a file (streamed / parts checked against the first pass) ...
    const std::string a = RandomBytes(c.size, seed++);
    auto from_file = store->PutBlobFromFile(WriteFile("f" + std::to_string(seed), a));
    ASSERT_TRUE(from_file.ok()) << from_file.status();
    EXPECT_EQ(calls.Take(), *c.want);
    // ... and from a stream (memory / spool file).
    const std::string b = RandomBytes(c.size, seed++);
    auto from_string = store->PutBlobFromString(b);
    ASSERT_TRUE(from_string.ok()) << from_string.status();
    EXPECT_EQ(calls.Take(), *c.want);
    // ... and an upload's spool file with its digest known (no first pass).
    const std::string d = RandomBytes(c.size, seed++);
    auto adopted = store->AdoptHashedBlobFile(WriteFile("s" + std::to_string(seed), d),
                                       {Sha256Digest(d), d.size()});
    ASSERT_TRUE(adopted.ok()) << adopted.status();
    EXPECT_EQ(calls.Take(), *c.want);
    for (const auto& [digest, data] :
         {std::pair{from_file->digest, &a}, std::pair{from_string->digest, &b},
          std::pair{adopted->digest, &d}}) {
      const std::string out = scratch_ + "/got";
      ASSERT_TRUE(store->GetBlobToFile(digest, out).ok());
      EXPECT_TRUE(ReadFile(out) == *data);
      fs::remove(out);
    }
    calls.Take();
  }

  const std::string creds = "?access_key_id=AK&secret_access_key=S";
  auto c = ParseS3Uri("s3://bkt/p" + creds);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->multipart_threshold, kS3MaxPutSize);
  EXPECT_EQ(c->concurrency, DefaultS3Concurrency());
  EXPECT_TRUE(ParseS3Uri("s3://bkt/p" + creds + "&multipart_threshold=5368709120").ok());
  for (const char* bad : {"5368709121", "5242879", "-1", "big"}) {
    auto r = ParseS3Uri("s3://bkt/p" + creds + "&multipart_threshold=" + bad);
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(std::string(r.status().message()),
                HasSubstr("multipart_threshold='" + std::string(bad) + "'"));
  }
}

// The file changes after the first pass computed its digest: the streamed
// PUT's own hash ends elsewhere, its last bytes are never sent, and what
// s3rver kept of the cut-off body is removed. No blob, no object.
TEST_F(S3TransferTest, FileChangedDuringASinglePutIsRefusedAndLeavesNoObject) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  const std::string data = RandomBytes(9 * kMiB + 3, 43);
  const std::string digest = Sha256Digest(data);
  const std::string path = WriteFile("changing.bin", data);
  struct Change {
    std::string name;
    std::function<void()> apply;
    std::string message;
  };
  const std::vector<Change> changes = {
      {"one byte flipped",
       [&] {
         std::fstream f(path, std::ios::binary | std::ios::in | std::ios::out);
         f.seekp(4 * kMiB + 5);
         f.put(static_cast<char>(data[4 * kMiB + 5] ^ 0x20));
       },
       "content changed between hashing and upload"},
      {"truncated", [&] { fs::resize_file(path, 3 * kMiB); }, "shrank"},
  };
  for (const Change& change : changes) {
    SCOPED_TRACE(change.name);
    std::ofstream(path, std::ios::binary | std::ios::trunc) << data;
    Calls calls;
    calls.Watch(*store, [&](const S3Request& r, int status) {
      // After the first pass, at the dedup check: before anything is sent.
      if (r.method == "HEAD" && status == 404) change.apply();
    });
    auto put = store->PutBlobFromFile(path);
    store->client().set_observer(nullptr);
    EXPECT_EQ(put.status().code(), StatusCode::kAborted) << put.status();
    EXPECT_THAT(std::string(put.status().message()),
                HasSubstr("changed while it was being stored"));
    EXPECT_THAT(std::string(put.status().message()), HasSubstr(change.message));
    auto seen = calls.Take();
    ASSERT_GE(seen.size(), 2u);
    EXPECT_EQ(seen[0], "HEAD  404");
    EXPECT_EQ(seen[1], "PUT  0");  // cut off by tandem, not answered
    auto has = store->HasBlob(digest);
    ASSERT_TRUE(has.ok()) << has.status();
    EXPECT_FALSE(*has);
    EXPECT_FALSE(AnyObjectAt(*store, digest));
  }
  // Unchanged, the same file goes through.
  std::ofstream(path, std::ios::binary | std::ios::trunc) << data;
  auto put = store->PutBlobFromFile(path);
  ASSERT_TRUE(put.ok()) << put.status();
  EXPECT_EQ(put->digest, digest);
}

// The download writes the ranges in place, several at a time; a blob whose
// bytes do not hash to its digest leaves no file behind, and neither does a
// blob that shrank on the server since it was listed.
TEST_F(S3TransferTest, DownloadWhoseDigestMismatchesLeavesNoFile) {
  auto store = OpenStore("&concurrency=4");
  ASSERT_NE(store, nullptr);
  const std::string data = RandomBytes(40 * kMiB + 11, 44);  // 5 ranges of 8 MiB
  auto put = store->PutBlobFromString(data);
  ASSERT_TRUE(put.ok()) << put.status();
  const std::string dst = scratch_ + "/dst.bin";
  ASSERT_TRUE(store->GetBlobToFile(put->digest, dst).ok());
  EXPECT_TRUE(ReadFile(dst) == data);
  fs::remove(dst);

  // Same size, last byte of the last range flipped, behind tandem's back.
  std::string damaged = data;
  damaged.back() ^= 0x01;
  ASSERT_TRUE(OverwriteBlob(*store, put->digest, damaged).ok());
  Status st = store->GetBlobToFile(put->digest, dst);
  EXPECT_EQ(st.code(), StatusCode::kDataLoss) << st;
  EXPECT_THAT(std::string(st.message()), HasSubstr("is corrupt"));
  EXPECT_FALSE(fs::exists(dst));
  EXPECT_TRUE(fs::is_empty(scratch_));

  // A file already at the destination is left as it was.
  std::ofstream(dst, std::ios::binary) << "previous";
  EXPECT_EQ(store->GetBlobToFile(put->digest, dst).code(), StatusCode::kDataLoss);
  EXPECT_EQ(ReadFile(dst), "previous");
  EXPECT_EQ(std::distance(fs::directory_iterator(scratch_), fs::directory_iterator()), 1);
}

}  // namespace
}  // namespace tandem::store
