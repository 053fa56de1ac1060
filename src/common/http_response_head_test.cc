#include "common/http_response_head.h"

#include <gtest/gtest.h>

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <sstream>
#include <string>

namespace tandem::http::detail {
namespace {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;

// What Beast writes for the same response (http::Server's general path).
std::string BeastHead(int status, const Headers& headers, const std::string& body, bool close) {
  bhttp::response<bhttp::string_body> res(static_cast<bhttp::status>(status), 11);
  for (const auto& [name, value] : headers) {
    if (beast::iequals(name, "content-length") || beast::iequals(name, "transfer-encoding")) {
      continue;
    }
    if (beast::iequals(name, "connection")) {
      if (beast::iequals(value, "close")) close = true;
      continue;
    }
    res.set(name, value);
  }
  res.set(bhttp::field::server, "tandem");
  res.keep_alive(!close);
  res.body() = body;
  res.prepare_payload();
  std::ostringstream os;
  os << res;
  std::string all = os.str();
  return all.substr(0, all.size() - body.size());
}

std::string Head(int status, const Headers& headers, size_t length, bool& close) {
  std::string out = "stale bytes";
  EXPECT_TRUE(FormatResponseHead(status, headers, length, close, out));
  return out;
}

TEST(FormatResponseHead, SameBytesAsBeast) {
  const std::string body = R"({"outputs":[0.25]})";
  struct Case {
    int status;
    Headers headers;
    bool close;
  };
  const Case cases[] = {
      {200, {{"content-type", "application/json"}}, false},
      {200, {{"content-type", "application/json"}}, true},
      {201, {}, false},
      {404, {{"content-type", "application/json"}, {"x-request-id", "abc"}}, false},
      {405, {{"allow", "GET, HEAD"}, {"content-type", "application/json"}}, true},
      {429, {{"retry-after", "1"}, {"Content-Type", "text/plain"}}, false},
      {503, {{"content-length", "99"}, {"transfer-encoding", "chunked"}}, false},
      {200, {{"connection", "keep-alive"}, {"etag", "\"v1\""}}, false},
      {299, {{"x-odd", ""}}, false},  // no reason phrase known to Beast
  };
  for (const auto& c : cases) {
    bool close = c.close;
    EXPECT_EQ(Head(c.status, c.headers, body.size(), close),
              BeastHead(c.status, c.headers, body, c.close))
        << c.status;
    EXPECT_EQ(close, c.close);
  }
}

TEST(FormatResponseHead, ConnectionCloseHeaderClosesAndServerIsOurs) {
  bool close = false;
  Headers h = {{"Connection", "Close"}, {"server", "other"}};
  const std::string head = Head(200, h, 0, close);
  EXPECT_TRUE(close);
  EXPECT_EQ(head,
            "HTTP/1.1 200 OK\r\nServer: tandem\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
  EXPECT_EQ(head, BeastHead(200, h, "", false));
}

TEST(FormatResponseHead, RefusesWhatTheGeneralPathMustWrite) {
  std::string out;
  bool close = false;
  for (int status : {100, 101, 199, 204, 304, 600, 0, -1}) {
    EXPECT_FALSE(FormatResponseHead(status, {}, 0, close, out)) << status;
  }
  EXPECT_FALSE(FormatResponseHead(200, {{"x-a", "b\r\nx-injected: 1"}}, 0, close, out));
  EXPECT_FALSE(FormatResponseHead(200, {{"x-a\n", "b"}}, 0, close, out));
  EXPECT_FALSE(FormatResponseHead(200, {{std::string("x\0a", 3), "b"}}, 0, close, out));
  EXPECT_FALSE(FormatResponseHead(200, {{"", "b"}}, 0, close, out));
  EXPECT_FALSE(close);
}

TEST(FormatResponseHead, LargeContentLength) {
  bool close = false;
  const std::string head = Head(200, {}, 5000000000ull, close);
  EXPECT_NE(head.find("\r\nContent-Length: 5000000000\r\n\r\n"), std::string::npos) << head;
}

}  // namespace
}  // namespace tandem::http::detail
