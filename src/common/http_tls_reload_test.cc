// HTTPS certificate reload without a restart (http_tls_reload.h): new
// connections get a changed certificate, a bad one keeps the previous.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "common/http_client.h"
#include "common/http_server.h"
#include "common/http_tls_reload.h"
#include "common/testing/tls_certs.h"

namespace tandem::http {
namespace {

namespace fs = std::filesystem;

class TlsReloadTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string(::testing::TempDir() + "/http_tls_reload_test." +
                           std::to_string(::getpid()));
    // Two independent sets: CA A signs cert A, CA B signs cert B (both 127.0.0.1).
    auto a = tandem::testing::MakeTlsCerts(*dir_ + "/a");
    ASSERT_TRUE(a.ok()) << a.status();
    auto b = tandem::testing::MakeTlsCerts(*dir_ + "/b");
    ASSERT_TRUE(b.ok()) << b.status();
    a_ = new tandem::testing::TlsCerts(*a);
    b_ = new tandem::testing::TlsCerts(*b);
  }
  static void TearDownTestSuite() {
    std::error_code ec;
    fs::remove_all(*dir_, ec);
  }

  void SetUp() override {
    live_ = *dir_ + "/live-" + ::testing::UnitTest::GetInstance()->current_test_info()->name();
    fs::create_directories(live_);
    Install(a_->cert, a_->key);
    ServerOptions o;
    o.tls.cert_file = live_ + "/tls.crt";
    o.tls.key_file = live_ + "/tls.key";
    server_ = std::make_unique<Server>(o);
    server_->Route("GET", "/hello", [](Request&, Response& res) { res.Text(200, "hello"); });
    auto port = server_->Start();
    ASSERT_TRUE(port.ok()) << port.status();
    url_ = "https://127.0.0.1:" + std::to_string(*port) + "/hello";
  }

