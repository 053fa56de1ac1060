#include "serving/server/inference_api.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <random>
#include <thread>

#include "common/http_client.h"
#include "common/testing/raw_conn.h"
#include "common/testing/run_tool.h"
#include "common/testing/test_server.h"
#include "common/version.h"
#include "serving/testing/test_util.h"

namespace tandem::serving::server {
namespace {

using testing::ModelSpec;
using testing::TempDir;

// A server with the inference API over a manager (no model loaded yet).
struct Harness {
  explicit Harness(engine::BatchOptions batch = {}, int64_t max_body = 1 << 20,
                   EndpointAuth auth = {})
      : manager(engine::ModelManagerOptions{batch, 2}, metrics, Clock::Real()),
        api(manager, metrics, Clock::Real(),
            {max_body, batch.max_batch_size == 1, "tandem", batch.max_batch_size == 0, nullptr,
             std::move(auth)}),
        server([] {
          http::ServerOptions o;
          o.io_threads = 2;
          o.worker_threads = 16;
          return o;
        }()) {
    api.RegisterRoutes(server);
    port = *server.Start();
  }
  std::string Url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(port) + path;
  }
  http::ClientResponse Get(const std::string& path) {
    auto r = client.Get(Url(path));
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : http::ClientResponse{};
  }
  http::ClientResponse Post(const std::string& path, const std::string& body,
                            std::map<std::string, std::string> headers = {}) {
    http::ClientRequest req;
    req.method = "POST";
    req.url = Url(path);
    req.body = body;
    req.headers = std::move(headers);
    if (!req.headers.count("content-type")) req.headers["content-type"] = "application/json";
    auto r = client.Do(req);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : http::ClientResponse{};
  }
  engine::ServingMetrics metrics;
  engine::ModelManager manager;
  InferenceApi api;
  http::Server server;
  http::Client client;
  int port = 0;
};

std::string RowJson(const std::vector<float>& rows, size_t r, int f) {
  std::string s = "[";
  for (int c = 0; c < f; ++c) {
    float v = rows[r * f + c];
    s += (c ? "," : "") + (std::isnan(v) ? std::string("null") : std::to_string(v));
  }
  return s + "]";
}

std::string ErrorOf(const http::ClientResponse& r) {
  auto j = ParseJson(r.body);
  if (!j.ok() || !j->contains("error") || !(*j)["error"].is_string())
    return "<no error: " + r.body + ">";
  return (*j)["error"].get<std::string>();
}

class InferenceApiTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new testing::TempDir();
    testing::ModelSpec spec;
    spec.feature_names = true;
    ASSERT_TRUE(testing::WritePackage(dir_->File("m"), spec).ok());
    auto model = runtime::LoadModel(dir_->File("m"));
    ASSERT_TRUE(model.ok()) << model.status();
    reference_ = std::move(model).value().release();
  }
  static void TearDownTestSuite() {
    delete reference_;
    delete dir_;
  }
  // The single-row prediction of the reference copy of the model.
  static float Expect(const std::vector<float>& rows, size_t r) {
    float out = 0;
    EXPECT_TRUE(reference_->predictor().Predict(&rows[r * 20], 1, 20, &out).ok());
    return out;
  }
  static testing::TempDir* dir_;
  static runtime::LoadedModel* reference_;
};
testing::TempDir* InferenceApiTest::dir_ = nullptr;
runtime::LoadedModel* InferenceApiTest::reference_ = nullptr;

