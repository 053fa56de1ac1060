#include "common/http_server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <memory>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "common/http_client.h"
#include "common/json.h"
#include "common/testing/gate.h"
#include "common/testing/raw_conn.h"

namespace tandem::http {
namespace {

using std::chrono::seconds;

using tandem::testing::Gate;
using tandem::testing::RawConn;

std::string Url(int port, std::string_view path) {
  return "http://127.0.0.1:" + std::to_string(port) + std::string(path);
}

Handler Echo() {
  return [](Request& req, Response& res) {
    Json j = {{"method", req.method},         {"path", req.path},
              {"params", req.path_params},    {"query", req.query},
              {"body_size", req.body.size()}, {"remote", req.remote_address}};
    res.Json(200, j.dump());
  };
}

// A started server with GET and POST /echo routes.
std::unique_ptr<Server> StartEchoServer(const ServerOptions& options) {
  auto server = std::make_unique<Server>(options);
  server->Route("GET", "/echo", Echo());
  server->Route("POST", "/echo", Echo());
  EXPECT_TRUE(server->Start().ok());
  return server;
}

TEST(HttpServerTest, RoutesParamsRestOfPathAndQuery) {
  Server server({});
  server.Route("GET", "/models/{name}/files/{path...}", Echo());
  ASSERT_TRUE(server.Start().ok());
  Client client;
  auto r = client.Get(Url(server.port(), "/models/my%20model/files/a/b%2Fc.txt?x=1&y=hello%20w+x"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->headers["server"], "tandem");
  EXPECT_EQ(r->headers["content-type"], "application/json");
  Json j = Json::parse(r->body);
  EXPECT_EQ(j["params"]["name"], "my model");
  EXPECT_EQ(j["params"]["path"], "a/b/c.txt");
  EXPECT_EQ(j["path"], "/models/my model/files/a/b/c.txt");
  EXPECT_EQ(j["query"]["x"], "1");
  EXPECT_EQ(j["query"]["y"], "hello w x");
}

TEST(HttpServerTest, UnknownPathIs404AndWrongMethodIs405) {
  Server server({});
  server.Route("GET", "/jobs/{id}", Echo());
  server.Route("DELETE", "/jobs/{id}", Echo());
  ASSERT_TRUE(server.Start().ok());
  Client client;
  auto r = client.Get(Url(server.port(), "/x"));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 404);
  EXPECT_EQ(r->body, R"({"error":{"code":"NOT_FOUND","message":"no route for GET /x"}})");
  r = client.Post(Url(server.port(), "/jobs/1"), "{}");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 405);
  EXPECT_EQ(r->headers["allow"], "DELETE, GET");
  // The connection survives a 404 (no body was left unread).
  r = client.Get(Url(server.port(), "/jobs/1"));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 200);
  r = client.Get(Url(server.port(), "/jobs/%zz"));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 400);
}

TEST(HttpServerTest, InvalidRoutePatternFailsStart) {
  Server server({});
  server.Route("GET", "/a/{x...}/b", Echo());
  auto port = server.Start();
  EXPECT_EQ(port.status().code(), StatusCode::kInvalidArgument);
}

TEST(HttpServerTest, RoutesListsPatterns) {
  Server server({});
  server.Route("GET", "/a", Echo());
  server.Route("POST", "/b/{x}", Echo(), 10);
  EXPECT_EQ(server.Routes(), (std::vector<std::string>{"GET /a", "POST /b/{x}"}));
}

TEST(HttpServerTest, KeepAliveReusesOneConnection) {
  Server server({});
  server.Route("GET", "/echo", Echo());
  ASSERT_TRUE(server.Start().ok());
  // Raw socket: many requests, one connection.
  RawConn conn(server.port());
  ASSERT_TRUE(conn.connected());
  std::set<std::string> remotes;
  for (int i = 0; i < 50; ++i) {
    std::string resp = conn.Get("/echo");
    ASSERT_EQ(resp.rfind("HTTP/1.1 200", 0), 0u) << resp;
    remotes.insert(Json::parse(resp.substr(resp.find("\r\n\r\n") + 4))["remote"]);
  }
  EXPECT_EQ(remotes.size(), 1u);
  // libcurl client reuses its connection too.
  Client client;
  remotes.clear();
  for (int i = 0; i < 20; ++i) {
    auto r = client.Get(Url(server.port(), "/echo"));
    ASSERT_TRUE(r.ok());
    remotes.insert(Json::parse(r->body)["remote"]);
  }
  EXPECT_EQ(remotes.size(), 1u);
}

