// The HTTP request path (Beast's parser, then target decoding, routing,
// limits and error responses in http::Server): each input is sent as raw
// bytes on a fresh loopback connection to one server, the write side is shut
// down and the response read until the server closes. The server must answer
// or close every time, and keep serving.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "common/http_server.h"
#include "common/json.h"

namespace {

using tandem::http::Request;
using tandem::http::Response;

std::unique_ptr<tandem::http::Server> StartServer() {
  tandem::http::ServerOptions options;
  options.max_body_bytes = 4096;
  options.max_header_bytes = 2048;
  options.read_timeout_ms = 2000;
  options.worker_threads = 2;
  auto server = std::make_unique<tandem::http::Server>(options);
  auto echo = [](Request& req, Response& res) {
    tandem::Json j = {{"path", req.path},
                      {"params", req.path_params},
                      {"query", req.query},
                      {"body", req.body.size()}};
    res.Json(200, j.dump(-1, ' ', false, tandem::Json::error_handler_t::replace));
  };
  server->Route("GET", "/api/v1/jobs/{id}", echo);
  server->Route("POST", "/api/v1/jobs", echo);
  server->Route("PUT", "/api/v1/artifacts/{key...}", echo, int64_t{1} << 16);
  server->Route("POST", "/v2/models/{name}/infer", echo, tandem::http::RouteOptions{1024, true});
  auto streamed = [](Request&, Response& res) {
    auto left = std::make_shared<int>(2);
    res.stream = [left](std::string& chunk, const tandem::http::StreamContext&) {
      chunk = "tick\n";
      return --*left > 0;
    };
  };
  server->Route("GET", "/api/v1/events", streamed);
  if (!server->Start().ok()) __builtin_trap();
  return server;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::unique_ptr<tandem::http::Server> server = StartServer();
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) __builtin_trap();
  timeval tv{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(server->port()));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) __builtin_trap();
  size_t off = 0;
  while (off < size) {
    ssize_t n = ::send(fd, data + off, size - off, MSG_NOSIGNAL);
    if (n <= 0) break;  // the server closed early (e.g. after a 4xx)
    off += static_cast<size_t>(n);
  }
  ::shutdown(fd, SHUT_WR);
  char buf[4096];
  for (;;) {
    ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n == 0 || (n < 0 && errno == ECONNRESET)) break;
    if (n < 0) __builtin_trap();  // 10 s without an answer or a close: hung
  }
  ::close(fd);
  return 0;
}
