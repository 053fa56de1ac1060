// The traffic policies inside a real replica: XGBoost packages in a registry,
// a SQLite bus, shadow and canary followed through alias moves, HTTP requests.
#include "serving/traffic/router.h"

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "common/http_client.h"
#include "glue/bus/event_types.h"
#include "glue/bus/sql_event_bus.h"
#include "glue/sql/database.h"
#include "glue/store/archive.h"
#include "glue/store/object_store.h"
#include "runtime/load_model.h"
#include "serving/server/replica.h"
#include "serving/testing/glue_env.h"
#include "serving/testing/test_util.h"

namespace tandem::serving::traffic {
namespace {

using testing::WaitFor;

// A predictor that answers like `inner` until `fail` is set, then errors.
class FlakyPredictor : public runtime::Predictor {
 public:
  explicit FlakyPredictor(int features) : inner_(features) {}
  int num_features() const override { return inner_.num_features(); }
  int num_outputs() const override { return 1; }
  Status Predict(const float* rows, size_t n, size_t cols, float* out) const override {
    if (fail.load()) return InternalError("candidate exploded");
    return inner_.Predict(rows, n, cols, out);
  }
  const runtime::Signature& signature() const override { return inner_.signature(); }
  const std::vector<std::string>& feature_names() const override { return inner_.feature_names(); }
  std::string flavor() const override { return "flaky"; }
  std::string Describe() const override { return "flaky"; }
  std::atomic<bool> fail{false};