TEST_F(InferenceApiTest, HealthReadinessAndMetadata) {
  Harness h;
  EXPECT_EQ(h.Get("/v2/health/live").status, 200);
  EXPECT_EQ(h.Get("/v2/health/ready").status, 503);  // nothing loaded yet
  EXPECT_EQ(h.Get("/v2/models/m/ready").status, 404);
  h.manager.MarkLoading("m");
  auto loading = h.Get("/v2/models/m/ready");
  EXPECT_EQ(loading.status, 503);
  EXPECT_EQ(h.Post("/v2/models/m/infer", "{}").status, 503);
  ASSERT_TRUE(h.manager.Load("m", 3, dir_->File("m")).ok());
  EXPECT_EQ(h.Get("/v2/health/ready").status, 200);
  EXPECT_EQ(h.Get("/v2/models/m/ready").status, 200);
  EXPECT_EQ(h.Get("/v2/models/m/versions/3/ready").status, 200);
  EXPECT_EQ(h.Get("/v2/models/m/versions/2/ready").status, 404);
  auto server = ParseJson(h.Get("/v2").body);
  ASSERT_TRUE(server.ok());
  EXPECT_EQ((*server)["extensions"].size(), 2u);
  EXPECT_EQ((*server)["version"], std::string(Version()));
  auto meta = h.Get("/v2/models/m");
  ASSERT_EQ(meta.status, 200) << meta.body;
  auto j = ParseJson(meta.body);
  EXPECT_EQ((*j)["versions"], Json::parse(R"(["3"])"));
  EXPECT_EQ((*j)["platform"], "xgboost");
  EXPECT_EQ((*j)["inputs"][0]["shape"], Json::parse("[-1,20]"));
  EXPECT_EQ(h.Get("/v2/models/m/versions/3").status, 200);
  auto unknown = h.Get("/v2/models/nope");
  EXPECT_EQ(unknown.status, 404);
  EXPECT_NE(ErrorOf(unknown).find("unknown model 'nope'"), std::string::npos);
  EXPECT_EQ(h.Get("/v2/models/m/versions/9").status, 404);
  auto no_route = h.Get("/v2/whatever/else");
  EXPECT_EQ(no_route.status, 404);
  EXPECT_NE(ErrorOf(no_route).find("no route"), std::string::npos);
  h.api.SetAccepting(false);  // draining
  EXPECT_EQ(h.Get("/v2/health/ready").status, 503);
}

TEST_F(InferenceApiTest, InferJsonBatchedAndRequestedOutputs) {
  Harness h;
  ASSERT_TRUE(h.manager.Load("m", 1, dir_->File("m")).ok());
  std::vector<float> rows = testing::Rows(3, 20, 11);
  std::string data =
      "[" + RowJson(rows, 0, 20) + "," + RowJson(rows, 1, 20) + "," + RowJson(rows, 2, 20) + "]";
  auto r = h.Post(
      "/v2/models/m/infer",
      R"({"id":"req-1","parameters":{"x":1},"inputs":[{"name":"input","shape":[3,20],"datatype":"FP32","data":)" +
          data + R"(}],"outputs":[{"name":"output"}]})");
  ASSERT_EQ(r.status, 200) << r.body;
  auto j = ParseJson(r.body);
  ASSERT_TRUE(j.ok()) << r.body;
  EXPECT_EQ((*j)["id"], "req-1");
  EXPECT_EQ((*j)["model_name"], "m");
  EXPECT_EQ((*j)["model_version"], "1");
  const Json& out = (*j)["outputs"][0];
  EXPECT_EQ(out["name"], "output");
  EXPECT_EQ(out["shape"], Json::parse("[3,1]"));
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_FLOAT_EQ(out["data"][i].get<float>(), Expect(rows, i)) << i;
  }
  // The versioned route, FP64 nested data.
  auto v = h.Post("/v2/models/m/versions/1/infer",
                  R"({"inputs":[{"name":"input","shape":[1,20],"datatype":"FP64","data":[)" +
                      RowJson(rows, 0, 20) + "]}]}");
  ASSERT_EQ(v.status, 200) << v.body;
  EXPECT_FLOAT_EQ((*ParseJson(v.body))["outputs"][0]["data"][0].get<float>(), Expect(rows, 0));
  EXPECT_EQ(h.Post("/v2/models/m/versions/2/infer", "{}").status, 404);
}