TEST(HttpServerTest, Http10AndConnectionCloseEndTheConnection) {
  Server server({});
  server.Route("GET", "/echo", Echo());
  ASSERT_TRUE(server.Start().ok());
  {
    RawConn conn(server.port());
    conn.Send("GET /echo HTTP/1.0\r\n\r\n");
    bool closed = false;
    std::string resp = conn.ReadUntilClosed(&closed);
    EXPECT_TRUE(closed);
    EXPECT_NE(resp.find(" 200 "), std::string::npos);
  }
  {
    RawConn conn(server.port());
    conn.Send("GET /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    bool closed = false;
    std::string resp = conn.ReadUntilClosed(&closed);
    EXPECT_TRUE(closed);
    EXPECT_NE(resp.find("Connection: close"), std::string::npos);
  }
}

TEST(HttpServerTest, OversizedBodyIs413WithPerRouteOverride) {
  ServerOptions options;
  options.max_body_bytes = 1024;
  Server server(options);
  server.Route("POST", "/small", Echo());
  server.Route("PUT", "/artifacts/{key...}", Echo(), int64_t{1} << 20);
  ASSERT_TRUE(server.Start().ok());
  Client client;
  std::string big(2048, 'x');
  auto r = client.Post(Url(server.port(), "/small"), big, "application/octet-stream");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 413);
  EXPECT_EQ(
      r->body,
      R"({"error":{"code":"RESOURCE_EXHAUSTED","message":"request body exceeds 1024 bytes"}})");
  r = client.Post(Url(server.port(), "/small"), std::string(1024, 'y'), "text/plain");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 200);
  ClientRequest put;
  put.method = "PUT";
  put.url = Url(server.port(), "/artifacts/a/b.bin");
  put.body = big;
  r = client.Do(put);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(Json::parse(r->body)["body_size"], 2048);

  // A chunked body over the limit is cut off as it streams in.
  RawConn conn(server.port());
  conn.Send("POST /small HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n");
  conn.Send("400\r\n" + std::string(1024, 'a') + "\r\n");
  conn.Send("400\r\n" + std::string(1024, 'a') + "\r\n0\r\n\r\n");
  std::string resp = conn.ReadResponse();
  EXPECT_EQ(resp.rfind("HTTP/1.1 413", 0), 0u) << resp;
}

TEST(HttpServerTest, SlowHandlerDoesNotBlockOtherConnections) {
  ServerOptions options;
  options.worker_threads = 2;
  Server server(options);
  Gate release;
  std::promise<void> entered;
  server.Route("GET", "/slow", [&](Request&, Response& res) {
    entered.set_value();
    release.Wait();
    res.Text(200, "slow");
  });
  server.Route("GET", "/fast", [](Request&, Response& res) { res.Text(200, "fast"); });
  ASSERT_TRUE(server.Start().ok());
  auto slow =
      std::async(std::launch::async, [&] { return Client().Get(Url(server.port(), "/slow")); });
  ASSERT_EQ(entered.get_future().wait_for(seconds(10)), std::future_status::ready);
  Client client;
  for (int i = 0; i < 10; ++i) {
    auto r = client.Get(Url(server.port(), "/fast"));
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->body, "fast");
  }
  EXPECT_EQ(slow.wait_for(std::chrono::seconds(0)), std::future_status::timeout);
  release.Open();
  auto r = slow.get();
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->body, "slow");
}