 private:
  testing::SumPredictor inner_;
};

// ---- ShadowMirror on its own (fake predictors) -----------------------------

struct Side {
  Side() : manager(engine::ModelManagerOptions{}, metrics, Clock::Real()) {}
  engine::ServingMetrics metrics;
  engine::ModelManager manager;
  void Install(std::unique_ptr<runtime::Predictor> p, int64_t version = 1) {
    ASSERT_TRUE(manager
                    .Install("s", version,
                             std::make_unique<runtime::LoadedModel>(runtime::ModelPackage{},
                                                                    std::move(p), 0))
                    .ok());
  }
};

TEST(ShadowMirrorTest, ComparesScoresAndLabels) {
  Side side;
  side.Install(std::make_unique<testing::SumPredictor>(2, 2.0f));  // shadow = 2 x primary
  ShadowOptions o;
  o.queue_capacity = 100;
  ShadowMirror mirror(
      o, [&] { return side.manager.Get("s"); }, Clock::Real());
  // Rows (0.1, 0.1) and (0.2, 0.2): primary 0.2 / 0.4 (label 0), shadow 0.4 / 0.8.
  const float rows[] = {0.1f, 0.1f, 0.2f, 0.2f};
  const float primary[] = {0.2f, 0.4f};
  for (int i = 0; i < 10; ++i) EXPECT_TRUE(mirror.Submit(rows, 2, 2, primary, 1));
  ASSERT_TRUE(mirror.WaitIdle(60'000));
  EXPECT_EQ(mirror.mirrored(), 10u);
  EXPECT_EQ(mirror.errors(), 0u);
  EXPECT_EQ(mirror.compared_rows(), 20u);
  EXPECT_EQ(mirror.agreeing_rows(), 10u);  // 0.4 vs 0.8 disagree at 0.5
  Json s = mirror.Stats();
  EXPECT_DOUBLE_EQ(s["label_agreement"].get<double>(), 0.5);
  EXPECT_EQ(s["abs_diff"]["count"], 20);
  EXPECT_NEAR(s["abs_diff"]["sum"].get<double>(), 10 * (0.2 + 0.4), 1e-4);
  EXPECT_EQ(s["latency_seconds"]["count"], 10);
  std::string text;
  mirror.Render(text, "model=\"p\"");
  EXPECT_NE(text.find("tandem_shadow_requests_total{model=\"p\"} 10"), std::string::npos) << text;
  EXPECT_NE(text.find("tandem_shadow_label_agreements_total{model=\"p\"} 10"), std::string::npos);
  // Differences 0.2 and 0.4 (in float): none up to 0.1, all up to 0.5.
  EXPECT_NE(text.find("tandem_shadow_abs_score_diff_bucket{model=\"p\",le=\"0.1\"} 0"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("tandem_shadow_abs_score_diff_bucket{model=\"p\",le=\"0.5\"} 20"),
            std::string::npos);
}

TEST(ShadowMirrorTest, SamplesAndCountsErrors) {
  Side side;
  side.Install(std::make_unique<testing::SumPredictor>(3));  // 3 features: unlike the primary
  ShadowOptions o;
  o.sample = 0.25;
  ShadowMirror mirror(
      o, [&] { return side.manager.Get("s"); }, Clock::Real());
  const float rows[] = {1, 2};
  const float primary[] = {3};
  int queued = 0;
  for (int i = 0; i < 400; ++i) queued += mirror.Submit(rows, 1, 2, primary, 1) ? 1 : 0;
  EXPECT_EQ(queued, 100);
  ASSERT_TRUE(mirror.WaitIdle(60'000));
  EXPECT_EQ(mirror.errors(), 100u);
  EXPECT_EQ(mirror.compared_rows(), 0u);
  EXPECT_NE(mirror.Stats()["last_error"].get<std::string>().find("takes 3 features"),
            std::string::npos);
  // No shadow version at all: errors too.
  ShadowMirror none(
      ShadowOptions{}, [&] { return side.manager.Get("missing"); }, Clock::Real());
  none.Submit(rows, 1, 2, primary, 1);
  ASSERT_TRUE(none.WaitIdle(60'000));
  EXPECT_EQ(none.errors(), 1u);
}

TEST(ShadowMirrorTest, AFullQueueDropsInsteadOfWaiting) {
  Side side;
  auto p = std::make_unique<testing::SumPredictor>(2);
  testing::SumPredictor* sp = p.get();
  side.Install(std::move(p));
  std::mutex mu;
  std::condition_variable cv;
  bool release = false;
  sp->hook = [&](size_t) {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return release; });
  };
  ShadowOptions o;
  o.queue_capacity = 4;
  ShadowMirror mirror(
      o, [&] { return side.manager.Get("s"); }, Clock::Real());
  const float rows[] = {1, 2};
  const float primary[] = {3};
  // The shadow is stuck in its first prediction; Submit must not wait for it.
  for (int i = 0; i < 100; ++i) mirror.Submit(rows, 1, 2, primary, 1);
  EXPECT_GE(mirror.dropped(), 100u - 5u);
  EXPECT_EQ(mirror.mirrored() + mirror.dropped(), 100u);
  {
    std::lock_guard<std::mutex> lock(mu);
    release = true;
  }
  cv.notify_all();
  ASSERT_TRUE(mirror.WaitIdle(60'000));
  EXPECT_EQ(mirror.compared_rows(), mirror.mirrored());
}

// ---- A replica with shadow and canary, followed through the registry -------

class TrafficReplicaTest : public testing::GlueTestEnv {
 protected:
  // Writes, packs and registers a model trained with `seed` for `rounds`.
  int64_t RegisterModel(unsigned seed, int rounds) {
    std::string pkg = dir_.File("m" + std::to_string(seed));
    testing::ModelSpec spec;
    spec.seed = seed;
    spec.rounds = rounds;
    EXPECT_TRUE(testing::WritePackage(pkg, spec).ok());
    return Register(pkg);
  }
  std::unique_ptr<server::Replica> Start(TrafficPolicy policy, int64_t resync_ms = 200) {
    server::ReplicaOptions o;
    o.target = "fraud@champion";
    o.port = 0;
    o.deployment = "fraud-api";
    o.replica_id = "r1";
    o.cache_dir = dir_.File("cache");
    o.resync_interval_ms = resync_ms;  // also covers a missed event
    o.traffic = std::move(policy);
    auto r = server::Replica::Create(o, {registry_.get(), store_.get(), bus_.get()}, Clock::Real());
    EXPECT_TRUE(r.ok()) << r.status();
    Status s = (*r)->Start();
    EXPECT_TRUE(s.ok()) << s;
    return std::move(r).value();
  }
  StatusOr<Json> Infer(const server::Replica& r) {
    std::string row = "[0.5,-1,0.25,0,1,2,0,0,0,0,0,0,0,0,0,0,0,0,0.5,-0.5]";
    http::Client c;
    auto res = c.Post("http://127.0.0.1:" + std::to_string(r.port()) + "/infer",
                      R"({"model":"fraud","features":)" + row + "}");
    if (!res.ok()) return res.status();
    if (res->status != 200) return InternalError(std::to_string(res->status) + " " + res->body);
    return ParseJson(res->body);
  }
  Json Traffic(const server::Replica& r) {
    http::Client c;
    auto res = c.Get("http://127.0.0.1:" + std::to_string(r.port()) + "/v2/models/fraud/traffic");
    EXPECT_TRUE(res.ok() && res->status == 200);
    return res.ok() ? ParseJson(res->body).value_or(Json()) : Json();
  }
  std::string Metrics(const server::Replica& r) {
    http::Client c;
    auto res = c.Get("http://127.0.0.1:" + std::to_string(r.port()) + "/metrics");
    return res.ok() ? res->body : "";
  }
};

TEST_F(TrafficReplicaTest, ShadowNeverAnswersAndFollowsItsAlias) {
  int64_t v1 = RegisterModel(1, 10), v2 = RegisterModel(2, 5), v3 = RegisterModel(3, 7);
  Alias("champion", v1);
  Alias("challenger", v2);
  TrafficPolicy p;
  p.shadow = ShadowPolicy{"fraud@challenger", 1.0};
  auto r = Start(p);
  ASSERT_TRUE(r->ready());
  ASSERT_NE(r->traffic(), nullptr);
  ASSERT_TRUE(WaitFor([&] { return r->traffic()->shadow_manager()->AnyReady(); }));
  std::set<double> scores;
  for (int i = 0; i < 50; ++i) {
    auto j = Infer(*r);
    ASSERT_TRUE(j.ok()) << j.status();
    EXPECT_EQ((*j)["version"], std::to_string(v1));  // only the primary answers
    scores.insert((*j)["scores"][0].get<double>());
  }
  EXPECT_EQ(scores.size(), 1u);
  ASSERT_TRUE(r->traffic()->shadow()->WaitIdle(60'000));
  Json t = Traffic(*r);
  EXPECT_EQ(t["shadow"]["mirrored"], 50) << t.dump(2);
  EXPECT_EQ(t["shadow"]["served"]["version"], v2);
  EXPECT_EQ(t["shadow"]["compared_rows"], 50);
  EXPECT_EQ(t["shadow"]["errors"], 0);
  EXPECT_NE(Metrics(*r).find("tandem_shadow_requests_total{model=\"fraud\"} 50"),
            std::string::npos);
  // The challenger alias moves: the shadow follows, the primary does not.
  Alias("challenger", v3);
  ASSERT_TRUE(WaitFor([&] { return Traffic(*r)["shadow"]["served"]["version"] == v3; }));
  auto j = Infer(*r);
  ASSERT_TRUE(j.ok());
  EXPECT_EQ((*j)["version"], std::to_string(v1));
}

TEST_F(TrafficReplicaTest, CanarySplitsFollowsAndRollsBackWithAnEvent) {
  int64_t v1 = RegisterModel(1, 10), v2 = RegisterModel(2, 5), v3 = RegisterModel(3, 7);
  Alias("champion", v1);
  Alias("candidate", v2);
  ASSERT_TRUE(bus_->CreateQueue("watch", {}).ok());
  ASSERT_TRUE(
      bus_->PutRule("watch", {{"detail-type", {bus::events::kDeploymentCanaryRolledBack}}}, "watch")
          .ok());
  TrafficPolicy p;
  p.canary = CanaryPolicy{"fraud@candidate", 0.25, {}};
  p.canary->rollback.min_requests = 20;
  p.canary->rollback.max_error_rate = 0.1;
  // No periodic resync: it would swap the test's failing version 99 back out.
  auto r = Start(p, /*resync_ms=*/0);
  ASSERT_TRUE(WaitFor([&] { return r->traffic()->canary_manager()->AnyReady(); }));
  std::map<std::string, int> by_version;
  for (int i = 0; i < 200; ++i) {
    auto j = Infer(*r);
    ASSERT_TRUE(j.ok()) << j.status();
    by_version[(*j)["version"].get<std::string>()]++;
  }
  EXPECT_EQ(by_version[std::to_string(v1)], 150);
  EXPECT_EQ(by_version[std::to_string(v2)], 50);
  std::string m = Metrics(*r);
  EXPECT_NE(m.find("tandem_canary_requests_total{model=\"fraud\",variant=\"candidate\"} 50"),
            std::string::npos)
      << m;
  EXPECT_NE(m.find("tandem_canary_requests_total{model=\"fraud\",variant=\"primary\"} 150"),
            std::string::npos);
  // The candidate alias moves: the canary follows.
  Alias("candidate", v3);
  ASSERT_TRUE(WaitFor([&] { return Traffic(*r)["canary"]["served"]["version"] == v3; }));
  // A candidate whose predictions fail (installed as version 99 by the test).
  auto flaky = std::make_unique<FlakyPredictor>(20);
  FlakyPredictor* fp = flaky.get();
  ASSERT_TRUE(r->traffic()
                  ->canary_manager()
                  ->Install("fraud", 99,
                            std::make_unique<runtime::LoadedModel>(runtime::ModelPackage{},
                                                                   std::move(flaky), 0))
                  .ok());
  fp->fail = true;
  int errors = 0;
  for (int i = 0; i < 400 && !r->traffic()->canary()->rolled_back(); ++i) {
    if (!Infer(*r).ok()) ++errors;
  }
  ASSERT_TRUE(r->traffic()->canary()->rolled_back());
  EXPECT_GE(errors, 1);
  // 100% primary afterwards.
  for (int i = 0; i < 40; ++i) {
    auto j = Infer(*r);
    ASSERT_TRUE(j.ok()) << j.status();
    EXPECT_EQ((*j)["version"], std::to_string(v1));
  }
  Json t = Traffic(*r);
  EXPECT_EQ(t["canary"]["weight"], 0.0);
  EXPECT_EQ(t["canary"]["rolled_back"], true);
  EXPECT_NE(t["canary"]["rollback_reason"].get<std::string>().find("error rate"),
            std::string::npos);
  EXPECT_NE(Metrics(*r).find("tandem_canary_rolled_back{model=\"fraud\"} 1"), std::string::npos);
  // The event.
  std::vector<bus::Message> got;
  ASSERT_TRUE(WaitFor([&] {
    bus::ReceiveOptions ro;
    ro.wait_ms = 100;
    auto msgs = bus_->Receive("watch", ro);
    if (msgs.ok()) got.insert(got.end(), msgs->begin(), msgs->end());
    return !got.empty();
  }));
  const bus::Event& e = got[0].event;
  EXPECT_EQ(e.detail_type, bus::events::kDeploymentCanaryRolledBack);
  EXPECT_EQ(e.detail["deployment"], "fraud-api");
  EXPECT_EQ(e.detail["candidate"], "fraud@candidate");
  EXPECT_EQ(e.detail["candidate_version"], 99);
  EXPECT_NE(e.detail["reason"].get<std::string>().find("error rate"), std::string::npos);
  // Weight set back by hand through the API.
  http::Client c;
  auto res = c.Post("http://127.0.0.1:" + std::to_string(r->port()) + "/v2/models/fraud/traffic",
                    R"({"canary_weight": 2})");
  ASSERT_TRUE(res.ok());
  EXPECT_EQ(res->status, 400);
  res = c.Post("http://127.0.0.1:" + std::to_string(r->port()) + "/v2/models/fraud/traffic",
               R"({"canary_weight": 0.5})");
  ASSERT_TRUE(res.ok());
  EXPECT_EQ(res->status, 200) << res->body;
  EXPECT_DOUBLE_EQ(r->traffic()->canary()->weight(), 0.5);
}

TEST_F(TrafficReplicaTest, ABadPolicyFailsStart) {
  server::ReplicaOptions o;
  o.model_dir = dir_.File("nothing");
  o.traffic.shadow = ShadowPolicy{"fraud@challenger", 1.0};  // no registry for a local package
  o.port = 0;
  auto r = server::Replica::Create(o, {}, Clock::Real());
  ASSERT_TRUE(r.ok());
  Status s = (*r)->Start();
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(s.message()).find("shadow"), std::string::npos) << s;
}

}  // namespace
}  // namespace tandem::serving::traffic