TEST_F(InferenceApiTest, BinaryTensorExtension) {
  Harness h;
  ASSERT_TRUE(h.manager.Load("m", 1, dir_->File("m")).ok());
  std::vector<float> rows = testing::Rows(2, 20, 12);
  std::string hdr =
      R"({"inputs":[{"name":"input","shape":[2,20],"datatype":"FP32","parameters":{"binary_data_size":160}}],)"
      R"("parameters":{"binary_data_output":true}})";
  std::string body = hdr + std::string(reinterpret_cast<const char*>(rows.data()), 160);
  auto r = h.Post("/v2/models/m/infer", body,
                  {{"content-type", "application/octet-stream"},
                   {"inference-header-content-length", std::to_string(hdr.size())}});
  ASSERT_EQ(r.status, 200) << r.body;
  size_t len = std::stoul(r.headers["inference-header-content-length"]);
  ASSERT_EQ(r.body.size(), len + 8);
  float out[2];
  std::memcpy(out, r.body.data() + len, 8);
  EXPECT_FLOAT_EQ(out[0], Expect(rows, 0));
  EXPECT_FLOAT_EQ(out[1], Expect(rows, 1));
  // A truncated payload is a 400, not a hang or a crash.
  auto cut = h.Post("/v2/models/m/infer", body.substr(0, body.size() - 7),
                    {{"inference-header-content-length", std::to_string(hdr.size())}});
  EXPECT_EQ(cut.status, 400);
  EXPECT_NE(ErrorOf(cut).find("binary_data_size"), std::string::npos) << cut.body;
  auto bad_len =
      h.Post("/v2/models/m/infer", body, {{"inference-header-content-length", "99999999"}});
  EXPECT_EQ(bad_len.status, 400);
}

TEST_F(InferenceApiTest, ErrorStatusesAndMessages) {
  Harness h(engine::BatchOptions{}, 4096);
  ASSERT_TRUE(h.manager.Load("m", 1, dir_->File("m")).ok());
  auto malformed = h.Post("/v2/models/m/infer", "{\"inputs\": [");
  EXPECT_EQ(malformed.status, 400);
  EXPECT_NE(ErrorOf(malformed).find("malformed JSON"), std::string::npos);
  auto shape =
      h.Post("/v2/models/m/infer",
             R"({"inputs":[{"name":"input","shape":[1,3],"datatype":"FP32","data":[1,2,3]}]})");
  EXPECT_EQ(shape.status, 400);
  EXPECT_NE(ErrorOf(shape).find("expects [-1, 20]"), std::string::npos) << shape.body;
  auto missing = h.Post("/v2/models/m/infer", R"({"inputs":[]})");
  EXPECT_EQ(missing.status, 400);
  EXPECT_NE(ErrorOf(missing).find("'input' (FP32 [-1, 20])"), std::string::npos);
  auto bytes =
      h.Post("/v2/models/m/infer",
             R"({"inputs":[{"name":"input","shape":[1,1],"datatype":"BYTES","data":["x"]}]})");
  EXPECT_EQ(bytes.status, 400);
  EXPECT_NE(ErrorOf(bytes).find("BYTES"), std::string::npos);
  auto unknown = h.Post("/v2/models/zzz/infer", "{}");
  EXPECT_EQ(unknown.status, 404);
  auto big = h.Post("/v2/models/m/infer", std::string(5000, ' '));
  EXPECT_EQ(big.status, 413);
  // Random garbage never breaks the server.
  std::mt19937 rng(3);
  for (int i = 0; i < 200; ++i) {
    std::string junk(rng() % 300, '\0');
    for (char& c : junk) c = static_cast<char>(rng() % 256);
    int status = h.Post(i % 2 ? "/v2/models/m/infer" : "/infer", junk).status;
    EXPECT_EQ(status, 400) << i;
  }
  EXPECT_EQ(h.Get("/v2/health/ready").status, 200);
  auto fine = h.Post("/infer",
                     R"({"model":"m","features":)" + RowJson(testing::Rows(1, 20, 1), 0, 20) + "}");
  EXPECT_EQ(fine.status, 200) << fine.body;
}

