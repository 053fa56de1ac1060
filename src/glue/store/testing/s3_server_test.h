// A gtest fixture for tests against the S3 test server (s3rver, started by
// the ctest fixture `SERVERS s3`): it fails under ctest and skips elsewhere
// when the server is missing, opens each store under a fresh prefix of the
// server's bucket, and gives each test a scratch directory.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <memory>
#include <string>
#include <system_error>

#include "common/clock.h"
#include "common/ids.h"
#include "common/testing/test_server.h"
#include "glue/store/s3_store.h"

namespace tandem::store {

// `base` (the server's s3:// URI) with a prefix no other store uses, then
// `extra` query options ("&part_size=...").
inline std::string UniqueS3Uri(const std::string& base, const std::string& extra = "") {
  static std::atomic<int> n{0};
  const size_t q = base.find('?');
  return base.substr(0, q) + "/" + NewUlid(Clock::Real()) + "-" + std::to_string(n++) +
         base.substr(q) + extra;
}

class S3ServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::optional<std::string> s3 = tandem::testing::RequireTestServer("s3");
    if (!s3) return;
    base_ = *s3;
    scratch_ = (std::filesystem::temp_directory_path() /
                ("tandem-s3-test-" + NewUlid(Clock::Real())))
                   .string();
    std::filesystem::create_directories(scratch_);
  }
  void TearDown() override {
    std::error_code ec;
    if (!scratch_.empty()) std::filesystem::remove_all(scratch_, ec);
  }
  std::unique_ptr<S3Store> OpenStore(const std::string& extra = "") {
    auto s = S3Store::Open(UniqueS3Uri(base_, extra));
    EXPECT_TRUE(s.ok()) << s.status();
    return s.ok() ? *std::move(s) : nullptr;
  }
  // Replaces the stored bytes of blob `digest` with `bytes`, behind the
  // store's back (a raw PUT to its key): to damage a blob.
  static Status OverwriteBlob(S3Store& store, const std::string& digest, const std::string& bytes) {
    S3Request raw;
    raw.method = "PUT";
    raw.key = store.BlobKey(digest);
    raw.body = bytes;
    return store.client().Do(raw).status();
  }

  std::string base_;
  std::string scratch_;
};

}  // namespace tandem::store
