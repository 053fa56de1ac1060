// http::Server against slow and many clients (ClientLimits): a body that
// falls below the minimum rate is a 408 and leaves nothing behind; at the
// connection cap idle connections give way to new ones, busy ones never do;
// the per-address cap. Short windows, no wall-clock assertions.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "common/http_body_sink.h"
#include "common/http_server.h"
#include "common/json.h"
#include "common/testing/eventually.h"
#include "common/testing/gate.h"
#include "common/testing/raw_conn.h"

namespace tandem::http {
namespace {

using tandem::testing::Eventually;
using tandem::testing::Gate;
using tandem::testing::RawConn;

bool StartsWith(const std::string& s, std::string_view prefix) { return s.rfind(prefix, 0) == 0; }

// A server with POST /upload (counts handler runs, echoes the body size) and
// GET /echo.
struct TestServer {
  explicit TestServer(ServerOptions options) : server(std::move(options)) {
    server.Route("POST", "/upload", [this](Request& req, Response& res) {
      handled.fetch_add(1);
      res.Json(200, Json{{"body_size", req.body.size()}}.dump());
    });
    server.Route("GET", "/echo", [](Request&, Response& res) { res.Text(200, "ok"); });
  }
  int Start() {
    auto port = server.Start();
    EXPECT_TRUE(port.ok()) << port.status();
    return port.ok() ? *port : 0;
  }
  Server server;
  std::atomic<int> handled{0};
};

ServerOptions SlowBodyOptions() {
  ServerOptions o;
  o.limits.min_body_bytes_per_s = 1000;
  o.limits.body_window_ms = 200;  // 200 bytes per 0.2 s
  return o;
}

// Sends `piece` every 20 ms on `conn` until stopped (or 10 s pass).
class Dripper {
 public:
  Dripper(RawConn& conn, std::string piece)
      : thread_([this, &conn, piece = std::move(piece)] {
          for (int i = 0; i < 500 && !stop_.load(); ++i) {
            conn.Send(piece);
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
          }
        }) {}
  ~Dripper() {
    stop_.store(true);
    thread_.join();
  }