TEST(HttpServerTest, StreamedResponseArrivesIncrementally) {
  Server server({});
  // The stream produces chunk i+1 only after the client has received chunk
  // i, so the test passes only if chunks are delivered one by one.
  std::mutex mu;
  std::condition_variable cv;
  int received = 0;
  server.Route("GET", "/stream", [&](Request&, Response& res) {
    res.headers["content-type"] = "text/plain";
    auto next = std::make_shared<int>(0);
    res.stream = [&, next](std::string& chunk, const StreamContext& ctx) {
      if (*next == 5) return false;
      std::unique_lock<std::mutex> l(mu);
      if (!cv.wait_for(l, seconds(10), [&] { return received >= *next || ctx.cancelled(); })) {
        return false;
      }
      chunk = "chunk" + std::to_string((*next)++) + "\n";
      return true;
    };
  });
  ASSERT_TRUE(server.Start().ok());
  Client client;
  ClientRequest req;
  req.url = Url(server.port(), "/stream");
  std::string all;
  req.on_body = [&](std::string_view data) {
    all.append(data);
    std::lock_guard<std::mutex> l(mu);
    received = static_cast<int>(std::count(all.begin(), all.end(), '\n'));
    cv.notify_all();
    return true;
  };
  auto r = client.Do(req);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->headers["transfer-encoding"], "chunked");
  EXPECT_EQ(all, "chunk0\nchunk1\nchunk2\nchunk3\nchunk4\n");
  EXPECT_TRUE(r->body.empty());
}

// Counts live stream callbacks (the server drops one when its stream ends).
struct LiveStreams {
  std::mutex mu;
  std::condition_variable cv;
  int live = 0;
  struct Token {
    explicit Token(LiveStreams* s) : s(s) {
      std::lock_guard<std::mutex> l(s->mu);
      ++s->live;
    }
    ~Token() {
      std::lock_guard<std::mutex> l(s->mu);
      --s->live;
      s->cv.notify_all();
    }
    LiveStreams* s;
  };
  bool WaitFor(int n) {
    std::unique_lock<std::mutex> l(mu);
    return cv.wait_for(l, seconds(10), [&] { return live == n; });
  }
};

// GET /tail: streams "tick\n", then long-polls a source that never fires
// (as documented) until cancelled; `streams` counts the live callbacks.
void RouteTail(Server& server, LiveStreams& streams) {
  server.Route("GET", "/tail", [&streams](Request&, Response& res) {
    auto token = std::make_shared<LiveStreams::Token>(&streams);
    auto sent = std::make_shared<bool>(false);
    res.stream = [sent, token](std::string& chunk, const StreamContext& ctx) {
      if (ctx.cancelled()) return false;
      if (!*sent) {
        *sent = true;
        chunk = "tick\n";
        return true;
      }
      std::mutex mu;
      std::condition_variable never;
      std::unique_lock<std::mutex> l(mu);
      never.wait_for(l, std::chrono::milliseconds(20), [&] { return ctx.cancelled(); });
      return true;
    };
  });
}

// A server with RouteTail and one client whose stream has started.
class TailStreamTest : public ::testing::Test {
 protected:
  void SetUp() override {
    RouteTail(server_, streams_);
    ASSERT_TRUE(server_.Start().ok());
    conn_ = std::make_unique<RawConn>(server_.port());
    conn_->Send("GET /tail HTTP/1.1\r\nHost: x\r\n\r\n");
    first_ = conn_->ReadSome();
    ASSERT_EQ(first_.rfind("HTTP/1.1 200", 0), 0u) << first_;
    ASSERT_TRUE(streams_.WaitFor(1));
  }

  LiveStreams streams_;  // outlives the server (its streams hold tokens)
  Server server_{ServerOptions{}};
  std::unique_ptr<RawConn> conn_;
  std::string first_;
};

TEST_F(TailStreamTest, ClientDisconnectCancelsStream) {
  conn_.reset();  // disconnect
  EXPECT_TRUE(streams_.WaitFor(0)) << "stream still running after the client left";
}

