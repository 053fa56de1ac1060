// /api/v1/artifacts PUT and /api/v1/blobs POST through the real server: the
// body is streamed to a spool file and adopted by the store, so it never sits
// in memory (a 512 MiB upload leaves the process' peak RSS where it was), the
// response and the stored object are what they were with the body in memory,
// and no spool file outlives its request, whatever way the body ends: stored,
// refused (bad key, 413), cut off by the client, or too slow (408).
#include <signal.h>
#include <sys/resource.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>

#include "api/testing/running_control_plane.h"
#include "common/testing/eventually.h"
#include "common/testing/raw_conn.h"
#include "glue/store/sha256.h"

namespace tandem::api {
namespace {

namespace fs = std::filesystem;
using tandem::testing::Eventually;
using tandem::testing::RawConn;

constexpr char kEmptyDigest[] =
    "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

// Bytes that are not all alike (a body of zeros would hide a misplaced chunk).
std::string Pattern(size_t n, unsigned seed) {
  std::string s(n, '\0');
  uint32_t x = seed * 2654435761u + 1;
  for (char& c : s) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    c = static_cast<char>(x);
  }
  return s;
}

// This process' peak resident set (VmHWM) in bytes.
int64_t PeakRss() {
  std::ifstream in("/proc/self/status");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stoll(line.substr(6)) * 1024;
  }
  return -1;
}

class ArtifactUploadTest : public testing::RunningControlPlaneTest {
 protected:
  // A 1 MiB body limit, and bodies that must keep 64 KiB/s over 1 s windows.
  void WriteHome() override {
    std::ofstream(home_ / "tandem.yaml")
        << "max_body_mb: 1\nserver:\n  min_body_bytes_per_s: 65536\n  body_window_s: 1\n";
  }

  int Port() const { return std::stoi(base_.substr(base_.rfind(':') + 1)); }
  fs::path SpoolDir() const { return home_ / "uploads" / "artifacts"; }
  size_t SpoolFiles() const {
    std::error_code ec;
    return static_cast<size_t>(
        std::distance(fs::directory_iterator(SpoolDir(), ec), fs::directory_iterator()));
  }
  store::ObjectStore& Store() { return *cp_->services().store; }

  StatusOr<http::ClientResponse> Upload(const std::string& method, const std::string& path,
                                        std::string body) {
    http::ClientRequest req;
    req.method = method;
    req.url = base_ + path;
    req.body = std::move(body);
    req.headers["Content-Type"] = "application/octet-stream";
    return client_.Do(Authorized(req));
  }

  // The head of a raw request with the admin's token.
  std::string Head(const std::string& method, const std::string& path,
                   const std::string& framing) const {
    return method + " " + path + " HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + token_ +
           "\r\nContent-Type: application/octet-stream\r\n" + framing + "\r\n\r\n";
  }
};

TEST_F(ArtifactUploadTest, PutAndPostStoreTheStreamedBodyAndLeaveNoSpoolFile) {
  const std::string body = Pattern(900 * 1024 + 7, 1);
  const std::string digest = store::Sha256Digest(body);
  auto put = Upload("PUT", "/api/v1/artifacts/data/train.bin", body);
  ASSERT_TRUE(put.ok()) << put.status();
  ASSERT_EQ(put->status, 201) << put->body;
  Json j = Json::parse(put->body);
  EXPECT_EQ(j["key"], "data/train.bin");
  EXPECT_EQ(j["digest"], digest);
  EXPECT_EQ(j["size"], body.size());
  EXPECT_GT(j["created_micros"].get<int64_t>(), 0);
  EXPECT_EQ(j.size(), 4u) << j;
  auto stored = Store().GetString("data/train.bin");
  ASSERT_TRUE(stored.ok()) << stored.status();
  EXPECT_TRUE(*stored == body);

  const std::string other = Pattern(300 * 1024, 2);
  auto post = Upload("POST", "/api/v1/blobs", other);
  ASSERT_TRUE(post.ok()) << post.status();
  ASSERT_EQ(post->status, 201) << post->body;
  EXPECT_EQ(Json::parse(post->body),
            (Json{{"digest", store::Sha256Digest(other)}, {"size", other.size()}}));
  EXPECT_TRUE(Store().VerifyBlob(store::Sha256Digest(other)).ok());
  EXPECT_EQ(SpoolFiles(), 0u);
}

