// HTTPS: the server (ServerOptions::tls) and the client's verification
// (ClientRequest::ca_file), with certificates made at test time.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <memory>
#include <string>

#include "common/http_client.h"
#include "common/http_server.h"
#include "common/testing/tls_certs.h"

namespace tandem::http {
namespace {

class TlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string(::testing::TempDir() + "/http_tls_test." + std::to_string(::getpid()));
    auto c = tandem::testing::MakeTlsCerts(*dir_);
    ASSERT_TRUE(c.ok()) << c.status();
    certs_ = new tandem::testing::TlsCerts(*c);
  }
  static void TearDownTestSuite() {
    std::error_code ec;
    std::filesystem::remove_all(*dir_, ec);
  }

  // A server with GET /hello, POST /echo and GET /stream, over TLS with
  // `cert` (or plain HTTP if empty).
  int StartServer(const std::string& cert, ServerOptions o = {}) {
    o.tls.cert_file = cert;
    o.tls.key_file = cert.empty() ? "" : certs_->key;
    server_ = std::make_unique<Server>(o);
    server_->Route("GET", "/hello", [this](Request&, Response& res) {
      calls_++;
      res.Text(200, "hello");
    });
    server_->Route("POST", "/echo", [this](Request& req, Response& res) {
      calls_++;
      res.Text(200, req.body);
    });
    server_->Route("GET", "/stream", [this](Request&, Response& res) {
      calls_++;
      auto n = std::make_shared<int>(0);
      res.stream = [n](std::string& chunk, const StreamContext&) {
        chunk = "part" + std::to_string((*n)++) + ";";
        return *n < 3;
      };
    });
    auto port = server_->Start();
    EXPECT_TRUE(port.ok()) << port.status();
    return port.ok() ? *port : 0;
  }

  StatusOr<ClientResponse> Get(const std::string& url, const std::string& ca) {
    ClientRequest req;
    req.url = url;
    req.ca_file = ca;
    req.timeout_ms = 10'000;
    return client_.Do(req);
  }

  static std::string* dir_;
  static tandem::testing::TlsCerts* certs_;
  std::unique_ptr<Server> server_;
  std::atomic<int> calls_{0};
  Client client_;
};

std::string* TlsTest::dir_ = nullptr;
tandem::testing::TlsCerts* TlsTest::certs_ = nullptr;

std::string Https(int port, const std::string& host = "127.0.0.1") {
  return "https://" + host + ":" + std::to_string(port);
}

TEST_F(TlsTest, ServesHttpsVerifiedAgainstTheCa) {
  int port = StartServer(certs_->cert);
  for (const std::string host : {"127.0.0.1", "localhost"}) {
    auto r = Get(Https(port, host) + "/hello", certs_->ca);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, "hello");
  }
  // The server's own certificate as the trust anchor works too.
  auto pinned = Get(Https(port) + "/hello", certs_->cert);
  ASSERT_TRUE(pinned.ok()) << pinned.status();
  EXPECT_EQ(pinned->status, 200);
}

TEST_F(TlsTest, BodiesKeepAliveAndStreamsWorkOverTls) {
  int port = StartServer(certs_->cert);
  std::string big(3 << 20, 'x');
  for (size_t i = 0; i < big.size(); i += 4093) big[i] = static_cast<char>('a' + i % 26);
  for (int i = 0; i < 3; ++i) {  // several requests on one kept-alive connection
    ClientRequest req;
    req.method = "POST";
    req.url = Https(port) + "/echo";
    req.body = big;
    req.ca_file = certs_->ca;
    auto r = client_.Do(req);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->status, 200);
    EXPECT_TRUE(r->body == big);
  }
  auto s = Get(Https(port) + "/stream", certs_->ca);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->body, "part0;part1;part2;");
}

// Responses up to 64 KiB are written as one buffer (head and body: one
// SSL_write), larger ones through Beast's serializer: bodies on both sides of
// 16 KiB (one TLS record) and 64 KiB, an empty one and a HEAD, on one
// kept-alive connection, arrive whole with their headers.
TEST_F(TlsTest, ResponsesOfEverySizeAroundTheOneWriteLimit) {
  int port = StartServer(certs_->cert);
  for (size_t n : {size_t{0}, size_t{1}, size_t{16 << 10} - 200, size_t{16 << 10},
                   size_t{16 << 10} + 1, size_t{64 << 10} - 1, size_t{64 << 10},
                   size_t{64 << 10} + 1, size_t{300000}, size_t{5}}) {
    std::string body(n, 'y');
    for (size_t i = 0; i < n; i += 97) body[i] = static_cast<char>('a' + i % 26);
    ClientRequest req;
    req.method = "POST";
    req.url = Https(port) + "/echo";
    req.body = body;
    req.ca_file = certs_->ca;
    auto r = client_.Do(req);
    ASSERT_TRUE(r.ok()) << n << ": " << r.status();
    EXPECT_EQ(r->status, 200) << n;
    EXPECT_EQ(r->body.size(), n);
    EXPECT_TRUE(r->body == body) << n;
    EXPECT_EQ(r->headers["content-length"], std::to_string(n));
    EXPECT_EQ(r->headers["server"], "tandem");
    EXPECT_EQ(r->headers["content-type"], "text/plain; charset=utf-8");
  }
  ClientRequest head;
  head.method = "HEAD";
  head.url = Https(port) + "/hello";
  head.ca_file = certs_->ca;
  auto h = client_.Do(head);
  ASSERT_TRUE(h.ok()) << h.status();
  EXPECT_EQ(h->status, 200);
  EXPECT_EQ(h->body, "");
  EXPECT_EQ(h->headers["content-length"], "5");
  auto after = Get(Https(port) + "/hello", certs_->ca);  // the connection still works
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(after->body, "hello");
}

