#include "loadgen.h"

#include <gtest/gtest.h>

namespace tandem::loadgen {
namespace {

TEST(ParseResponseTest, ContentLength) {
  std::string r = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: x\r\n\r\nhelloNEXT";
  ParsedResponse p;
  EXPECT_EQ(ParseResponse(r, &p), static_cast<int64_t>(r.size() - 4));
  EXPECT_EQ(p.status, 200);
  EXPECT_EQ(p.body, "hello");
  EXPECT_FALSE(p.close);
}

TEST(ParseResponseTest, NeedsMoreBytes) {
  std::string r = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel";
  ParsedResponse p;
  EXPECT_EQ(ParseResponse(r, &p), 0);
  EXPECT_EQ(ParseResponse("HTTP/1.1 200 OK\r\nContent-Le", &p), 0);
  EXPECT_EQ(ParseResponse("", &p), 0);
}

TEST(ParseResponseTest, ChunkedWithTrailerlessEnd) {
  std::string r =
      "HTTP/1.1 503 Unavailable\r\ntransfer-encoding: chunked\r\n\r\n"
      "3\r\nabc\r\nA\r\n0123456789\r\n0\r\n\r\n";
  ParsedResponse p;
  EXPECT_EQ(ParseResponse(r, &p), static_cast<int64_t>(r.size()));
  EXPECT_EQ(p.status, 503);
  EXPECT_EQ(p.body, "abc0123456789");
  EXPECT_EQ(ParseResponse(r.substr(0, r.size() - 2), &p), 0);
}

TEST(ParseResponseTest, ConnectionCloseAndHttp10) {
  ParsedResponse p;
  EXPECT_GT(
      ParseResponse("HTTP/1.1 429 Too Many\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", &p),
      0);
  EXPECT_EQ(p.status, 429);
  EXPECT_TRUE(p.close);
  EXPECT_GT(ParseResponse("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", &p), 0);
  EXPECT_TRUE(p.close);
  EXPECT_GT(ParseResponse("HTTP/1.1 204 No Content\r\n\r\n", &p), 0);
  EXPECT_EQ(p.status, 204);
}

TEST(ParseResponseTest, RejectsGarbage) {
  ParsedResponse p;
  EXPECT_EQ(ParseResponse("GARBAGE!\r\n\r\n", &p), -1);
  EXPECT_EQ(ParseResponse("HTTP/1.1 2x0 OK\r\n\r\n", &p), -1);
  EXPECT_EQ(ParseResponse("HTTP/1.1 200 OK\r\nContent-Length: -3\r\n\r\n", &p), -1);
  EXPECT_EQ(ParseResponse("HTTP/1.1 200 OK\r\nno colon here\r\n\r\n", &p), -1);
  EXPECT_EQ(ParseResponse("HTTP/1.1 200 OK\r\n\r\nbody-without-length", &p), -1);
  EXPECT_EQ(ParseResponse("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n", &p), -1);
}

TEST(PercentileTest, NearestRank) {
  std::vector<int64_t> v;
  for (int i = 1; i <= 100; ++i) v.push_back(i);
  EXPECT_EQ(Percentile(v, 50), 50);
  EXPECT_EQ(Percentile(v, 90), 90);
  EXPECT_EQ(Percentile(v, 99), 99);
  EXPECT_EQ(Percentile(v, 99.9), 100);
  EXPECT_EQ(Percentile(v, 100), 100);
  EXPECT_EQ(Percentile(v, 0), 1);
  EXPECT_EQ(Percentile({}, 50), 0);
  EXPECT_EQ(Percentile({7}, 99.9), 7);
  std::vector<int64_t> w = {10, 20, 30, 40};
  EXPECT_EQ(Percentile(w, 50), 20);
  EXPECT_EQ(Percentile(w, 51), 30);
}

TEST(SplitUrlTest, HostPortPath) {
  std::string host, path;
  int port = 0;
  ASSERT_TRUE(SplitUrl("http://127.0.0.1:8080/v2/models/m/infer", &host, &port, &path));
  EXPECT_EQ(host, "127.0.0.1");
  EXPECT_EQ(port, 8080);
  EXPECT_EQ(path, "/v2/models/m/infer");
  ASSERT_TRUE(SplitUrl("http://localhost", &host, &port, &path));
  EXPECT_EQ(port, 80);
  EXPECT_EQ(path, "/");
  EXPECT_FALSE(SplitUrl("https://x/", &host, &port, &path));
  bool tls = false;
  ASSERT_TRUE(SplitUrlWithScheme("https://127.0.0.1:8443/infer", &tls, &host, &port, &path));
  EXPECT_TRUE(tls);
  EXPECT_EQ(host, "127.0.0.1");
  EXPECT_EQ(port, 8443);
  EXPECT_EQ(path, "/infer");
  ASSERT_TRUE(SplitUrlWithScheme("https://h/x", &tls, &host, &port, &path));
  EXPECT_EQ(port, 443);
  ASSERT_TRUE(SplitUrlWithScheme("http://h:81/x", &tls, &host, &port, &path));
  EXPECT_FALSE(tls);
  EXPECT_EQ(port, 81);
  EXPECT_FALSE(SplitUrlWithScheme("https://h:0/x", &tls, &host, &port, &path));
  EXPECT_FALSE(SplitUrl("http://x:99999/", &host, &port, &path));
  EXPECT_FALSE(SplitUrl("http://:80/", &host, &port, &path));
}

}  // namespace
}  // namespace tandem::loadgen