TEST_F(ArtifactUploadTest, AnEmptyBodyIsAnEmptyObject) {
  auto put = Upload("PUT", "/api/v1/artifacts/empty", "");
  ASSERT_TRUE(put.ok()) << put.status();
  ASSERT_EQ(put->status, 201) << put->body;
  EXPECT_EQ(Json::parse(put->body)["digest"], kEmptyDigest);
  EXPECT_EQ(Json::parse(put->body)["size"], 0);
  auto post = Upload("POST", "/api/v1/blobs", "");
  ASSERT_TRUE(post.ok()) << post.status();
  ASSERT_EQ(post->status, 201) << post->body;
  EXPECT_EQ(Json::parse(post->body), (Json{{"digest", kEmptyDigest}, {"size", 0}}));
  // The same with a chunked body (no Content-Length: it is spooled).
  RawConn conn(Port());
  ASSERT_TRUE(conn.connected());
  conn.Send(Head("PUT", "/api/v1/artifacts/empty-chunked", "Transfer-Encoding: chunked") +
            "0\r\n\r\n");
  EXPECT_NE(conn.ReadResponse().find(kEmptyDigest), std::string::npos);
  EXPECT_EQ(Store().Stat("empty-chunked")->size, 0u);
  EXPECT_EQ(SpoolFiles(), 0u);
}

TEST_F(ArtifactUploadTest, ABadKeyStoresNothing) {
  const std::string body = Pattern(200 * 1024, 3);
  RawConn conn(Port());  // the path as written (a client would squash the ..)
  ASSERT_TRUE(conn.connected());
  conn.Send(Head("PUT", "/api/v1/artifacts/a/../../etc/passwd",
                 "Content-Length: " + std::to_string(body.size())) +
            body);
  const std::string response = conn.ReadResponse();
  EXPECT_NE(response.find(" 400 "), std::string::npos) << response;
  EXPECT_FALSE(*Store().HasBlob(store::Sha256Digest(body)));
  EXPECT_EQ(SpoolFiles(), 0u);
}

TEST_F(ArtifactUploadTest, ABodyOverTheLimitIs413AndLeavesNoFile) {
  // Announced by its Content-Length: refused before a byte is read.
  auto big = Upload("PUT", "/api/v1/artifacts/big", Pattern((1 << 20) + 1, 4));
  ASSERT_TRUE(big.ok()) << big.status();
  EXPECT_EQ(big->status, 413) << big->body;
  // Chunked: found out on the way, with part of it already on disk.
  RawConn conn(Port());
  ASSERT_TRUE(conn.connected());
  conn.Send(Head("POST", "/api/v1/blobs", "Transfer-Encoding: chunked"));
  const std::string chunk = Pattern(256 * 1024, 5);
  char size_line[32];
  std::snprintf(size_line, sizeof(size_line), "%zx\r\n", chunk.size());
  for (int i = 0; i < 5; ++i) conn.Send(size_line + chunk + "\r\n");
  EXPECT_NE(conn.ReadResponse().find(" 413 "), std::string::npos);
  EXPECT_TRUE(Eventually([&] { return SpoolFiles() == 0; }, 10));
  EXPECT_EQ(Store().Stat("big").status().code(), StatusCode::kNotFound);
}

TEST_F(ArtifactUploadTest, AClientGoneMidBodyLeavesNoFileAndNoObject) {
  RawConn conn(Port());
  ASSERT_TRUE(conn.connected());
  conn.Send(Head("PUT", "/api/v1/artifacts/cut", "Content-Length: 1000000"));
  conn.Send(Pattern(400 * 1024, 6));
  ASSERT_TRUE(Eventually([&] { return SpoolFiles() == 1; }, 10)) << "the body is spooled";
  conn.Close();
  EXPECT_TRUE(Eventually([&] { return SpoolFiles() == 0; }, 10));
  EXPECT_EQ(Store().Stat("cut").status().code(), StatusCode::kNotFound);
}

