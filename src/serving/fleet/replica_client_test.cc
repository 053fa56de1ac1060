#include "serving/fleet/replica_client.h"
#include "serving/fleet/replica_probe.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "common/http_server.h"
#include "common/testing/tls_certs.h"

namespace tandem::serving::fleet {
namespace {

// A stand-in replica admin port: ready, serving model "m" version 7.
class ReplicaClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::testing::TempDir() + "/replica_client_test." + std::to_string(::getpid());
    auto c = tandem::testing::MakeTlsCerts(dir_);
    ASSERT_TRUE(c.ok()) << c.status();
    certs_ = *c;
  }
  void TearDown() override {
    if (server_) server_->Stop(0);
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  int Start(const std::string& cert) {
    http::ServerOptions o;
    o.tls = {cert, certs_.key};
    server_ = std::make_unique<http::Server>(o);
    server_->Route("GET", "/v2/health/ready",
                   [](http::Request&, http::Response& r) { r.Json(200, "{}"); });
    server_->Route("GET", "/v2/models/m", [](http::Request&, http::Response& r) {
      r.Json(200, R"({"name":"m","versions":["7"]})");
    });
    auto port = server_->Start();
    EXPECT_TRUE(port.ok()) << port.status();
    return port.ok() ? *port : 0;
  }
  std::string dir_;
  tandem::testing::TlsCerts certs_;
  std::unique_ptr<http::Server> server_;
  http::Client client_;
};

TEST_F(ReplicaClientTest, ProbesOverTlsUnderTheCertificatesName) {
  // The certificate names only other.example: the probe connects to
  // 127.0.0.1 and verifies that name against the certificate itself.
  int port = Start(certs_.other_host);
  auto replicas = ReplicaClient::Open(certs_.other_host);
  ASSERT_TRUE(replicas.ok()) << replicas.status();
  EXPECT_TRUE((*replicas)->tls());
  EXPECT_EQ((*replicas)->Endpoint("127.0.0.1", 8080), "https://127.0.0.1:8080");
  ReplicaProbe p = ProbeReplica(client_, **replicas, port, "m", 5000);
  EXPECT_TRUE(p.ready);
  EXPECT_EQ(p.version, 7);
}

TEST_F(ReplicaClientTest, ACertificateWithIpAddressIsReachedAsIs) {
  int port = Start(certs_.cert);
  auto replicas = ReplicaClient::Open(certs_.cert);
  ASSERT_TRUE(replicas.ok()) << replicas.status();
  http::ClientRequest req = (*replicas)->Request(port, "/v2/health/ready", 5000);
  EXPECT_EQ(req.url, "https://127.0.0.1:" + std::to_string(port) + "/v2/health/ready");
  EXPECT_TRUE(ProbeReplica(client_, **replicas, port, "m", 5000).ready);
}

TEST_F(ReplicaClientTest, AReplicaWithAnotherCertificateIsNotReady) {
  int port = Start(certs_.other_host);
  auto plain = ReplicaClient::Open("");
  ASSERT_TRUE(plain.ok());
  EXPECT_FALSE((*plain)->tls());
  EXPECT_FALSE(ProbeReplica(client_, **plain, port, "m", 5000).ready);  // plain HTTP: 400
  auto other = ReplicaClient::Open(certs_.cert);  // trusts server.pem only
  ASSERT_TRUE(other.ok());
  EXPECT_FALSE(ProbeReplica(client_, **other, port, "m", 5000).ready);
}

TEST_F(ReplicaClientTest, AnUnreadableCertificateIsRefused) {
  auto r = ReplicaClient::Open(dir_ + "/missing.pem");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace tandem::serving::fleet