  // Replaces one live file the way an operator or a Secret volume would:
  // written aside, then renamed over it.
  void Put(const std::string& name, const std::string& text) {
    const std::string tmp = live_ + "/." + name + ".tmp";
    std::ofstream(tmp, std::ios::binary | std::ios::trunc) << text;
    fs::rename(tmp, live_ + "/" + name);
  }
  static std::string Read(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  void Install(const std::string& cert, const std::string& key) {
    Put("tls.key", Read(key));
    Put("tls.crt", Read(cert));
  }

  // A new connection trusting only `ca`: "ok", or the client's error.
  std::string Connect(const std::string& ca) {
    Client client;  // a fresh client: a new connection, a new handshake
    ClientRequest req;
    req.url = url_;
    req.ca_file = ca;
    req.timeout_ms = 10'000;
    auto r = client.Do(req);
    if (!r.ok()) return std::string(r.status().message());
    return r->status == 200 && r->body == "hello" ? "ok" : "HTTP " + std::to_string(r->status);
  }

  static std::string* dir_;
  static tandem::testing::TlsCerts* a_;
  static tandem::testing::TlsCerts* b_;
  std::string live_, url_;
  std::unique_ptr<Server> server_;
};

std::string* TlsReloadTest::dir_ = nullptr;
tandem::testing::TlsCerts* TlsReloadTest::a_ = nullptr;
tandem::testing::TlsCerts* TlsReloadTest::b_ = nullptr;

TEST_F(TlsReloadTest, NewConnectionsGetTheChangedCertificate) {
  EXPECT_EQ(Connect(a_->ca), "ok");
  EXPECT_NE(Connect(b_->ca), "ok");
  Install(b_->cert, b_->key);
  EXPECT_EQ(Connect(b_->ca), "ok");
  EXPECT_NE(Connect(a_->ca).find("does not verify"), std::string::npos);
  // And back.
  Install(a_->cert, a_->key);
  EXPECT_EQ(Connect(a_->ca), "ok");
  EXPECT_NE(Connect(b_->ca), "ok");
}

TEST_F(TlsReloadTest, ABadNewCertificateKeepsThePreviousOneAndSaysWhy) {
  Install(b_->cert, b_->key);
  ASSERT_EQ(Connect(b_->ca), "ok");
  // Not PEM; a key that does not match; a missing key; half of a new pair.
  ::testing::internal::CaptureStderr();
  Put("tls.crt", "not a certificate\n");
  EXPECT_EQ(Connect(b_->ca), "ok");
  std::string log = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(log.find("tls: new certificate not loaded; still serving the previous one"),
            std::string::npos)
      << log;
  EXPECT_NE(log.find("tls.crt is not a PEM certificate"), std::string::npos) << log;
  ::testing::internal::CaptureStderr();
  Put("tls.crt", Read(b_->cert));
  Put("tls.key", Read(a_->key));
  EXPECT_EQ(Connect(b_->ca), "ok");
  log = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(log.find("does not match the certificate"), std::string::npos) << log;
  fs::remove(live_ + "/tls.key");
  EXPECT_EQ(Connect(b_->ca), "ok");
  Put("tls.key", Read(a_->key));  // the pair completes: A's key, then A's certificate
  EXPECT_EQ(Connect(b_->ca), "ok");
  Put("tls.crt", Read(a_->cert));
  EXPECT_EQ(Connect(a_->ca), "ok");
  EXPECT_NE(Connect(b_->ca), "ok");
}

// The context itself: kept while the files are unchanged, replaced on a
// change, kept (with the reason returned) on a bad change.
TEST_F(TlsReloadTest, ServerTlsReplacesItsContextOnlyForAGoodChange) {
  TlsFiles files{live_ + "/tls.crt", live_ + "/tls.key"};
  auto tls = detail::ServerTls::Load(files);
  ASSERT_TRUE(tls.ok()) << tls.status();
  auto first = (*tls)->ForNewConnection();
  ASSERT_NE(first, nullptr);
  EXPECT_EQ((*tls)->ForNewConnection(), first);  // unchanged: no reload
  EXPECT_EQ((*tls)->reloads(), 0);
  Install(b_->cert, b_->key);
  auto second = (*tls)->ForNewConnection();
  EXPECT_NE(second, first);
  EXPECT_EQ((*tls)->reloads(), 1);
  Put("tls.key", "junk");
  EXPECT_EQ((*tls)->ForNewConnection(), second);
  Status s = (*tls)->Reload();
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s;
  EXPECT_NE(std::string(s.message()).find("tls.key"), std::string::npos) << s;
  EXPECT_EQ((*tls)->ForNewConnection(), second);
  EXPECT_EQ((*tls)->reloads(), 1);
  // Loading bad files in the first place fails as Start() does.
  auto bad = detail::ServerTls::Load(files);
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
}

// Server::ReloadTls (a command's SIGHUP): reloads at once, without waiting for
// a new connection; a bad pair is refused with its reason and the old one kept.
TEST_F(TlsReloadTest, ReloadTlsLoadsTheFilesNowOrSaysWhyNot) {
  Install(b_->cert, b_->key);
  EXPECT_TRUE(server_->ReloadTls().ok());
  EXPECT_EQ(Connect(b_->ca), "ok");
  EXPECT_TRUE(server_->ReloadTls().ok());  // unchanged files: reloaded all the same
  EXPECT_EQ(Connect(b_->ca), "ok");
  Put("tls.key", "junk");
  ::testing::internal::CaptureStderr();
  Status s = server_->ReloadTls();
  std::string log = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s;
  EXPECT_NE(std::string(s.message()).find("tls.key"), std::string::npos) << s;
  EXPECT_NE(log.find("still serving the previous one"), std::string::npos) << log;
  EXPECT_EQ(Connect(b_->ca), "ok");
  server_->Stop();
  EXPECT_EQ(server_->ReloadTls().code(), StatusCode::kFailedPrecondition);
}

TEST(TlsReloadPlainTest, APlainHttpServerHasNoCertificateToReload) {
  Server server(ServerOptions{});
  server.Route("GET", "/hello", [](Request&, Response& res) { res.Text(200, "hello"); });
  EXPECT_EQ(server.ReloadTls().code(), StatusCode::kFailedPrecondition);  // not started
  ASSERT_TRUE(server.Start().ok());
  Status s = server.ReloadTls();
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition) << s;
  EXPECT_NE(std::string(s.message()).find("plain HTTP"), std::string::npos) << s;
}

}  // namespace
}  // namespace tandem::http