// Per-deployment tokens: /v2/... and /infer need one; health and /metrics
// stay open for probes; a wrong, missing or malformed token is 401 with
// WWW-Authenticate and reaches no model.
TEST_F(InferenceApiTest, TokensGuardEverythingButHealthAndMetrics) {
  auto auth = EndpointAuth::FromHexDigests({TokenSha256Hex("tok-A"), TokenSha256Hex("tok-B")});
  ASSERT_TRUE(auth.ok()) << auth.status();
  Harness h({}, 1 << 20, *auth);
  ASSERT_TRUE(h.manager.Load("m", 1, dir_->File("m")).ok());
  const std::string row =
      R"({"model":"m","features":)" + RowJson(testing::Rows(1, 20, 1), 0, 20) + "}";
  const std::string v2 = R"({"inputs":[{"name":"input","shape":[1,20],"datatype":"FP32","data":)" +
                         RowJson(testing::Rows(1, 20, 1), 0, 20) + "}]}";
  for (const char* path : {"/v2/health/live", "/v2/health/ready", "/v2/models/m/ready", "/metrics"}) {
    EXPECT_EQ(h.Get(path).status, 200) << path;
  }
  const std::vector<std::map<std::string, std::string>> refused = {
      {},
      {{"authorization", "Bearer tok-C"}},
      {{"authorization", "Basic tok-A"}},
      {{"authorization", "Bearer"}},
      {{"authorization", "tok-A"}},
      {{"authorization", "Bearer tok-A2"}}};
  for (const auto& headers : refused) {
    for (const std::string& path : {std::string("/infer"), std::string("/v2/models/m/infer")}) {
      auto r = h.Post(path, path == "/infer" ? row : v2, headers);
      EXPECT_EQ(r.status, 401) << path << " " << (headers.empty() ? "" : headers.begin()->second);
      EXPECT_EQ(r.headers["www-authenticate"], kServingAuthChallenge);
      EXPECT_THAT(ErrorOf(r), ::testing::HasSubstr("needs a token"));
    }
  }
  EXPECT_EQ(h.Get("/v2").status, 401);
  EXPECT_EQ(h.Get("/v2/models/m").status, 401);
  EXPECT_EQ(h.Post("/v2/repository/models/m/unload", "{}").status, 401);
  EXPECT_TRUE(h.manager.AnyReady());  // the refused unload did nothing
  // Refusals counted no inference.
  EXPECT_NE(h.Get("/metrics").body.find("tandem_inference_requests_total{model=\"m\"} 0\n"),
            std::string::npos);
  for (const char* token : {"Bearer tok-A", "bearer tok-B", "Bearer  tok-A "}) {
    auto ok = h.Post("/infer", row, {{"authorization", token}});
    EXPECT_EQ(ok.status, 200) << token << ": " << ok.body;
    EXPECT_EQ(h.Post("/v2/models/m/infer", v2, {{"authorization", token}}).status, 200) << token;
  }
}

