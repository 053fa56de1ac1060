// The HTTP request path (Beast's parser, then target decoding, routing,
// limits and error responses in http::Server): each input is sent as raw
// bytes on a fresh loopback connection to one server, the write side is shut
// down and the response read until the server closes. The server must keep
// answering (and ASan/UBSan must stay quiet).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>

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
  tandem::http::RouteOptions inline_route;  // fields set by name: the struct grows
  inline_route.max_body_bytes = 1024;
  inline_route.run_inline = true;
  server->Route("POST", "/v2/models/{name}/infer", echo, inline_route);
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

// Sends `data` on a fresh connection, shuts down the write side and reads
// until the server closes. False if nothing happened for 5 s.
bool Exchange(int port, const uint8_t* data, size_t size) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) __builtin_trap();
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return false;
  }
  size_t off = 0;
  while (off < size) {
    ssize_t n = ::send(fd, data + off, size - off, MSG_NOSIGNAL);
    if (n <= 0) break;  // the server closed early (e.g. after a 4xx)
    off += static_cast<size_t>(n);
  }
  ::shutdown(fd, SHUT_WR);
  char buf[4096];
  bool ok = true;
  for (;;) {
    ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n == 0 || (n < 0 && errno == ECONNRESET)) break;
    if (n < 0) {
      ok = false;
      break;
    }
  }
  ::close(fd);
  return ok;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::unique_ptr<tandem::http::Server> server = StartServer();
  if (Exchange(server->port(), data, size)) return 0;
  // Tens of thousands of loopback connections a minute can leave one stuck in
  // the kernel (TIME_WAIT reuse) with the server idle; what matters is that
  // the server still answers a well-formed request.
  static constexpr std::string_view kProbe = "GET /api/v1/jobs/probe HTTP/1.1\r\nHost: x\r\n\r\n";
  for (int attempt = 0; attempt < 3; ++attempt) {
    if (Exchange(server->port(), reinterpret_cast<const uint8_t*>(kProbe.data()), kProbe.size())) {
      return 0;
    }
  }
  std::fprintf(stderr, "the server stopped answering\n");
  __builtin_trap();
}
