// ApiClient given several control planes: failover on a refused connection
// (any method), on a broken one only for idempotent methods, and a clear
// error naming every URL when none answers; every URL verified with the CA.
#include "cli/api_client.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <thread>

#include "common/http_server.h"
#include "common/testing/tls_certs.h"

namespace tandem::cli {
namespace {

std::string Url(int port) { return "http://127.0.0.1:" + std::to_string(port); }

// A port nothing listens on (bound, then closed).
int DeadPort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
  socklen_t len = sizeof(a);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

// Accepts connections and closes them at once, without a reply (as a
// control plane killed mid-request does).
class Slammer {
 public:
  Slammer() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
    EXPECT_EQ(::listen(fd_, 16), 0);
    socklen_t len = sizeof(a);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] {
      while (true) {
        int c = ::accept(fd_, nullptr, nullptr);
        if (c < 0 || stop_) {
          if (c >= 0) ::close(c);
          return;
        }
        accepted_++;
        char buf[4096];
        (void)::recv(c, buf, sizeof(buf), 0);  // the request has arrived
        ::close(c);
      }
    });
  }
  ~Slammer() {
    stop_ = true;
    ::shutdown(fd_, SHUT_RDWR);
    thread_.join();
    ::close(fd_);
  }
  int port() const { return port_; }
  int accepted() const { return accepted_; }

 private:
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> accepted_{0};
  std::thread thread_;
};

class ApiClientFailoverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_.Route("GET", "/api/v1/ping", [this](http::Request&, http::Response& res) {
      hits_++;
      res.Json(200, R"({"pong": true})");
    });
    server_.Route("POST", "/api/v1/things", [this](http::Request&, http::Response& res) {
      hits_++;
      res.Json(201, R"({"created": true})");
    });
    auto port = server_.Start();
    ASSERT_TRUE(port.ok()) << port.status();
    live_ = Url(*port);
  }
  http::Server server_{http::ServerOptions{}};
  std::string live_;
  std::atomic<int> hits_{0};
};

TEST_F(ApiClientFailoverTest, RefusedConnectionGoesToTheNextControlPlane) {
  ApiClient c(Url(DeadPort()) + "/, " + live_);
  auto got = c.Call("GET", "/api/v1/ping");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_TRUE((*got)["pong"].get<bool>());
  EXPECT_EQ(c.server(), live_);  // and stays there
  // Nothing was sent to the dead one, so a POST fails over as well.
  ApiClient p(Url(DeadPort()) + "," + live_);
  auto created = p.Call("POST", "/api/v1/things", Json::object());
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_EQ(hits_.load(), 2);
}

TEST_F(ApiClientFailoverTest, BrokenConnectionIsRetriedOnlyWhenIdempotent) {
  Slammer dead;
  ApiClient get(Url(dead.port()) + "," + live_);
  auto got = get.Call("GET", "/api/v1/ping");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(get.server(), live_);

  ApiClient post(Url(dead.port()) + "," + live_);
  auto created = post.Call("POST", "/api/v1/things", Json::object());
  ASSERT_FALSE(created.ok());  // it may have been applied: not re-sent
  EXPECT_EQ(created.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(hits_.load(), 1);
  EXPECT_GE(dead.accepted(), 2);
}

TEST_F(ApiClientFailoverTest, NoneReachableNamesEveryServer) {
  std::string a = Url(DeadPort()), b = Url(DeadPort());
  ApiClient c(a + "," + b);
  auto got = c.Call("GET", "/api/v1/ping");
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(got.status().message().find(a), std::string::npos) << got.status();
  EXPECT_NE(got.status().message().find(b), std::string::npos) << got.status();
  // One server: unchanged behaviour.
  ApiClient one(live_);
  EXPECT_TRUE(one.Call("GET", "/api/v1/ping").ok());
}


// Failover and TLS together: the CA (--ca-file) verifies whichever control
// plane answers; another CA is refused there, not skipped to the next one.
TEST(ApiClientTlsFailoverTest, TheControlPlaneFailedOverToIsVerifiedWithTheCa) {
  std::string dir = ::testing::TempDir() + "/api_client_tls." + std::to_string(::getpid());
  auto certs = tandem::testing::MakeTlsCerts(dir);
  ASSERT_TRUE(certs.ok()) << certs.status();
  http::ServerOptions o;
  o.tls.cert_file = certs->cert;
  o.tls.key_file = certs->key;
  http::Server server(o);
  std::atomic<int> hits{0};
  server.Route("GET", "/api/v1/ping", [&hits](http::Request&, http::Response& res) {
    hits++;
    res.Json(200, R"({"pong": true})");
  });
  auto port = server.Start();
  ASSERT_TRUE(port.ok()) << port.status();
  const std::string https = "https://127.0.0.1:" + std::to_string(*port);

  ApiClient c(Url(DeadPort()) + "," + https, "", certs->ca);
  auto got = c.Call("GET", "/api/v1/ping");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(c.server(), https);

  ApiClient wrong(Url(DeadPort()) + "," + https, "", certs->other_ca);
  auto refused = wrong.Call("GET", "/api/v1/ping");
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kFailedPrecondition) << refused.status();
  EXPECT_NE(std::string(refused.status().message()).find("does not verify"), std::string::npos)
      << refused.status();
  // No CA given: the error says how to give one.
  ApiClient none(Url(DeadPort()) + "," + https);
  auto hint = none.Call("GET", "/api/v1/ping");
  ASSERT_FALSE(hint.ok());
  EXPECT_NE(std::string(hint.status().message()).find("--ca-file"), std::string::npos)
      << hint.status();
  EXPECT_EQ(hits.load(), 1);
  server.Stop();
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}

}  // namespace
}  // namespace tandem::cli