// The token a connection presented is remembered per connection
// (endpoint_auth.h AcceptedToken): on one keep-alive connection, an accepted
// token, then a wrong one (refused), none (refused), the right one again
// (served); another connection gets nothing from the first one's acceptance.
TEST_F(InferenceApiTest, TokensOnKeepAliveConnectionsAreCheckedEveryRequest) {
  auto auth = EndpointAuth::FromHexDigests({TokenSha256Hex("tok-A")});
  ASSERT_TRUE(auth.ok()) << auth.status();
  Harness h({}, 1 << 20, *auth);
  ASSERT_TRUE(h.manager.Load("m", 1, dir_->File("m")).ok());
  const std::string body =
      R"({"model":"m","features":)" + RowJson(testing::Rows(1, 20, 1), 0, 20) + "}";
  auto request = [&](const std::string& authorization) {
    return "POST /infer HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" +
           (authorization.empty() ? std::string() : "Authorization: " + authorization + "\r\n") +
           "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  };
  auto status_of = [](const std::string& response) {
    return response.size() >= 12 ? response.substr(9, 3) : "none: '" + response + "'";
  };
  ::tandem::testing::RawConn a(h.port), b(h.port);
  ASSERT_TRUE(a.connected() && b.connected());
  const std::vector<std::pair<std::string, std::string>> steps = {
      {"Bearer tok-A", "200"}, {"Bearer tok-A", "200"}, {"Bearer tok-B", "401"},
      {"", "401"},             {"Bearer tok-A", "200"}, {"Bearer tok-AA", "401"},
      {"Bearer tok-", "401"},  {"bearer tok-A", "200"}, {"Bearer tok-A", "200"}};
  int served = 0;
  for (const auto& [authorization, want] : steps) {
    a.Send(request(authorization));
    EXPECT_EQ(status_of(a.ReadResponse()), want) << "'" << authorization << "'";
    served += want == "200";
  }
  for (const char* wrong : {"Bearer tok-B", "", "Bearer tok-A "}) {
    b.Send(request(wrong));
    const std::string r = b.ReadResponse();
    EXPECT_EQ(status_of(r), std::string(wrong) == "Bearer tok-A " ? "200" : "401") << wrong;
    served += std::string(wrong) == "Bearer tok-A ";
  }
  // Only the authorized requests reached the model.
  EXPECT_NE(h.Get("/metrics").body.find("tandem_inference_requests_total{model=\"m\"} " +
                                        std::to_string(served) + "\n"),
            std::string::npos);
}

TEST_F(InferenceApiTest, QueueFullIs429) {
  testing::SumPredictor* p = nullptr;
  auto predictor = std::make_unique<testing::SumPredictor>(2);
  p = predictor.get();
  std::mutex mu;
  std::condition_variable cv;
  bool release = false, blocking = false;
  std::atomic<int> entered{0};
  p->hook = [&](size_t) {
    std::unique_lock<std::mutex> lock(mu);
    if (!blocking) return;  // warm-up
    entered++;
    cv.wait(lock, [&] { return release; });
  };
  Harness h(engine::BatchOptions{4, 0, 1, 1});
  runtime::ModelPackage pkg;
  ASSERT_TRUE(
      h.manager
          .Install("s", 1, std::make_unique<runtime::LoadedModel>(pkg, std::move(predictor), 0))
          .ok());
  {
    std::lock_guard<std::mutex> lock(mu);
    blocking = true;
  }
  const std::string req = R"({"model":"s","features":[1,2]})";
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  auto send = [&] {
    http::Client c;
    auto r = c.Post(h.Url("/infer"), req);
    if (r.ok() && r->status == 200) ok++;
  };
  threads.emplace_back(send);  // blocks the worker
  while (entered.load() == 0) std::this_thread::yield();
  threads.emplace_back(send);  // waits in the queue (size 1)
  auto sv = h.manager.Get("s");
  ASSERT_TRUE(sv.ok());
  while ((*sv)->batcher().queue_depth() < 1) std::this_thread::yield();
  auto full = h.Post("/infer", req);
  EXPECT_EQ(full.status, 429) << full.body;
  EXPECT_NE(ErrorOf(full).find("queue is full"), std::string::npos);
  {
    std::lock_guard<std::mutex> lock(mu);
    release = true;
  }
  cv.notify_all();
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 2);
  EXPECT_NE(h.metrics.Render().find(
                "tandem_inference_failures_total{model=\"s\",reason=\"queue_full\"} 1"),
            std::string::npos);
}

