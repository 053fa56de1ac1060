#include "serving/engine/model_follower.h"

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "common/http_client.h"
#include "glue/bus/event_types.h"
#include "glue/bus/sql_event_bus.h"
#include "glue/sql/database.h"
#include "glue/store/archive.h"
#include "glue/store/object_store.h"
#include "serving/server/replica.h"
#include "serving/testing/glue_env.h"
#include "serving/testing/test_util.h"

namespace tandem::serving::engine {
namespace {

namespace fs = std::filesystem;
using testing::ModelSpec;
using testing::WaitFor;

class FollowerTest : public testing::GlueTestEnv {
 protected:
  std::unique_ptr<server::Replica> StartReplica() {
    server::ReplicaOptions o;
    o.target = "fraud@champion";
    o.port = 0;
    o.replica_id = "r1";
    o.cache_dir = dir_.File("cache");
    o.batch = {8, 200, 1024, 1};
    auto r = server::Replica::Create(o, {registry_.get(), store_.get(), bus_.get()}, Clock::Real());
    EXPECT_TRUE(r.ok()) << r.status();
    EXPECT_TRUE((*r)->Start().ok());
    return std::move(r).value();
  }
};

TEST_F(FollowerTest, HotSwapsUnderLoadWithoutAFailedRequest) {
  testing::ModelSpec a;
  ASSERT_TRUE(testing::WritePackage(dir_.File("v1"), a).ok());
  testing::ModelSpec b;
  b.seed = 99;
  b.rounds = 5;
  ASSERT_TRUE(testing::WritePackage(dir_.File("v2"), b).ok());
  int64_t v1 = Register(dir_.File("v1"));                                // a packed directory
  int64_t v2 = Register(dir_.File("v2") + "/model.json", "model.json");  // a single file
  Alias("champion", v1);
  auto replica = StartReplica();
  ASSERT_TRUE(replica->ready());
  EXPECT_EQ(replica->version(), v1);
  ASSERT_NE(replica->follower(), nullptr);
  EXPECT_EQ(replica->follower()->queue_name(), "serve-fraud-r1");

  // Background load: every response must be a 200 from v1 or v2.
  std::atomic<bool> stop{false};
  std::atomic<int> ok{0}, bad{0};
  std::string body = R"({"inputs":[{"name":"input","shape":[1,20],"datatype":"FP32","data":[)";
  for (int i = 0; i < 20; ++i) body += (i ? "," : "") + std::to_string(0.1 * i);
  body += "]}]}";
  std::string url =
      "http://127.0.0.1:" + std::to_string(replica->port()) + "/v2/models/fraud/infer";
  std::vector<std::thread> load;
  for (int t = 0; t < 4; ++t) {
    load.emplace_back([&] {
      http::Client c;
      while (!stop.load()) {
        auto r = c.Post(url, body);
        if (r.ok() && r->status == 200) {
          ok++;
        } else {
          bad++;
          ADD_FAILURE() << (r.ok() ? r->body : std::string(r.status().message()));
        }
      }
    });
  }
  int64_t target = v1;
  for (int move = 0; move < 5; ++move) {
    target = target == v1 ? v2 : v1;
    Alias("champion", target);
    ASSERT_TRUE(WaitFor([&] { return replica->version() == target; }))
        << "move " << move << " to " << target << " not served; serving " << replica->version();
    int seen = ok.load();
    ASSERT_TRUE(WaitFor([&] { return ok.load() > seen + 5; }));
  }
  stop = true;
  for (auto& t : load) t.join();
  EXPECT_EQ(bad.load(), 0);
  EXPECT_GT(ok.load(), 30);
  EXPECT_EQ(replica->follower()->swaps(), 5u);
  EXPECT_EQ(Events(bus::events::kModelSwapped).size(), 6u);  // first load + 5 moves
  std::string metrics = replica->metrics().Render();
  EXPECT_NE(metrics.find("tandem_model_swaps_total{model=\"fraud\"} 5"), std::string::npos);
  // Re-announcing the same version is idempotent.
  Alias("champion", target);
  ASSERT_TRUE(WaitFor([&] {
    auto q = bus_->GetQueue("serve-fraud-r1");
    return q.ok() && q->visible == 0 && q->in_flight == 0;
  }));
  EXPECT_EQ(replica->follower()->swaps(), 5u);
  replica->Shutdown();
  EXPECT_FALSE(bus_->GetQueue("serve-fraud-r1").ok());  // cleaned up
}

TEST_F(FollowerTest, BrokenVersionsKeepTheOldOneServingAndEmitFailures) {
  ASSERT_TRUE(testing::WritePackage(dir_.File("good"), testing::ModelSpec{}).ok());
  int64_t good = Register(dir_.File("good"));
  // A corrupt model file inside a valid archive.
  fs::create_directories(dir_.File("corrupt"));
  std::ofstream(dir_.File("corrupt/model.json")) << R"({"learner": "not a model"})";
  int64_t corrupt = Register(dir_.File("corrupt"));
  // A valid model whose self-test fails.
  ASSERT_TRUE(testing::WritePackage(dir_.File("selftest"), testing::ModelSpec{}).ok());
  std::string zeros = "[";
  for (int i = 0; i < 20; ++i) zeros += (i ? ",0" : "0");
  std::ofstream(dir_.File("selftest/self_test.jsonl"))
      << R"({"input": )" << zeros << R"(], "output": [42.0]})"
      << "\n";
  int64_t failing = Register(dir_.File("selftest"));
  // Bytes that are neither a model nor an archive.
  std::ofstream(dir_.File("junk.bin")) << "\x1f\x8b garbage";
  int64_t junk = Register(dir_.File("junk.bin"));

  Alias("champion", good);
  auto replica = StartReplica();
  ASSERT_EQ(replica->version(), good);
  for (int64_t bad : {corrupt, failing, junk}) {
    size_t before = Events(bus::events::kModelSwapFailed).size();
    Alias("champion", bad);
    ASSERT_TRUE(WaitFor([&] { return Events(bus::events::kModelSwapFailed).size() > before; }))
        << "no failure event for version " << bad;
    EXPECT_EQ(replica->version(), good);
    EXPECT_TRUE(replica->ready());
    Json e = Events(bus::events::kModelSwapFailed).back();
    EXPECT_EQ(e["version"], bad);
    EXPECT_EQ(e["current_version"], good);
    EXPECT_FALSE(e["reason"].get<std::string>().empty());
    auto st = replica->manager().StatusOf("fraud");
    EXPECT_EQ(st->state, ModelState::kReady);
    EXPECT_NE(st->reason, "");
    // Users read the reason: it names no file of the replica's cache.
    EXPECT_EQ(st->reason.find(dir_.File("cache")), std::string::npos) << st->reason;
    EXPECT_EQ(e["reason"].get<std::string>().find(dir_.File("cache")), std::string::npos) << e;
  }
  EXPECT_NE(Events(bus::events::kModelSwapFailed)[1]["reason"].get<std::string>().find("self"),
            std::string::npos)
      << Events(bus::events::kModelSwapFailed)[1].dump();
  EXPECT_EQ(replica->follower()->failures(), 3u);
  // Still answering with the good version.
  http::Client c;
  auto r = c.Post("http://127.0.0.1:" + std::to_string(replica->port()) + "/infer",
                  R"({"model":"fraud","features":)" + zeros + "]}");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 200) << r->body;
  EXPECT_NE(r->body.find("\"version\":\"" + std::to_string(good) + "\""), std::string::npos);
}

TEST_F(FollowerTest, FirstLoadFailureLeavesTheReplicaUnreadyUntilAGoodVersion) {
  fs::create_directories(dir_.File("corrupt"));
  std::ofstream(dir_.File("corrupt/model.json")) << "{}";
  Alias("champion", Register(dir_.File("corrupt")));
  auto replica = StartReplica();
  EXPECT_FALSE(replica->ready());
  auto st = replica->manager().StatusOf("fraud");
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->state, ModelState::kUnavailable);
  ASSERT_TRUE(testing::WritePackage(dir_.File("good"), testing::ModelSpec{}).ok());
  int64_t good = Register(dir_.File("good"));
  Alias("champion", good);
  ASSERT_TRUE(WaitFor([&] { return replica->ready(); }));
  EXPECT_EQ(replica->version(), good);
}

TEST_F(FollowerTest, BadTargetsAreRefused) {
  server::ReplicaOptions o;
  o.target = "fraud@@x";
  o.port = 0;
  o.cache_dir = dir_.File("cache");
  auto r = server::Replica::Create(o, {registry_.get(), store_.get(), bus_.get()}, Clock::Real());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)->Start().code(), StatusCode::kInvalidArgument);
  o.target = "";
  auto none = server::Replica::Create(o, {}, Clock::Real());
  ASSERT_TRUE(none.ok());
  EXPECT_EQ((*none)->Start().code(), StatusCode::kInvalidArgument);
  o.target = "fraud@champion";
  EXPECT_FALSE(server::Replica::Create(o, {}, Clock::Real()).ok());
}

}  // namespace
}  // namespace tandem::serving::engine
