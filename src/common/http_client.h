// A blocking HTTP/1.1 client (libcurl) for the CLI, tests and services that
// call each other. Connections are reused between calls on one Client.
// Thread-safety: one Client per thread (cheap to create).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "common/status.h"

namespace tandem::http {

struct ClientRequest {
  std::string method = "GET";
  std::string url;
  std::map<std::string, std::string> headers;
  std::string body;
  std::string body_file;        // if set, the body is streamed from this file
  // If set, the body is `body_size` bytes pulled through this (instead of
  // `body`/`body_file`): fill up to n bytes of buf and return how many (0
  // only past the end), or an error, which aborts the request (the server
  // never sees a complete body) and is what Do() returns.
  std::function<StatusOr<size_t>(char* buf, size_t n)> body_source;
  uint64_t body_size = 0;
  // libcurl's receive and send buffers in bytes (0 = its defaults, 16 KiB and 64 KiB; capped at
  // 10 MiB and 2 MiB): larger means fewer body_source calls and recv()s on large transfers, not
  // fewer on_body calls (libcurl 7.88 hands a body to on_body in pieces of at most 16 KiB).
  size_t buffer_size = 0;
  int64_t timeout_ms = 30'000;  // whole request; 0 = none
  int64_t connect_timeout_ms = 5'000;
  // https:// URLs: the CA certificates (PEM) the server's certificate must
  // chain to, instead of the system's ("" = the system's). A file holding the
  // server's own certificate works too (it is then trusted as is). The URL's
  // host must match the certificate; verification is never skipped.
  std::string ca_file;
  // If set, connect to this address (same port) instead of resolving the
  // URL's host, which remains the name the certificate must carry: a
  // replica's private port on 127.0.0.1 under its certificate's name.
  std::string connect_host;
  // If set, the body of a 2xx response is passed here as it arrives instead
  // of being collected in ClientResponse::body (the body of any other status,
  // an error document, is still collected there). Return false to stop reading:
  // Do() then returns OK with the status and headers received so far.
  std::function<bool(std::string_view)> on_body;
};

struct ClientResponse {
  int status = 0;
  std::map<std::string, std::string> headers;  // lowercase keys
  std::string body;
};

class Client {
 public:
  Client();
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Transport failures -> Unavailable ("cannot connect to <url>: ..." when
  // refused or unresolvable), DeadlineExceeded on timeout, InvalidArgument
  // for a malformed URL, NotFound if `body_file` or `ca_file` cannot be
  // opened; a server certificate that does not verify (unknown CA, expired,
  // another host name) or a failed TLS handshake (e.g. https:// to a plain
  // HTTP port) -> FailedPrecondition ("TLS: ..."), nothing sent; all name
  // the URL. Any HTTP status (404, 500...) is returned as a response.
  StatusOr<ClientResponse> Do(const ClientRequest& request);

  StatusOr<ClientResponse> Get(const std::string& url, int64_t timeout_ms = 30'000);
  StatusOr<ClientResponse> Post(const std::string& url, std::string body,
                                std::string content_type = "application/json");

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tandem::http