// Automatic batching (the default): a model whose flavor says batching pays
// gets a batching Batcher and turns inline serving off while it is served;
// one that does not (the native forest) runs unbatched. Both answer.
TEST_F(InferenceApiTest, AutomaticBatchingFollowsTheServedModels) {
  Harness h;  // default options: automatic
  runtime::ModelPackage pkg;
  auto native = std::make_unique<testing::SumPredictor>(2);
  auto pooled = std::make_unique<testing::SumPredictor>(2);
  pooled->concurrency = 2;
  ASSERT_TRUE(
      h.manager.Install("n", 1, std::make_unique<runtime::LoadedModel>(pkg, std::move(native), 0))
          .ok());
  EXPECT_FALSE(h.manager.AnyBatching());
  ASSERT_TRUE(
      h.manager.Install("p", 1, std::make_unique<runtime::LoadedModel>(pkg, std::move(pooled), 0))
          .ok());
  EXPECT_TRUE(h.manager.AnyBatching());
  auto sv = h.manager.Get("p");
  ASSERT_TRUE(sv.ok());
  EXPECT_EQ((*sv)->batcher().options().max_batch_size, engine::kAutoMaxBatchSize);
  EXPECT_EQ((*sv)->batcher().options().workers, 2);
  for (const char* model : {"n", "p"}) {
    auto r = h.Post("/infer", std::string(R"({"model":")") + model + R"(","features":[1,2]})");
    EXPECT_EQ(r.status, 200) << r.body;
    EXPECT_NE(r.body.find("\"scores\":[3]"), std::string::npos) << r.body;
  }
  ASSERT_TRUE(h.manager.Unload("p").ok());
  EXPECT_FALSE(h.manager.AnyBatching());
}

TEST_F(InferenceApiTest, SimpleInferListMatrixAndNamedFeatures) {
  Harness h;
  ASSERT_TRUE(h.manager.Load("m", 2, dir_->File("m")).ok());
  std::vector<float> rows = testing::Rows(2, 20, 13);
  auto list = h.Post("/infer", R"({"model":"m","features":)" + RowJson(rows, 0, 20) + "}");
  ASSERT_EQ(list.status, 200) << list.body;
  auto j = ParseJson(list.body);
  EXPECT_EQ((*j)["model"], "m");
  EXPECT_EQ((*j)["version"], "2");
  EXPECT_FLOAT_EQ((*j)["scores"][0].get<float>(), Expect(rows, 0));
  auto matrix = h.Post("/infer", R"({"model":"m","features":[)" + RowJson(rows, 0, 20) + "," +
                                     RowJson(rows, 1, 20) + "]}");
  ASSERT_EQ(matrix.status, 200) << matrix.body;
  auto jm = ParseJson(matrix.body);
  EXPECT_FLOAT_EQ((*jm)["scores"][1].get<float>(), Expect(rows, 1));
  Json named = Json::object();
  for (int c = 0; c < 20; ++c) {
    float v = rows[20 + c];
    named["f" + std::to_string(c)] = std::isnan(v) ? Json(nullptr) : Json(v);
  }
  auto by_name = h.Post("/infer", Json{{"model", "m"}, {"features", named}}.dump());
  ASSERT_EQ(by_name.status, 200) << by_name.body;
  EXPECT_FLOAT_EQ((*ParseJson(by_name.body))["scores"][0].get<float>(), Expect(rows, 1));
  auto bad_name = h.Post("/infer", R"({"model":"m","features":{"nope":1}})");
  EXPECT_EQ(bad_name.status, 400);
  EXPECT_NE(ErrorOf(bad_name).find("unknown feature 'nope'"), std::string::npos);
  auto short_row = h.Post("/infer", R"({"model":"m","features":[1,2]})");
  EXPECT_EQ(short_row.status, 400);
  EXPECT_NE(ErrorOf(short_row).find("takes 20 features"), std::string::npos);
  EXPECT_EQ(h.Post("/infer", R"({"model":"other","features":[1]})").status, 404);
  EXPECT_EQ(h.Post("/infer", R"({"features":[1]})").status, 400);

  // A model without feature names explains why named features fail.
  testing::TempDir d;
  ASSERT_TRUE(testing::WritePackage(d.File("plain"), testing::ModelSpec{}).ok());
  ASSERT_TRUE(h.manager.Load("plain", 1, d.File("plain")).ok());
  auto unnamed = h.Post("/infer", R"({"model":"plain","features":{"f0":1}})");
  EXPECT_EQ(unnamed.status, 400);
  EXPECT_NE(ErrorOf(unnamed).find("declares no feature_names"), std::string::npos);
}

TEST_F(InferenceApiTest, RepositoryIndexLoadUnload) {
  Harness h;
  ASSERT_TRUE(h.manager.Load("m", 4, dir_->File("m")).ok());
  std::string dir = dir_->File("m");
  h.manager.SetReloader("m", [&h, dir] { return h.manager.Load("m", 4, dir); });
  auto idx = h.Post("/v2/repository/index", "{}");
  ASSERT_EQ(idx.status, 200);
  auto j = ParseJson(idx.body);
  ASSERT_EQ(j->size(), 1u);
  EXPECT_EQ((*j)[0]["state"], "READY");
  EXPECT_EQ((*j)[0]["version"], "4");
  ASSERT_EQ(h.Post("/v2/repository/models/m/unload", "").status, 200);
  EXPECT_EQ(h.Post("/v2/models/m/infer", "{}").status, 503);
  EXPECT_EQ(h.Get("/v2/health/ready").status, 503);
  auto after = ParseJson(h.Post("/v2/repository/index", "").body);
  EXPECT_EQ((*after)[0]["state"], "UNAVAILABLE");
  EXPECT_EQ((*after)[0]["reason"], "unloaded");
  EXPECT_EQ(ParseJson(h.Post("/v2/repository/index", R"({"ready":true})").body)->size(), 0u);
  ASSERT_EQ(h.Post("/v2/repository/models/m/load", "").status, 200);
  EXPECT_EQ(h.Get("/v2/health/ready").status, 200);
  EXPECT_EQ(h.Post("/v2/repository/models/nope/load", "").status, 404);
  EXPECT_EQ(h.Post("/v2/repository/models/nope/unload", "").status, 404);
  EXPECT_EQ(h.Post("/v2/repository/index", "[").status, 400);
}

TEST_F(InferenceApiTest, ConcurrentBatchedRequestsMatchSingleRowPredictions) {
  Harness h(engine::BatchOptions{32, 500, 4096, 2});
  ASSERT_TRUE(h.manager.Load("m", 1, dir_->File("m")).ok());
  std::vector<float> rows = testing::Rows(64, 20, 21);
  std::atomic<int> wrong{0}, failed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      http::Client c;
      for (int i = 0; i < 40; ++i) {
        size_t r = (t * 40 + i) % 64;
        auto res = c.Post(h.Url("/v2/models/m/infer"),
                          R"({"inputs":[{"name":"input","shape":[1,20],"datatype":"FP32","data":)" +
                              RowJson(rows, r, 20) + "}]}");
        if (!res.ok() || res->status != 200) {
          failed++;
          continue;
        }
        float got = (*ParseJson(res->body))["outputs"][0]["data"][0].get<float>();
        if (std::fabs(got - Expect(rows, r)) > 1e-6) wrong++;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failed.load(), 0);
  EXPECT_EQ(wrong.load(), 0);
  std::string metrics = h.Get("/metrics").body;
  EXPECT_NE(metrics.find("tandem_inference_requests_total{model=\"m\"} 320"), std::string::npos);
}

// The exposition passes `promtool check metrics`.
TEST_F(InferenceApiTest, MetricsPassPromtool) {
  Harness h(engine::BatchOptions{8, 100, 64, 1});
  ASSERT_TRUE(h.manager.Load("m", 1, dir_->File("m")).ok());
  h.Post("/infer", R"({"model":"m","features":)" + RowJson(testing::Rows(1, 20, 2), 0, 20) + "}");
  h.Post("/v2/models/m/infer", "nope");
  h.Post("/v2/models/x/infer", "{}");
  auto m = h.Get("/metrics");
  ASSERT_EQ(m.status, 200);
  EXPECT_NE(m.headers["content-type"].find("text/plain"), std::string::npos);
  for (const char* needle :
       {"tandem_inference_request_duration_seconds_bucket{model=\"m\",le=\"+Inf\"} 1",
        "tandem_inference_failures_total{model=\"m\",reason=\"bad_request\"} 1",
        "tandem_inference_failures_total{model=\"\",reason=\"not_found\"} 1",
        "tandem_inference_queue_duration_seconds_count{model=\"m\"} 1",
        "tandem_inference_compute_duration_seconds_count", "tandem_inference_batch_size_bucket",
        "tandem_model_loads_total{model=\"m\",result=\"success\"} 1",
        "tandem_model_version{model=\"m\"} 1", "tandem_inference_in_flight_requests 0",
        "tandem_replica_ready 1"}) {
    EXPECT_NE(m.body.find(needle), std::string::npos) << needle << "\n" << m.body;
  }
  TANDEM_REQUIRE_TOOL(::tandem::testing::HaveTool("promtool"), "promtool (prometheus)");
  testing::TempDir d;
  std::ofstream(d.File("metrics.txt")) << m.body;
  Status checked = ::tandem::testing::PromtoolCheckMetrics(d.File("metrics.txt"));
  EXPECT_TRUE(checked.ok()) << checked;  // no lint warnings either
}

}  // namespace
}  // namespace tandem::serving::server
