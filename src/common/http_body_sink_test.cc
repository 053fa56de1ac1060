// Request bodies streamed into a BodySink (RouteOptions::body_sink).
#include "common/http_body_sink.h"

#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <string>

#include "common/http_client.h"
#include "common/http_server.h"
#include "common/json.h"

namespace tandem::http {
namespace {

// Records the pieces it gets; refuses once it holds more than `refuse_after`.
class RecordingSink : public BodySink {
 public:
  explicit RecordingSink(size_t refuse_after) : refuse_after_(refuse_after) {}
  std::string data;
  size_t pieces = 0;
  size_t largest = 0;

 protected:
  Status DoWrite(std::string_view d) override {
    if (data.size() + d.size() > refuse_after_) return ResourceExhaustedError("disk full");
    data.append(d);
    ++pieces;
    largest = std::max(largest, d.size());
    return OkStatus();
  }

 private:
  size_t refuse_after_;
};

std::string Url(int port, std::string_view path) {
  return "http://127.0.0.1:" + std::to_string(port) + std::string(path);
}

TEST(HttpBodySinkTest, BodyGoesToTheSinkInPiecesNotIntoTheRequest) {
  Server server(ServerOptions{});
  std::mutex mu;
  std::shared_ptr<RecordingSink> last;
  RouteOptions o;
  o.max_body_bytes = 64 << 20;
  o.body_sink = [&](const Request& head) -> std::shared_ptr<BodySink> {
    if (head.path_params.at("name") == "memory") return nullptr;  // read as usual
    auto sink = std::make_shared<RecordingSink>(head.path_params.at("name") == "full" ? 1000
                                                                                      : 1 << 30);
    std::lock_guard<std::mutex> lock(mu);
    last = sink;
    return sink;
  };
  server.Route("PUT", "/up/{name}",
               [](Request& req, Response& res) {
                 Json j = {{"body_size", req.body.size()},
                           {"sink", req.body_sink != nullptr},
                           {"sink_bytes", req.body_sink ? req.body_sink->bytes() : -1},
                           {"sink_ok", req.body_sink ? req.body_sink->status().ok() : true}};
                 res.Json(200, j.dump());
               },
               o);
  ASSERT_TRUE(server.Start().ok());
  Client client;
  std::string big(8 << 20, 'x');
  for (size_t i = 0; i < big.size(); i += 4096) big[i] = static_cast<char>('a' + i % 26);
  ClientRequest put;
  put.method = "PUT";
  put.url = Url(server.port(), "/up/disk");
  put.body = big;
  auto r = client.Do(put);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->status, 200) << r->body;
  Json j = Json::parse(r->body);
  EXPECT_EQ(j["body_size"], 0);  // nothing held in memory for the handler
  EXPECT_EQ(j["sink"], true);
  EXPECT_EQ(j["sink_bytes"], big.size());
  {
    std::lock_guard<std::mutex> lock(mu);
    ASSERT_NE(last, nullptr);
    EXPECT_EQ(last->data, big);
    EXPECT_GT(last->pieces, 1u);           // streamed, not one buffer
    EXPECT_LT(last->largest, big.size());  // no piece is the whole body
  }

  // A sink that refuses: the handler sees why; the server is still fine.
  put.url = Url(server.port(), "/up/full");
  r = client.Do(put);
  ASSERT_TRUE(r.ok()) << r.status();
  j = Json::parse(r->body);
  EXPECT_EQ(j["sink_ok"], false);
  EXPECT_LE(j["sink_bytes"].get<int64_t>(), 1000);

  // No sink for this request: the body is read into memory as before.
  put.url = Url(server.port(), "/up/memory");
  put.body = "small";
  r = client.Do(put);
  ASSERT_TRUE(r.ok()) << r.status();
  j = Json::parse(r->body);
  EXPECT_EQ(j["body_size"], 5);
  EXPECT_EQ(j["sink"], false);
}

TEST(HttpBodySinkTest, RouteLimitStillAppliesBeforeTheHandler) {
  Server server(ServerOptions{});
  std::atomic<int> handled{0};
  RouteOptions o;
  o.max_body_bytes = 1024;
  o.body_sink = [](const Request&) -> std::shared_ptr<BodySink> {
    return std::make_shared<RecordingSink>(1 << 30);
  };
  server.Route("PUT", "/up", [&](Request&, Response& res) {
    ++handled;
    res.Text(200, "ok");
  }, o);
  ASSERT_TRUE(server.Start().ok());
  Client client;
  ClientRequest put;
  put.method = "PUT";
  put.url = Url(server.port(), "/up");
  put.body = std::string(4096, 'x');
  auto r = client.Do(put);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 413);
  EXPECT_EQ(handled.load(), 0);
}

}  // namespace
}  // namespace tandem::http
