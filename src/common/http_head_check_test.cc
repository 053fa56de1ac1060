// RouteOptions::head_check: a request refused on its head is answered before
// its body is read (no sink made, the handler not run, the connection closed
// after the answer); an admitted one goes on as usual.
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <string>

#include "common/http_body_sink.h"
#include "common/http_client.h"
#include "common/http_server.h"
#include "common/testing/raw_conn.h"

namespace tandem::http {
namespace {

using tandem::testing::RawConn;

class CountingSink : public BodySink {
 protected:
  Status DoWrite(std::string_view) override { return OkStatus(); }
};

class HeadCheckTest : public ::testing::Test {
 protected:
  void SetUp() override {
    RouteOptions o;
    o.max_body_bytes = 64 << 20;
    o.body_sink = [this](const Request&) -> std::shared_ptr<BodySink> {
      ++sinks_;
      return std::make_shared<CountingSink>();
    };
    o.head_check = [this](const Request& head, Response& refusal) {
      ++checks_;
      if (head.Header("x-key") == "open" && head.path_params.at("name") == "a") return true;
      refusal.Json(401, R"({"error":"no"})");
      return false;
    };
    server_.Route("PUT", "/up/{name}",
                  [this](Request& req, Response& res) {
                    ++handled_;
                    res.Text(200, std::to_string(req.body_sink ? req.body_sink->bytes() : -1));
                  },
                  o);
    ASSERT_TRUE(server_.Start().ok());
  }

  Server server_{ServerOptions{}};
  std::atomic<int> sinks_{0};
  std::atomic<int> checks_{0};
  std::atomic<int> handled_{0};
};

TEST_F(HeadCheckTest, ARefusedHeadIsAnsweredWithoutItsBodyAndTheConnectionCloses) {
  for (const std::string framing : {"Content-Length: 50000000", "Transfer-Encoding: chunked"}) {
    RawConn conn(server_.port());
    ASSERT_TRUE(conn.connected());
    // Only the head: a server waiting for the body would answer nothing.
    conn.Send("PUT /up/a HTTP/1.1\r\nHost: x\r\nX-Key: wrong\r\n" + framing + "\r\n\r\n");
    const std::string response = conn.ReadResponse();
    EXPECT_EQ(response.rfind("HTTP/1.1 401 ", 0), 0u) << framing << ": " << response;
    bool closed = false;
    conn.ReadUntilClosed(&closed);
    EXPECT_TRUE(closed) << framing;
  }
  EXPECT_EQ(checks_.load(), 2);
  EXPECT_EQ(sinks_.load(), 0);  // no sink (spool file) for a refused body
  EXPECT_EQ(handled_.load(), 0);
}

TEST_F(HeadCheckTest, TheCheckSeesHeadersAndPathParamsAndAnAdmittedBodyIsRead) {
  Client client;
  ClientRequest put;
  put.method = "PUT";
  put.url = "http://127.0.0.1:" + std::to_string(server_.port()) + "/up/a";
  put.headers["X-Key"] = "open";
  put.body = std::string(4 << 20, 'x');
  auto r = client.Do(put);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(r->body, std::to_string(4 << 20));
  EXPECT_EQ(sinks_.load(), 1);
  // Right header, wrong path parameter: refused.
  put.url = "http://127.0.0.1:" + std::to_string(server_.port()) + "/up/b";
  r = client.Do(put);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 401) << r->body;
  EXPECT_EQ(handled_.load(), 1);
  EXPECT_EQ(sinks_.load(), 1);
}

TEST_F(HeadCheckTest, NotAskedWhenTheBodyCameWithTheHeadOrThereIsNone) {
  RawConn conn(server_.port());
  ASSERT_TRUE(conn.connected());
  // The whole body with the head: the handler decides (here: runs).
  conn.Send("PUT /up/b HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello");
  EXPECT_EQ(conn.ReadResponse().rfind("HTTP/1.1 200 ", 0), 0u);
  conn.Send("PUT /up/b HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
  EXPECT_EQ(conn.ReadResponse().rfind("HTTP/1.1 200 ", 0), 0u);
  EXPECT_EQ(checks_.load(), 0);
  EXPECT_EQ(handled_.load(), 2);
}

}  // namespace
}  // namespace tandem::http
