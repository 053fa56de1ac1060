#include "common/http_client.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <mutex>

#include "common/http_server.h"
#include "common/json.h"

namespace tandem::http {
namespace {

std::string Url(int port, std::string_view path) {
  return "http://127.0.0.1:" + std::to_string(port) + std::string(path);
}

// A port that nothing listens on: bind an ephemeral port, then release it.
int UnusedPort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

class HttpClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* m : {"GET", "POST", "PUT", "DELETE", "PATCH"}) {
      server_.Route(m, "/echo", [](Request& req, Response& res) {
        Json j = {{"method", req.method},
                  {"body", req.body},
                  {"content_type", req.Header("Content-Type")},
                  {"x_token", req.Header("x-token")}};
        res.Json(200, j.dump());
        res.headers["X-Custom-Header"] = "yes";
      });
    }
    server_.Route("GET", "/slow", [this](Request&, Response& res) {
      std::unique_lock<std::mutex> l(mu_);
      cv_.wait_for(l, std::chrono::seconds(20), [this] { return released_; });
      res.Text(200, "late");
    });
    auto port = server_.Start();
    ASSERT_TRUE(port.ok()) << port.status();
    port_ = *port;
  }
  void TearDown() override {
    Release();
    server_.Stop();
  }
  void Release() {
    std::lock_guard<std::mutex> l(mu_);
    released_ = true;
    cv_.notify_all();
  }

  Server server_{ServerOptions{}};
  int port_ = 0;
  std::mutex mu_;
  std::condition_variable cv_;
  bool released_ = false;
};

TEST_F(HttpClientTest, MethodsHeadersAndBodies) {
  Client client;
  for (const char* m : {"PUT", "DELETE", "PATCH", "POST"}) {
    ClientRequest req;
    req.method = m;
    req.url = Url(port_, "/echo");
    req.body = std::string("body-") + m;
    req.headers["X-Token"] = "t1";
    req.headers["Content-Type"] = "text/plain";
    auto r = client.Do(req);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->status, 200);
    Json j = Json::parse(r->body);
    EXPECT_EQ(j["method"], m);
    EXPECT_EQ(j["body"], std::string("body-") + m);
    EXPECT_EQ(j["x_token"], "t1");
    EXPECT_EQ(j["content_type"], "text/plain");
    EXPECT_EQ(r->headers["x-custom-header"], "yes");  // lowercased
  }
  ClientRequest del;
  del.method = "DELETE";
  del.url = Url(port_, "/echo");
  auto r = client.Do(del);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(Json::parse(r->body)["body"], "");

  // HEAD falls back to the GET route and gets no body.
  ClientRequest head;
  head.method = "HEAD";
  head.url = Url(port_, "/echo");
  r = client.Do(head);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200);
  EXPECT_TRUE(r->body.empty());
  EXPECT_NE(r->headers["content-length"], "0");
  r = client.Get(Url(port_, "/echo"));  // same connection still in sync
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(Json::parse(r->body)["method"], "GET");

  r = client.Post(Url(port_, "/echo"), R"({"a":1})");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(Json::parse(r->body)["content_type"], "application/json");
}

TEST_F(HttpClientTest, StreamsBodyFromFile) {
  std::string dir = ::testing::TempDir() + "/http_client_test_" + std::to_string(::getpid());
  std::filesystem::create_directories(dir);
  std::string path = dir + "/upload.bin";
  std::string content;
  for (int i = 0; i < 200'000; ++i) content.push_back(static_cast<char>('a' + i % 26));
  std::ofstream(path, std::ios::binary) << content;
  Client client;
  for (const char* m : {"PUT", "POST"}) {
    ClientRequest req;
    req.method = m;
    req.url = Url(port_, "/echo");
    req.body_file = path;
    auto r = client.Do(req);
    ASSERT_TRUE(r.ok()) << r.status();
    Json j = Json::parse(r->body);
    EXPECT_EQ(j["method"], m);
    EXPECT_EQ(j["body"], content);
  }
  ClientRequest missing;
  missing.method = "PUT";
  missing.url = Url(port_, "/echo");
  missing.body_file = dir + "/nope.bin";
  auto r = client.Do(missing);
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  EXPECT_NE(std::string(r.status().message()).find("nope.bin"), std::string::npos);
  std::filesystem::remove_all(dir);
}

TEST_F(HttpClientTest, StreamsBodyFromSourceAndItsErrorAbortsTheRequest) {
  std::string content;
  for (int i = 0; i < 300'000; ++i) content.push_back(static_cast<char>('a' + i % 23));
  Client client;
  ClientRequest req;
  req.method = "PUT";
  req.url = Url(port_, "/echo");
  req.buffer_size = 64 << 10;
  req.body_size = content.size();
  size_t pos = 0, calls = 0;
  req.body_source = [&](char* buf, size_t n) -> StatusOr<size_t> {
    ++calls;
    const size_t k = std::min(n, content.size() - pos);
    std::copy_n(content.data() + pos, k, buf);
    pos += k;
    return k;
  };
  auto r = client.Do(req);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(Json::parse(r->body)["body"], content);
  EXPECT_GE(calls, 5u);  // 300 KB through a 64 KiB buffer

  // The source's error stops the upload half-way and is what Do returns.
  pos = 0;
  req.body_source = [&](char* buf, size_t n) -> StatusOr<size_t> {
    if (pos > 0) return AbortedError("source changed");
    const size_t k = std::min(n, content.size());
    std::copy_n(content.data(), k, buf);
    pos += k;
    return k;
  };
  r = client.Do(req);
  EXPECT_EQ(r.status().code(), StatusCode::kAborted);
  EXPECT_EQ(r.status().message(), "source changed");
  r = client.Get(Url(port_, "/echo"));  // still usable
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 200);
}

TEST_F(HttpClientTest, OnBodyReceivesDataAndCanAbort) {
  Client client;
  ClientRequest req;
  req.url = Url(port_, "/echo");
  std::string got;
  req.on_body = [&](std::string_view d) {
    got.append(d);
    return true;
  };
  auto r = client.Do(req);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->body.empty());
  EXPECT_EQ(Json::parse(got)["method"], "GET");
  int calls = 0;
  req.on_body = [&](std::string_view) { return ++calls < 1; };
  r = client.Do(req);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(calls, 1);
  // The client is still usable after an abort.
  r = client.Get(Url(port_, "/echo"));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 200);
}

TEST_F(HttpClientTest, RefusedConnectionIsUnavailable) {
  Client client;
  std::string url = Url(UnusedPort(), "/x");
  auto r = client.Get(url);
  ASSERT_EQ(r.status().code(), StatusCode::kUnavailable) << r.status();
  EXPECT_EQ(std::string(r.status().message()).rfind("cannot connect to " + url + ": ", 0), 0u)
      << r.status();
}

TEST_F(HttpClientTest, TimeoutIsDeadlineExceeded) {
  Client client;
  auto r = client.Get(Url(port_, "/slow"), 200);
  EXPECT_EQ(r.status().code(), StatusCode::kDeadlineExceeded) << r.status();
  EXPECT_NE(std::string(r.status().message()).find("/slow"), std::string::npos);
  Release();
  r = client.Get(Url(port_, "/slow"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->body, "late");
}

TEST_F(HttpClientTest, BadUrlIsInvalidArgument) {
  Client client;
  auto r = client.Get("notascheme://x");
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << r.status();
}

}  // namespace
}  // namespace tandem::http