TEST_F(ArtifactUploadTest, ASlowBodyIs408AndLeavesNoFile) {
  RawConn conn(Port());
  ASSERT_TRUE(conn.connected());
  conn.Send(Head("PUT", "/api/v1/artifacts/slow", "Content-Length: 1000"));
  conn.Send("some bytes, then nothing");
  ASSERT_TRUE(Eventually([&] { return SpoolFiles() == 1; }, 10)) << "the body is spooled";
  EXPECT_NE(conn.ReadResponse().find(" 408 "), std::string::npos);
  EXPECT_TRUE(Eventually([&] { return SpoolFiles() == 0; }, 10));
  EXPECT_EQ(Store().Stat("slow").status().code(), StatusCode::kNotFound);
}

// An unauthenticated upload costs no body: the 401 comes on the head alone
// (a server waiting for the body would answer 408 here, the body being too
// slow), with no spool file made, nothing stored and the connection closed.
TEST_F(ArtifactUploadTest, AnUnauthenticatedUploadIs401BeforeItsBodyIsRead) {
  for (const std::string auth : {"", "Authorization: Bearer tdm_not-a-token\r\n"}) {
    for (const std::string framing : {"Content-Length: 1000000", "Transfer-Encoding: chunked"}) {
      for (const std::string target : {"PUT /api/v1/artifacts/secret", "POST /api/v1/blobs"}) {
        RawConn conn(Port());
        ASSERT_TRUE(conn.connected());
        conn.Send(target + " HTTP/1.1\r\nHost: x\r\n" + auth + framing + "\r\n\r\n");
        const std::string response = conn.ReadResponse();
        EXPECT_EQ(response.rfind("HTTP/1.1 401 ", 0), 0u) << target << " " << framing << " "
                                                          << auth << ": " << response;
        EXPECT_EQ(SpoolFiles(), 0u);
        bool closed = false;
        conn.ReadUntilClosed(&closed);
        EXPECT_TRUE(closed) << target << " " << framing;
      }
    }
  }
  EXPECT_EQ(Store().Stat("secret").status().code(), StatusCode::kNotFound);
  // Authenticated, the same uploads still go through (the head admitted, then the body).
  RawConn conn(Port());
  ASSERT_TRUE(conn.connected());
  const std::string body = Pattern(600 * 1024, 7);
  conn.Send(Head("PUT", "/api/v1/artifacts/secret", "Transfer-Encoding: chunked"));
  char size_line[32];
  std::snprintf(size_line, sizeof(size_line), "%zx\r\n", body.size());
  conn.Send(size_line + body + "\r\n0\r\n\r\n");
  const std::string response = conn.ReadResponse();
  EXPECT_EQ(response.rfind("HTTP/1.1 201 ", 0), 0u) << response;
  auto stored = Store().GetString("secret");
  ASSERT_TRUE(stored.ok()) << stored.status();
  EXPECT_TRUE(*stored == body);
  EXPECT_TRUE(Eventually([&] { return SpoolFiles() == 0; }, 10));
}