TEST_F(TlsTest, AnUnknownCaIsRefusedBeforeAnythingIsSent) {
  int port = StartServer(certs_->cert);
  auto r = Get(Https(port) + "/hello", certs_->other_ca);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kFailedPrecondition) << r.status();
  EXPECT_NE(std::string(r.status().message()).find("does not verify"), std::string::npos)
      << r.status();
  // The system's CAs do not know the test CA either.
  auto sys = Get(Https(port) + "/hello", "");
  ASSERT_FALSE(sys.ok());
  EXPECT_EQ(sys.status().code(), StatusCode::kFailedPrecondition) << sys.status();
  EXPECT_EQ(calls_.load(), 0);
}

TEST_F(TlsTest, AnExpiredCertificateIsRefused) {
  int port = StartServer(certs_->expired);
  auto r = Get(Https(port) + "/hello", certs_->ca);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kFailedPrecondition) << r.status();
  EXPECT_NE(std::string(r.status().message()).find("expired"), std::string::npos) << r.status();
  EXPECT_EQ(calls_.load(), 0);
}

TEST_F(TlsTest, TheHostNameIsChecked) {
  int port = StartServer(certs_->other_host);
  auto r = Get(Https(port) + "/hello", certs_->ca);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kFailedPrecondition) << r.status();
  EXPECT_EQ(calls_.load(), 0);
  // Reached on 127.0.0.1 under the name the certificate carries: accepted.
  ClientRequest req;
  req.url = Https(port, "other.example") + "/hello";
  req.ca_file = certs_->ca;
  req.connect_host = "127.0.0.1";
  auto ok = client_.Do(req);
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->status, 200);
}

TEST_F(TlsTest, PlainHttpToATlsPortIsToldToUseHttps) {
  int port = StartServer(certs_->cert);
  auto r = client_.Get("http://127.0.0.1:" + std::to_string(port) + "/hello");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 400);
  EXPECT_NE(r->body.find("https://"), std::string::npos) << r->body;
  EXPECT_EQ(calls_.load(), 0);
}

TEST_F(TlsTest, HttpsToAPlainPortFailsTheHandshake) {
  int port = StartServer("");
  auto r = Get(Https(port) + "/hello", certs_->ca);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kFailedPrecondition) << r.status();
  EXPECT_NE(std::string(r.status().message()).find("handshake"), std::string::npos) << r.status();
  EXPECT_EQ(calls_.load(), 0);
}

TEST_F(TlsTest, AMissingCaFileIsNamed) {
  int port = StartServer(certs_->cert);
  auto r = Get(Https(port) + "/hello", certs_->dir + "/nope.pem");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  EXPECT_NE(std::string(r.status().message()).find("nope.pem"), std::string::npos);
}

// A client that opens a TLS handshake and stalls (slowloris) is cut off
// after header_timeout_ms.
TEST_F(TlsTest, AStalledHandshakeIsCutOff) {
  ServerOptions o;
  o.header_timeout_ms = 300;
  int port = StartServer(certs_->cert, o);
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  timeval tv{20, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  const char start[] = {0x16, 0x03, 0x01};  // the first bytes of a ClientHello, then nothing
  ASSERT_EQ(::send(fd, start, sizeof(start), MSG_NOSIGNAL), 3);
  char buf[64];
  ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
  EXPECT_EQ(n, 0) << "the server should have closed the connection (errno " << errno << ")";
  ::close(fd);
}

TEST_F(TlsTest, UnusableFilesFailStartNamingThem) {
  struct Case {
    std::string cert, key, want;
  } cases[] = {
      {certs_->cert, certs_->dir + "/missing.key", "missing.key"},
      {certs_->dir + "/missing.pem", certs_->key, "missing.pem"},
      {certs_->cert, certs_->dir + "/other-ca.key", "does not match"},
      {certs_->key, certs_->key, "server.key"},  // a key where the certificate belongs
      {certs_->cert, "", "no key"},
  };
  for (const Case& c : cases) {
    ServerOptions o;
    o.tls.cert_file = c.cert;
    o.tls.key_file = c.key;
    Server s(o);
    s.Route("GET", "/x", [](Request&, Response& res) { res.Text(200, "x"); });
    auto port = s.Start();
    ASSERT_FALSE(port.ok()) << c.cert << " " << c.key;
    EXPECT_EQ(port.status().code(), StatusCode::kInvalidArgument) << port.status();
    EXPECT_NE(std::string(port.status().message()).find(c.want), std::string::npos)
        << port.status();
  }
}

TEST_F(TlsTest, CertificateHostNames) {
  EXPECT_EQ(*CertificateHostName(certs_->cert), "127.0.0.1");
  EXPECT_EQ(*CertificateHostName(certs_->other_host), "other.example");
  EXPECT_FALSE(CertificateHostName(certs_->key).ok());
  EXPECT_FALSE(CertificateHostName(certs_->dir + "/missing.pem").ok());
  EXPECT_TRUE(CheckTlsFiles({certs_->cert, certs_->key}).ok());
  EXPECT_FALSE(CheckTlsFiles({certs_->cert, certs_->dir + "/other-ca.key"}).ok());
}

}  // namespace
}  // namespace tandem::http
