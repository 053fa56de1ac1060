#include "serving/server/replica.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "common/http_client.h"
#include "common/testing/raw_conn.h"
#include "serving/testing/test_util.h"

namespace tandem::serving::server {
namespace {

using testing::TempDir;

TEST(ReplicaTest, ServesALocalPackageAndDrainsOnShutdown) {
  testing::TempDir dir;
  ASSERT_TRUE(testing::WritePackage(dir.File("churn"), {}).ok());
  ReplicaOptions o;
  o.model_dir = dir.File("churn");
  o.port = 0;
  o.batch = {64, 300'000, 64, 1};  // requests wait up to 300 ms for company
  o.grace_ms = 10'000;
  auto r = Replica::Create(o, {}, Clock::Real());
  ASSERT_TRUE(r.ok());
  Replica& replica = **r;
  ASSERT_TRUE(replica.Start().ok());
  EXPECT_TRUE(replica.ready());
  EXPECT_EQ(replica.Describe(),
            "serving churn version 1 on http://127.0.0.1:" + std::to_string(replica.port()));
  const std::string base = "http://127.0.0.1:" + std::to_string(replica.port());
  std::string features = "[";
  for (int i = 0; i < 20; ++i) features += (i ? ",1" : "1");
  features += "]";

  // Three requests sit in the batch queue when SIGTERM-equivalent arrives.
  std::atomic<int> ok{0};
  std::vector<std::thread> in_flight;
  for (int i = 0; i < 3; ++i) {
    in_flight.emplace_back([&] {
      http::Client c;
      auto res = c.Post(base + "/infer", R"({"model":"churn","features":)" + features + "}");
      if (res.ok() && res->status == 200) ok++;
    });
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (replica.metrics().in_flight.load() < 3 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::yield();
  }
  ASSERT_EQ(replica.metrics().in_flight.load(), 3);
  replica.Shutdown();
  for (auto& t : in_flight) t.join();
  EXPECT_EQ(ok.load(), 3);  // drained, not dropped
  EXPECT_FALSE(replica.ready());
  http::Client c;
  auto after = c.Get(base + "/v2/health/live", 2000);
  EXPECT_FALSE(after.ok());  // no longer accepting connections
  replica.Shutdown();        // idempotent
}

TEST(ReplicaTest, ABrokenLocalPackageFailsStart) {
  testing::TempDir dir;
  ReplicaOptions o;
  o.model_dir = dir.path();  // empty: no model file
  o.port = 0;
  auto r = Replica::Create(o, {}, Clock::Real());
  ASSERT_TRUE(r.ok());
  Status s = (*r)->Start();
  EXPECT_FALSE(s.ok());
  EXPECT_FALSE((*r)->ready());
  o.model_dir = dir.path();
  o.batch.max_batch_size = 0;
  auto bad = Replica::Create(o, {}, Clock::Real());
  EXPECT_EQ((*bad)->Start().code(), StatusCode::kInvalidArgument);
}

TEST(ReplicaTest, ReusePortLetsTwoReplicasShareOnePort) {
  testing::TempDir dir;
  ASSERT_TRUE(testing::WritePackage(dir.File("m"), {}).ok());
  ReplicaOptions o;
  o.model_dir = dir.File("m");
  o.port = 0;
  o.reuse_port = true;
  auto a = Replica::Create(o, {}, Clock::Real());
  ASSERT_TRUE((*a)->Start().ok());
  o.port = (*a)->port();
  auto b = Replica::Create(o, {}, Clock::Real());
  ASSERT_TRUE((*b)->Start().ok()) << "second replica on port " << o.port;
  EXPECT_EQ((*b)->port(), (*a)->port());
  (*a)->Shutdown();
  http::Client c;
  auto r = c.Get("http://127.0.0.1:" + std::to_string(o.port) + "/v2/health/ready");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200);  // the other replica keeps the port served
}

// tandem.yaml's `server:` limits reach the replica's HTTP server (Open takes
// them from the configuration): a dripped /infer body is a 408 while other
// requests are served.
TEST(ReplicaTest, SlowInferBodyIs408UnderTheConfiguredMinimumRate) {
  testing::TempDir dir;
  ASSERT_TRUE(testing::WritePackage(dir.File("churn"), {}).ok());
  Config config;
  config.home = dir.File("home");
  config.client_limits.min_body_bytes_per_s = 1000;
  config.client_limits.body_window_ms = 200;
  ReplicaOptions o;
  o.model_dir = dir.File("churn");
  o.port = 0;
  auto r = Replica::Open(config, o, Clock::Real());
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_TRUE((*r)->Start().ok());
  tandem::testing::RawConn slow((*r)->port());
  slow.Send("POST /infer HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            "Content-Length: 100000\r\n\r\n{\"model\":\"churn\",");
  std::atomic<bool> stop{false};
  std::thread drip([&] {
    for (int i = 0; i < 500 && !stop.load(); ++i) {
      slow.Send(" ");
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  });
  http::Client c;
  auto live = c.Get("http://127.0.0.1:" + std::to_string((*r)->port()) + "/v2/health/live");
  ASSERT_TRUE(live.ok()) << live.status();
  EXPECT_EQ(live->status, 200) << "served while the body drips";
  std::string resp = slow.ReadResponse();
  stop.store(true);
  drip.join();
  EXPECT_EQ(resp.rfind("HTTP/1.1 408", 0), 0u) << resp;
  EXPECT_NE(resp.find("request body too slow"), std::string::npos) << resp;
  EXPECT_EQ((*r)->metrics().in_flight.load(), 0);
  (*r)->Shutdown();
}

}  // namespace
}  // namespace tandem::serving::server