TEST(HttpServerTest, GracefulStopLetsInFlightRequestFinish) {
  Server server({});
  Gate release;
  std::promise<void> entered;
  server.Route("GET", "/work", [&](Request&, Response& res) {
    entered.set_value();
    release.Wait();
    res.Text(200, "done");
  });
  server.Route("GET", "/echo", Echo());
  ASSERT_TRUE(server.Start().ok());
  int port = server.port();
  // An idle keep-alive connection is closed by Stop.
  RawConn idle(port);
  ASSERT_EQ(idle.Get("/echo").rfind("HTTP/1.1 200", 0), 0u);

  auto inflight = std::async(std::launch::async, [&] { return Client().Get(Url(port, "/work")); });
  ASSERT_EQ(entered.get_future().wait_for(seconds(10)), std::future_status::ready);
  auto stopper = std::async(std::launch::async, [&] { server.Stop(10'000); });
  bool closed = false;
  idle.ReadUntilClosed(&closed);
  EXPECT_TRUE(closed);
  release.Open();
  auto r = inflight.get();
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->body, "done");
  EXPECT_EQ(r->headers["connection"], "close");
  stopper.get();
  auto after = Client().Get(Url(port, "/echo"), 2000);
  EXPECT_EQ(after.status().code(), StatusCode::kUnavailable);
  server.Stop();  // idempotent
}

// A planned stop under keep-alive load: the client's next request on an idle
// connection is still answered (marked `Connection: close`) instead of
// meeting a closed socket, and only then is the connection closed.
TEST(HttpServerTest, DrainAnswersNextRequestOfIdleKeepAliveConnection) {
  ServerOptions options;
  options.drain_idle_ms = 20'000;
  Server server(options);
  server.Route("GET", "/echo", Echo());
  ASSERT_TRUE(server.Start().ok());
  int port = server.port();
  RawConn conn(port);
  std::string first = conn.Get("/echo");
  ASSERT_EQ(first.rfind("HTTP/1.1 200", 0), 0u) << first;
  EXPECT_EQ(first.find("Connection: close"), std::string::npos) << first;

  auto stopper = std::async(std::launch::async, [&] { server.Stop(30'000); });
  // Stop() closes the listener first: wait until new connections are refused.
  bool refused = false;
  auto give_up = std::chrono::steady_clock::now() + seconds(20);  // a hang guard only
  while (!refused && std::chrono::steady_clock::now() < give_up) {
    RawConn probe(port);
    refused = !probe.connected();
    if (!refused) std::this_thread::yield();
  }
  ASSERT_TRUE(refused) << "the listener is still open while stopping";
  EXPECT_NE(stopper.wait_for(std::chrono::milliseconds(0)), std::future_status::ready)
      << "Stop() returned while a keep-alive connection could still send a request";

  std::string last = conn.Get("/echo");
  ASSERT_EQ(last.rfind("HTTP/1.1 200", 0), 0u) << "request on a draining connection: " << last;
  EXPECT_NE(last.find("Connection: close"), std::string::npos) << last;
  bool closed = false;
  conn.ReadUntilClosed(&closed);
  EXPECT_TRUE(closed);
  stopper.get();
}

// Connections the kernel completed before Stop() but nobody accepted yet
// (here: the only I/O thread is held by an inline handler) are accepted by
// Stop() and answered, not reset when the listener closes, even with idle
// connections closed at once (1 run in 30 lost one: Stop() closed it as idle
// before its session began); so are
// DrainAnswersNextRequestOfIdleKeepAliveConnection's probes, which connect as
// fast as they can until one is refused (they kept a Stop() that accepted
// until the queue was empty accepting for 20 s under ThreadSanitizer).
TEST(HttpServerTest, ConnectionsQueuedWhenStopBeginsAreAnswered) {
  Server server({});  // drain_idle_ms 0: idle connections are closed at once
  Gate release;
  std::promise<void> entered;
  RouteOptions on_io;
  on_io.run_inline = true;
  server.Route(
      "GET", "/hold",
      [&](Request&, Response& res) {
        entered.set_value();
        release.Wait();
        res.Text(200, "held");
      },
      on_io);
  server.Route("GET", "/echo", Echo());
  ASSERT_TRUE(server.Start().ok());
  const int port = server.port();
  RawConn holder(port);
  holder.Send("GET /hold HTTP/1.1\r\nHost: x\r\n\r\n");
  ASSERT_EQ(entered.get_future().wait_for(seconds(10)), std::future_status::ready);
  std::vector<std::unique_ptr<RawConn>> queued;
  for (int i = 0; i < 5; ++i) {
    queued.push_back(std::make_unique<RawConn>(port));
    ASSERT_TRUE(queued.back()->connected());
    queued.back()->Send("GET /echo HTTP/1.1\r\nHost: x\r\n\r\n");
  }
  auto stopper = std::async(std::launch::async, [&] { server.Stop(10'000); });
  release.Open();
  EXPECT_EQ(holder.ReadResponse().rfind("HTTP/1.1 200", 0), 0u);
  holder.Close();  // it may have been answered before Stop() began: kept alive
  for (auto& conn : queued) {  // (`Connection: close` unless served before Stop() began)
    std::string resp = conn->ReadResponse();
    EXPECT_EQ(resp.rfind("HTTP/1.1 200", 0), 0u) << resp;
  }
  stopper.get();
  EXPECT_FALSE(RawConn(port).connected());
}

// Stop() ends a streamed response at once with its final chunk (so a
// streaming client such as `events tail` sees a clean end and the process
// stops without waiting out the grace period).
TEST_F(TailStreamTest, StopEndsStreamsCleanly) {
  std::string got = first_;
  // The stream's first chunk first: a stream stopped before its handler
  // produced anything ends at once with no chunk at all (the setup only
  // waits for the handler, and the headers may come alone).
  while (got.find("tick\n") == std::string::npos) {
    std::string more = conn_->ReadSome();
    if (more.empty()) break;  // closed or timed out
    got += more;
  }
  ASSERT_NE(got.find("tick\n"), std::string::npos) << got;
  // The stream must end at once, with its final chunk; one cut off when the
  // grace period runs out would lack it.
  auto stopper = std::async(std::launch::async, [&] { server_.Stop(2'000); });
  bool closed = false;
  got += conn_->ReadUntilClosed(&closed);
  EXPECT_TRUE(closed);
  EXPECT_NE(got.find("tick\n"), std::string::npos) << got;
  EXPECT_TRUE(got.ends_with("\r\n0\r\n\r\n")) << "stream did not end with the final chunk: " << got;
  EXPECT_TRUE(streams_.WaitFor(0));
  stopper.get();
}

TEST(HttpServerTest, MalformedRequestIs400AndCloses) {
  Server server({});
  server.Route("GET", "/echo", Echo());
  ASSERT_TRUE(server.Start().ok());
  RawConn conn(server.port());
  conn.Send("THIS IS NOT HTTP\r\n\r\n");
  bool closed = false;
  std::string resp = conn.ReadUntilClosed(&closed);
  EXPECT_TRUE(closed);
  EXPECT_EQ(resp.rfind("HTTP/1.1 400", 0), 0u) << resp;
  EXPECT_NE(resp.find("INVALID_ARGUMENT"), std::string::npos);
}

TEST(HttpServerTest, ThrowingHandlerIs500AndServerSurvives) {
  Server server({});
  server.Route("GET", "/boom", [](Request&, Response&) { throw std::runtime_error("kaboom"); });
  server.Route("GET", "/echo", Echo());
  ASSERT_TRUE(server.Start().ok());
  Client client;
  auto r = client.Get(Url(server.port(), "/boom"));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 500);
  Json j = Json::parse(r->body);
  EXPECT_EQ(j["error"]["code"], "INTERNAL");
  EXPECT_NE(j["error"]["message"].get<std::string>().find("kaboom"), std::string::npos);
  r = client.Get(Url(server.port(), "/echo"));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 200);
}

TEST(HttpServerTest, ReadTimeoutClosesIncompleteRequest) {
  ServerOptions options;
  options.read_timeout_ms = 200;
  auto server = StartEchoServer(options);
  RawConn conn(server->port());
  auto start = std::chrono::steady_clock::now();
  conn.Send("GET /echo HTTP/1.1\r\nHost: x\r\n");  // headers never finish
  bool closed = false;
  std::string resp = conn.ReadUntilClosed(&closed);
  EXPECT_TRUE(closed);
  EXPECT_TRUE(resp.empty()) << resp;
  EXPECT_LT(std::chrono::steady_clock::now() - start, seconds(5));
}

TEST(HttpServerTest, OversizedHeaderIs431AndServerSurvives) {
  ServerOptions options;
  options.max_header_bytes = 4096;
  auto server = StartEchoServer(options);
  {
    RawConn conn(server->port());
    conn.Send("GET /echo HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(8192, 'h') + "\r\n\r\n");
    std::string resp = conn.ReadResponse();
    EXPECT_EQ(resp.rfind("HTTP/1.1 431", 0), 0u) << resp;
    EXPECT_NE(resp.find("request header exceeds 4096 bytes"), std::string::npos) << resp;
  }
  {
    // Many small fields count as much as one big one.
    RawConn conn(server->port());
    std::string head = "GET /echo HTTP/1.1\r\nHost: x\r\n";
    for (int i = 0; i < 500; ++i) head += "X-H" + std::to_string(i) + ": v\r\n";
    conn.Send(head + "\r\n");
    EXPECT_EQ(conn.ReadResponse().rfind("HTTP/1.1 431", 0), 0u);
  }
  RawConn conn(server->port());
  conn.Send("GET /echo HTTP/1.1\r\nHost: x\r\nX-Ok: " + std::string(3000, 'o') + "\r\n\r\n");
  EXPECT_EQ(conn.ReadResponse().rfind("HTTP/1.1 200", 0), 0u);
}

TEST(HttpServerTest, HeaderTimeoutCutsOffDrippingClientDespiteLongReadTimeout) {
  ServerOptions options;
  options.read_timeout_ms = 600'000;  // long uploads allowed (the control plane's setting)
  options.header_timeout_ms = 500;
  auto server = StartEchoServer(options);
  RawConn slow(server->port());
  slow.Send("POST /echo HTTP/1.1\r\nHost: x\r\nX-Drip: a");  // and never more
  bool closed = false;
  std::string resp = slow.ReadUntilClosed(&closed);  // RawConn gives up after 10 s
  EXPECT_TRUE(closed) << "a header dripping client must be closed";
  EXPECT_TRUE(resp.empty()) << resp;
  // A body may take longer than the header timeout: it gets read_timeout_ms.
  RawConn upload(server->port());
  upload.Send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n12345");
  // Wait (on the server's side of the clock) past the header timeout by
  // having a second connection time out first.
  RawConn witness(server->port());
  witness.Send("GET");
  witness.ReadUntilClosed(&closed);
  ASSERT_TRUE(closed);
  upload.Send("67890");
  std::string ok = upload.ReadResponse();
  EXPECT_EQ(ok.rfind("HTTP/1.1 200", 0), 0u) << ok;
  EXPECT_NE(ok.find("\"body_size\":10"), std::string::npos) << ok;
}

TEST(HttpServerTest, SlowlorisClientsCannotStarveTheServer) {
  ServerOptions options;
  options.limits.max_connections = 4;
  options.read_timeout_ms = 300;
  auto server = StartEchoServer(options);
  // Four clients hold connections open with headers that never finish.
  std::vector<std::unique_ptr<RawConn>> slow;
  for (int i = 0; i < 4; ++i) {
    slow.push_back(std::make_unique<RawConn>(server->port()));
    slow.back()->Send("GET /echo HTTP/1.1\r\nHost: x\r\nX-Slow: ");
  }
  // A fifth is served at once: the one dripping longest gives way (connections
  // are accepted in order, so the four are registered first; a connection
  // whose request is being handled never gives way: http_server_limits_test).
  {
    RawConn extra(server->port());
    std::string resp = extra.Get("/echo");
    EXPECT_EQ(resp.rfind("HTTP/1.1 200", 0), 0u) << resp;
  }
  // The slow ones are cut off (the first to make room, the others by the
  // read timeout) without a response...
  for (auto& conn : slow) {
    bool closed = false;
    EXPECT_EQ(conn->ReadUntilClosed(&closed), "");
    EXPECT_TRUE(closed);
  }
  // ...and then the server serves again (its sessions unregister just after
  // the sockets close, so allow a few attempts).
  std::string resp;
  for (int attempt = 0; attempt < 200 && resp.rfind("HTTP/1.1 200", 0) != 0; ++attempt) {
    RawConn conn(server->port());
    resp = conn.Get("/echo");
  }
  EXPECT_EQ(resp.rfind("HTTP/1.1 200", 0), 0u) << resp;
}

TEST(HttpServerTest, IdleKeepAliveConnectionIsClosed) {
  ServerOptions options;
  options.idle_timeout_ms = 200;
  auto server = StartEchoServer(options);
  RawConn conn(server->port());
  ASSERT_EQ(conn.Get("/echo").rfind("HTTP/1.1 200", 0), 0u);
  bool closed = false;
  conn.ReadUntilClosed(&closed);
  EXPECT_TRUE(closed);
}

TEST(HttpServerTest, InlineRouteRunsOnIoThread) {
  Server server({});
  RouteOptions inline_opts;
  inline_opts.run_inline = true;
  server.Route(
      "GET", "/ping", [](Request&, Response& res) { res.Text(200, "pong"); }, inline_opts);
  ASSERT_TRUE(server.Start().ok());
  auto r = Client().Get(Url(server.port(), "/ping"));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->body, "pong");
}

TEST(HttpServerTest, BindConflictIsUnavailableAndReusePortShares) {
  Server first({});
  ASSERT_TRUE(first.Start().ok());
  ServerOptions same;
  same.port = first.port();
  Server second(same);
  auto s = second.Start();
  ASSERT_EQ(s.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(std::string(s.status().message()).find("127.0.0.1:" + std::to_string(first.port())),
            std::string::npos)
      << s.status();

  ServerOptions shared;
  shared.reuse_port = true;
  Server a(shared);
  auto pa = a.Start();
  ASSERT_TRUE(pa.ok());
  shared.port = *pa;
  Server b(shared);
  EXPECT_TRUE(b.Start().ok());
}

// Servers sharing one listening socket (a supervisor's, inherited by its
// replicas): a stopping server leaves the socket open and its queue to the
// others, so a client connecting at that moment is answered by the next
// server instead of being reset (what closing one socket of a SO_REUSEPORT
// group does to the connections the kernel queued on it).
TEST(HttpServerTest, ServersSharingAListeningSocketHandOverOnStop) {
  int l = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(l, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  ASSERT_EQ(::bind(l, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(::listen(l, 16), 0);
  ASSERT_EQ(::getsockname(l, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  const int port = ntohs(addr.sin_port);
  auto named = [](std::string name) {
    return [name](const Request&, Response& r) { r.Text(200, name); };
  };

  ServerOptions o;
  o.listen_fd = l;
  o.port = 1;  // unused with listen_fd
  Server a(o);
  a.Route("GET", "/who", named("a"));
  auto pa = a.Start();
  ASSERT_TRUE(pa.ok()) << pa.status();
  EXPECT_EQ(*pa, port);
  RawConn first(port);
  std::string resp = first.Get("/who");
  EXPECT_NE(resp.find("\r\n\r\na"), std::string::npos) << resp;
  a.Stop(1000);

  // No server accepts now; the socket still listens, so the connection waits in its queue.
  RawConn waiting(port);
  ASSERT_TRUE(waiting.connected());
  waiting.Send("GET /who HTTP/1.1\r\nHost: x\r\n\r\n");
  Server b(o);
  b.Route("GET", "/who", named("b"));
  ASSERT_TRUE(b.Start().ok());
  resp = waiting.ReadResponse();
  EXPECT_EQ(resp.rfind("HTTP/1.1 200", 0), 0u) << resp;
  EXPECT_NE(resp.find("\r\n\r\nb"), std::string::npos) << resp;
  b.Stop(1000);
  ::close(l);

  // A descriptor that is not a listening socket is refused, naming it.
  int plain = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ServerOptions bad;
  bad.listen_fd = plain;
  Server c(bad);
  auto pc = c.Start();
  EXPECT_EQ(pc.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(std::string(pc.status().message()).find("not a listening TCP socket"),
            std::string::npos)
      << pc.status();
  ::close(plain);
}

TEST(HttpServerTest, ConcurrencySmoke) {
  ServerOptions options;
  options.io_threads = 2;
  options.worker_threads = 4;
  Server server(options);
  server.Route("POST", "/echo/{n}", [](Request& req, Response& res) {
    res.Text(200, req.path_params["n"] + ":" + req.body);
  });
  ASSERT_TRUE(server.Start().ok());
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      Client client;
      for (int i = 0; i < 200; ++i) {
        std::string n = std::to_string(t * 1000 + i);
        auto r = client.Post(Url(server.port(), "/echo/" + n), "b" + n, "text/plain");
        if (r.ok() && r->status == 200 && r->body == n + ":b" + n) ok++;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 1600);
}

}  // namespace
}  // namespace tandem::http