// A disk that fills up while an upload is spooled: 507 saying the server is
// out of space, the partial file gone, nothing stored. The "disk" is
// RLIMIT_FSIZE: this process may write no file past 512 KiB while the 900 KiB
// body arrives (writes past it fail with EFBIG; SIGXFSZ is ignored).
TEST_F(ArtifactUploadTest, AFullDiskWhileSpoolingIs507AndStoresNothing) {
  const std::string body = Pattern(900 * 1024, 8);
  struct sigaction ignore = {}, old_action = {};
  ignore.sa_handler = SIG_IGN;
  ASSERT_EQ(::sigaction(SIGXFSZ, &ignore, &old_action), 0);
  rlimit saved = {}, small = {};
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &saved), 0);
  small = saved;
  small.rlim_cur = 512 * 1024;
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &small), 0);
  auto put = Upload("PUT", "/api/v1/artifacts/full", body);
  auto post = Upload("POST", "/api/v1/blobs", body);
  ::setrlimit(RLIMIT_FSIZE, &saved);
  ::sigaction(SIGXFSZ, &old_action, nullptr);
  for (const auto* r : {&put, &post}) {
    ASSERT_TRUE(r->ok()) << r->status();
    EXPECT_EQ((*r)->status, 507) << (*r)->body;
    Json j = Json::parse((*r)->body);
    EXPECT_EQ(j["error"]["code"], "RESOURCE_EXHAUSTED");
    EXPECT_NE(j["error"]["message"].get<std::string>().find("out of storage space"),
              std::string::npos)
        << j;
  }
  EXPECT_TRUE(Eventually([&] { return SpoolFiles() == 0; }, 10));
  EXPECT_EQ(Store().Stat("full").status().code(), StatusCode::kNotFound);
  EXPECT_FALSE(*Store().HasBlob(store::Sha256Digest(body)));
  // With space again, the same upload is stored.
  auto again = Upload("PUT", "/api/v1/artifacts/full", body);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->status, 201) << again->body;
}

// How much the peak RSS may grow while 512 MiB are PUT. Under AddressSanitizer
// freed memory waits in its quarantine (256 MiB by default) and counts in the
// RSS (CI's ASan run: 65 MiB), so there the bound only tells a streamed body
// from one held in memory (that grew by 514 MiB without sanitizers).
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TANDEM_TEST_UNDER_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(TANDEM_TEST_UNDER_ASAN)
constexpr int64_t kMaxRssGrowth = int64_t{320} << 20;
#else
constexpr int64_t kMaxRssGrowth = int64_t{64} << 20;
#endif

// The default limit (1 GiB) and pace: the memory test's 512 MiB fit.
class LargeArtifactUploadTest : public ArtifactUploadTest {
 protected:
  void WriteHome() override {}
};

// The body is generated as it is sent, so this process' memory is the
// server's: its peak may not grow by anything like the body's size (it did
// by more than the body while the body was read into memory).
TEST_F(LargeArtifactUploadTest, A512MiBPutDoesNotGrowThePeakRss) {
  constexpr uint64_t kSize = uint64_t{512} << 20;
  const std::string block = Pattern(1 << 20, 7);
  store::Sha256 hash;
  uint64_t sent = 0;
  http::ClientRequest req;
  req.method = "PUT";
  req.url = base_ + "/api/v1/artifacts/big/model.bin";
  req.timeout_ms = 0;
  req.buffer_size = 1 << 20;
  req.body_size = kSize;
  req.body_source = [&](char* buf, size_t n) -> StatusOr<size_t> {
    n = static_cast<size_t>(std::min<uint64_t>(n, kSize - sent));
    for (size_t done = 0; done < n;) {
      const size_t at = static_cast<size_t>((sent + done) % block.size());
      const size_t k = std::min(n - done, block.size() - at);
      std::memcpy(buf + done, block.data() + at, k);
      done += k;
    }
    hash.Update(buf, n);
    sent += n;
    return n;
  };
  std::ofstream("/proc/self/clear_refs") << "5";  // VmHWM := the current RSS
  const int64_t before = PeakRss();
  ASSERT_GT(before, 0);
  auto put = client_.Do(Authorized(req));
  const int64_t growth = PeakRss() - before;
  ASSERT_TRUE(put.ok()) << put.status();
  ASSERT_EQ(put->status, 201) << put->body;
  EXPECT_EQ(Json::parse(put->body)["digest"], hash.FinishDigest());
  EXPECT_EQ(Json::parse(put->body)["size"], kSize);
  EXPECT_LT(growth, kMaxRssGrowth) << "peak RSS grew by " << (growth >> 20) << " MiB";
  RecordProperty("peak_rss_growth_mib", std::to_string(growth >> 20));
  EXPECT_EQ(SpoolFiles(), 0u);
}

}  // namespace
}  // namespace tandem::api
