// http::Server's keep-alive fast path (parse what is buffered, then one
// non-blocking gather write, falling back to asynchronous I/O): responses
// larger than the socket takes, a reader that stalls, pipelined requests,
// requests that arrive in pieces.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>

#include "common/http_server.h"
#include "common/testing/raw_conn.h"

namespace tandem::http {
namespace {

using Conn = tandem::testing::RawConn;

std::string Pattern(size_t n) {
  std::string s(n, 'x');
  for (size_t i = 0; i < n; i += 4093) s[i] = static_cast<char>('a' + (i / 4093) % 26);
  return s;
}

TEST(HttpServerWriteTest, LargeResponsesReachAReaderThatStalls) {
  const std::string big = Pattern(8 << 20);  // far more than a socket buffer takes at once
  Server server({});
  server.Route("GET", "/big", [&big](Request&, Response& res) {
    res.headers["content-type"] = "application/octet-stream";
    res.body = big;
  });
  server.Route("GET", "/small", [](Request&, Response& res) { res.body = "small"; });
  auto port = server.Start();
  ASSERT_TRUE(port.ok()) << port.status();
  Conn conn(*port);
  ASSERT_TRUE(conn.connected());
  // Pipelined: the first response fills the socket while nobody reads.
  conn.Send(
      "GET /big HTTP/1.1\r\nHost: x\r\n\r\nHEAD /big HTTP/1.1\r\nHost: x\r\n\r\n"
      "GET /big HTTP/1.1\r\nHost: x\r\n\r\nGET /small HTTP/1.1\r\nHost: x\r\n\r\n");
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  auto [h1, b1] = conn.ReadHeadAndBody();
  ASSERT_EQ(h1.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << h1;
  EXPECT_NE(h1.find("Content-Length: 8388608\r\n"), std::string::npos) << h1;
  EXPECT_NE(h1.find("content-type: application/octet-stream\r\n"), std::string::npos) << h1;
  EXPECT_TRUE(b1 == big);
  auto [h2, b2] = conn.ReadHeadAndBody(/*head_request=*/true);
  ASSERT_EQ(h2.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << h2;
  EXPECT_NE(h2.find("Content-Length: 8388608\r\n"), std::string::npos) << h2;
  auto [h3, b3] = conn.ReadHeadAndBody();
  ASSERT_EQ(h3.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << h3;
  EXPECT_TRUE(b3 == big);
  auto [h4, b4] = conn.ReadHeadAndBody();
  ASSERT_EQ(h4.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << h4;  // no body bytes of HEAD sent
  EXPECT_EQ(b4, "small");
  EXPECT_TRUE(conn.Idle());
}

TEST(HttpServerWriteTest, ManyPipelinedRequestsAreAnsweredInOrder) {
  Server server({});
  RouteOptions inline_route;
  inline_route.run_inline = true;
  server.Route(
      "GET", "/n/{n}", [](Request& req, Response& res) { res.body = req.path_params.at("n"); },
      inline_route);
  server.Route("POST", "/len",
               [](Request& req, Response& res) { res.body = std::to_string(req.body.size()); });
  auto port = server.Start();
  ASSERT_TRUE(port.ok()) << port.status();
  Conn conn(*port);
  ASSERT_TRUE(conn.connected());
  std::string all;
  for (int i = 0; i < 500; ++i) {
    if (i % 50 == 7) {
      all += "POST /len HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc";
    } else {
      all += "GET /n/" + std::to_string(i) + " HTTP/1.1\r\nHost: x\r\n\r\n";
    }
  }
  conn.Send(all);
  for (int i = 0; i < 500; ++i) {
    auto [head, body] = conn.ReadHeadAndBody();
    ASSERT_EQ(head.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << i << ": " << head;
    EXPECT_EQ(body, i % 50 == 7 ? "3" : std::to_string(i));
  }
  EXPECT_TRUE(conn.Idle());
}

TEST(HttpServerWriteTest, RequestsInPiecesAndALastOneThatCloses) {
  Server server({});
  server.Route("POST", "/len",
               [](Request& req, Response& res) { res.body = std::to_string(req.body.size()); });
  auto port = server.Start();
  ASSERT_TRUE(port.ok()) << port.status();
  Conn conn(*port);
  ASSERT_TRUE(conn.connected());
  const std::string request =
      "POST /len HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n0123456789";
  for (size_t cut : {5ul, 20ul, request.size() - 10, request.size() - 3}) {
    conn.Send(request.substr(0, cut));
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    conn.Send(request.substr(cut));
    auto [head, body] = conn.ReadHeadAndBody();
    ASSERT_EQ(head.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << cut << ": " << head;
    EXPECT_EQ(head.find("Connection: close"), std::string::npos) << head;
    EXPECT_EQ(body, "10");
  }
  // A malformed request after a good one in the same bytes: answered 400, closed.
  conn.Send(request + "BAD\r\n\r\n");
  auto [h1, b1] = conn.ReadHeadAndBody();
  EXPECT_EQ(b1, "10");
  auto [h2, b2] = conn.ReadHeadAndBody();
  ASSERT_EQ(h2.rfind("HTTP/1.1 400 Bad Request\r\n", 0), 0u) << h2;
  EXPECT_NE(h2.find("Connection: close\r\n"), std::string::npos) << h2;
  EXPECT_NE(b2.find("malformed HTTP request"), std::string::npos) << b2;
  EXPECT_TRUE(conn.ReadHeadAndBody().first.empty());  // closed
}

}  // namespace
}  // namespace tandem::http