 private:
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

TEST(HttpServerLimitsTest, DrippedBodyIs408NamingTheRateWhileOthersAreServed) {
  TestServer t(SlowBodyOptions());
  const int port = t.Start();
  RawConn slow(port);
  slow.Send("POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n");
  Dripper drip(slow, "x");  // 50 bytes/s
  EXPECT_TRUE(StartsWith(RawConn(port).Get("/echo"), "HTTP/1.1 200")) << "served meanwhile";
  std::string resp = slow.ReadResponse();
  EXPECT_TRUE(StartsWith(resp, "HTTP/1.1 408 Request Timeout")) << resp;
  EXPECT_NE(resp.find("DEADLINE_EXCEEDED"), std::string::npos) << resp;
  EXPECT_NE(resp.find("request body too slow"), std::string::npos) << resp;
  EXPECT_NE(resp.find("the minimum is 1000 bytes/s (200 bytes per 0.2 s)"), std::string::npos)
      << resp;
  EXPECT_NE(resp.find("Connection: close"), std::string::npos) << resp;
  bool closed = false;
  slow.ReadUntilClosed(&closed);
  EXPECT_TRUE(closed) << "the slow connection is closed after the 408";
  EXPECT_EQ(t.handled.load(), 0) << "the handler never saw the partial body";
  EXPECT_TRUE(StartsWith(RawConn(port).Get("/echo"), "HTTP/1.1 200"));
}

TEST(HttpServerLimitsTest, DrippedChunkedBodyIs408) {
  TestServer t(SlowBodyOptions());
  const int port = t.Start();
  RawConn slow(port);
  slow.Send("POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n");
  Dripper drip(slow, "1\r\nx\r\n");
  std::string resp = slow.ReadResponse();
  EXPECT_TRUE(StartsWith(resp, "HTTP/1.1 408")) << resp;
  EXPECT_NE(resp.find("request body too slow"), std::string::npos) << resp;
  EXPECT_EQ(t.handled.load(), 0);
}

TEST(HttpServerLimitsTest, BodyThatStopsAfterAFastStartIs408) {
  TestServer t(SlowBodyOptions());
  const int port = t.Start();
  RawConn conn(port);
  conn.Send("POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n" +
            std::string(100'000, 'a'));  // then nothing
  std::string resp = conn.ReadResponse();
  EXPECT_TRUE(StartsWith(resp, "HTTP/1.1 408")) << resp;
  EXPECT_EQ(t.handled.load(), 0);
}

TEST(HttpServerLimitsTest, BodyKeepingThePaceIsServed) {
  ServerOptions o;
  o.limits.min_body_bytes_per_s = 1000;
  o.limits.body_window_ms = 1000;  // 1000 bytes per second; sent at ~10,000
  TestServer t(o);
  const int port = t.Start();
  RawConn conn(port);
  conn.Send("POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 15000\r\n\r\n");
  for (int i = 0; i < 15; ++i) {
    conn.Send(std::string(1000, 'b'));
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  std::string resp = conn.ReadResponse();
  EXPECT_TRUE(StartsWith(resp, "HTTP/1.1 200")) << resp;
  EXPECT_NE(resp.find("\"body_size\":15000"), std::string::npos) << resp;
  // The connection is kept alive and its next (fast) body is not held to the
  // previous one's windows.
  conn.Send("POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc");
  resp = conn.ReadResponse();
  EXPECT_TRUE(StartsWith(resp, "HTTP/1.1 200")) << resp;
  EXPECT_EQ(t.handled.load(), 2);
}

// A sink that says whether it is still alive.
class TrackedSink : public BodySink {
 public:
  explicit TrackedSink(std::shared_ptr<std::atomic<int>> alive) : alive_(std::move(alive)) {
    alive_->fetch_add(1);
  }
  ~TrackedSink() override { alive_->fetch_sub(1); }

 protected:
  Status DoWrite(std::string_view) override { return OkStatus(); }

 private:
  std::shared_ptr<std::atomic<int>> alive_;
};

TEST(HttpServerLimitsTest, SlowBodyToASinkIs408AndTheSinkIsDropped) {
  Server server(SlowBodyOptions());
  auto alive = std::make_shared<std::atomic<int>>(0);
  std::atomic<int> made{0}, handled{0};
  RouteOptions ro;
  ro.body_sink = [&](const Request&) -> std::shared_ptr<BodySink> {
    made.fetch_add(1);
    return std::make_shared<TrackedSink>(alive);
  };
  server.Route(
      "PUT", "/blob",
      [&](Request&, Response& res) {
        handled.fetch_add(1);
        res.Text(201, "");
      },
      ro);
  auto port = server.Start();
  ASSERT_TRUE(port.ok());
  RawConn slow(*port);
  slow.Send("PUT /blob HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\nxyz");
  std::string resp;
  {
    Dripper drip(slow, "x");
    resp = slow.ReadResponse();
  }
  EXPECT_TRUE(StartsWith(resp, "HTTP/1.1 408")) << resp;
  EXPECT_EQ(made.load(), 1);
  EXPECT_TRUE(Eventually([&] { return alive->load() == 0; }, 10)) << "the partial sink is gone";
  EXPECT_EQ(handled.load(), 0);
}

TEST(HttpServerLimitsTest, RequestDeadlineDuringTheBodyIs408) {
  ServerOptions o;
  o.limits.min_body_bytes_per_s = 0;  // no minimum rate: only read_timeout_ms
  o.read_timeout_ms = 300;
  TestServer t(o);
  const int port = t.Start();
  RawConn conn(port);
  conn.Send("POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n12345");
  std::string resp = conn.ReadResponse();
  EXPECT_TRUE(StartsWith(resp, "HTTP/1.1 408")) << resp;
  EXPECT_NE(resp.find("request not received in time: 5 body bytes"), std::string::npos) << resp;
  EXPECT_EQ(t.handled.load(), 0);
}

TEST(HttpServerLimitsTest, AtTheCapTheConnectionIdleLongestGivesWay) {
  ServerOptions o;
  o.limits.max_connections = 3;
  TestServer t(o);
  const int port = t.Start();
  std::vector<std::unique_ptr<RawConn>> kept;
  for (int i = 0; i < 3; ++i) {  // three kept-alive connections, now idle
    kept.push_back(std::make_unique<RawConn>(port));
    kept.back()->Send("GET /echo HTTP/1.1\r\nHost: x\r\n\r\n");
    ASSERT_TRUE(StartsWith(kept.back()->ReadResponse(), "HTTP/1.1 200"));
  }
  // A fourth is served, not refused...
  RawConn fourth(port);
  std::string resp = fourth.Get("/echo");
  EXPECT_TRUE(StartsWith(resp, "HTTP/1.1 200")) << resp;
  // ...in place of the one idle longest, which is closed without a response.
  bool closed = false;
  EXPECT_EQ(kept[0]->ReadUntilClosed(&closed), "");
  EXPECT_TRUE(closed);
  // The others stay open.
  for (int i = 1; i < 3; ++i) {
    kept[i]->Send("GET /echo HTTP/1.1\r\nHost: x\r\n\r\n");
    resp = kept[i]->ReadResponse();
    EXPECT_TRUE(StartsWith(resp, "HTTP/1.1 200")) << i << ": " << resp;
  }
}

TEST(HttpServerLimitsTest, KeptAliveIdleConnectionsGoBeforeOnesSendingAHeader) {
  ServerOptions o;
  o.limits.max_connections = 2;
  TestServer t(o);
  const int port = t.Start();
  RawConn header(port);  // the older, but sending a header
  header.Send("GET /echo HTTP/1.1\r\nHost: x\r\n");
  RawConn idle(port);  // the younger, waiting for its next request
  ASSERT_TRUE(StartsWith(idle.Get("/echo"), "HTTP/1.1 200"));
  EXPECT_TRUE(StartsWith(RawConn(port).Get("/echo"), "HTTP/1.1 200"));
  bool closed = false;
  idle.ReadUntilClosed(&closed);
  EXPECT_TRUE(closed) << "the kept-alive idle connection gave way";
  header.Send("\r\n");
  std::string resp = header.ReadResponse();
  EXPECT_TRUE(StartsWith(resp, "HTTP/1.1 200")) << "the header's sender was kept: " << resp;
}

TEST(HttpServerLimitsTest, BusyConnectionsNeverGiveWayAndTheNewOneIs503) {
  ServerOptions o;
  o.limits.max_connections = 2;
  Server server(o);
  Gate gate;
  std::atomic<int> waiting{0}, heads{0};
  server.Route("GET", "/block", [&](Request&, Response& res) {
    waiting.fetch_add(1);
    gate.Wait();
    res.Text(200, "done");
  });
  RouteOptions ro;  // a sink, to know when the upload's header was read
  auto alive = std::make_shared<std::atomic<int>>(0);
  ro.body_sink = [&](const Request&) -> std::shared_ptr<BodySink> {
    heads.fetch_add(1);
    return std::make_shared<TrackedSink>(alive);
  };
  server.Route(
      "POST", "/upload",
      [](Request& req, Response& res) { res.Text(200, std::to_string(req.body_sink->bytes())); },
      ro);
  auto port = server.Start();
  ASSERT_TRUE(port.ok());
  RawConn handling(*port);  // its handler runs
  handling.Send("GET /block HTTP/1.1\r\nHost: x\r\n\r\n");
  RawConn uploading(*port);  // its body is being read (20 s windows)
  uploading.Send("POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\n\r\nabc");
  ASSERT_TRUE(Eventually([&] { return waiting.load() == 1 && heads.load() == 1; }, 10));
  // Neither may go: a third is refused at once.
  {
    RawConn third(*port);
    std::string resp = third.ReadResponse();
    EXPECT_TRUE(StartsWith(resp, "HTTP/1.1 503")) << resp;
    EXPECT_NE(resp.find("too many open connections; retry later"), std::string::npos) << resp;
  }
  uploading.Send("def");
  std::string resp = uploading.ReadResponse();
  EXPECT_TRUE(StartsWith(resp, "HTTP/1.1 200")) << resp;
  EXPECT_NE(resp.find("\r\n\r\n6"), std::string::npos) << resp;
  gate.Open();
  resp = handling.ReadResponse();
  EXPECT_TRUE(StartsWith(resp, "HTTP/1.1 200")) << resp;
}

TEST(HttpServerLimitsTest, PerClientCapRefusesTheAddressBeyondIt) {
  ServerOptions o;
  o.limits.max_connections_per_client = 2;
  TestServer t(o);
  const int port = t.Start();
  auto a = std::make_unique<RawConn>(port);
  RawConn b(port);
  for (RawConn* c : {a.get(), &b}) {  // both registered before the third
    ASSERT_TRUE(StartsWith(c->Get("/echo"), "HTTP/1.1 200"));
  }
  {
    RawConn third(port);
    std::string resp = third.ReadResponse();
    EXPECT_TRUE(StartsWith(resp, "HTTP/1.1 503")) << resp;
    EXPECT_NE(resp.find("too many open connections from 127.0.0.1 (max_connections_per_client 2)"),
              std::string::npos)
        << resp;
  }
  a.reset();  // one closes: the address has room again
  std::string resp;
  EXPECT_TRUE(Eventually(
      [&] {
        resp = RawConn(port).Get("/echo");
        return StartsWith(resp, "HTTP/1.1 200");
      },
      10))
      << resp;
}

}  // namespace
}  // namespace tandem::http
