// An HTTP/1.1 server shared by the control plane and the model server:
// routing with `{param}` path segments, keep-alive, limits on body size
// (413), header size (431) and open connections (503), read/idle timeouts,
// streamed (chunked) responses, graceful shutdown, and HTTPS (TlsFiles).
// Boost.Beast and OpenSSL stay inside http_server.cc and its internal headers.
//
// Thread-safety: routes are registered before Start(); handlers run on a
// worker pool and may block (long polls) without stalling other connections.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/http_limits.h"
#include "common/status.h"

namespace tandem::http {

class BodySink;  // common/http_body_sink.h

// Case-insensitive header map (keys stored lowercase).
using Headers = std::map<std::string, std::string>;

// What handlers keep for one connection across its requests (e.g. a credential
// they accepted on it: serving/server/endpoint_auth.h), through
// Request::connection_state. A connection's requests are handled one at a
// time, so it needs no lock; it is destroyed with the connection.
class ConnectionState {
 public:
  virtual ~ConnectionState() = default;
};

struct Request {
  std::string method;                              // "GET", "POST", ...
  std::string target;                              // raw target: "/a/b?x=1"
  std::string path;                                // percent-decoded path: "/a/b"
  std::map<std::string, std::string> query;        // decoded query parameters
  std::map<std::string, std::string> path_params;  // from `{name}` route segments
  Headers headers;                                 // lowercase keys
  std::string body;
  std::string remote_address;
  // Routes with RouteOptions::body_sink: where the body went (body is empty).
  std::shared_ptr<BodySink> body_sink;
  // Kept by the server from one request to the next on the same connection
  // (unlike every other field); null until a handler sets it. The routes of
  // one server agree on what they keep there.
  std::unique_ptr<ConnectionState> connection_state;

  std::string Header(std::string_view name) const;  // "" if absent
  std::string Query(std::string_view name, std::string_view fallback = "") const;
};

// Pulls the next piece of a streamed body into `chunk`. Returns false when
// the stream is finished (a non-empty chunk returned with false is still sent).
// An empty chunk with true means "nothing yet": the server calls again at
// once, so a callback with nothing to send must itself wait a little (e.g.
// long-poll its source for up to a second) instead of returning immediately,
// and should check `ctx.cancelled()` while it waits.
// Called repeatedly on a worker thread until it returns false or the client
// disconnects; `cancelled()` turns true once the client has gone away (or
// the server is stopping).
struct StreamContext {
  std::function<bool()> cancelled;
};
using BodyStream = std::function<bool(std::string& chunk, const StreamContext& ctx)>;

struct Response {
  int status = 200;
  Headers headers;  // e.g. {"content-type", "application/json"}
  std::string body;
  BodyStream stream;  // if set, the body is sent chunked from it and `body` is ignored

  void Json(int code, std::string json_text);  // sets status, body, content-type
  void Text(int code, std::string text);
};

// The Request is valid only during the call (streams must copy what they
// need). A handler that throws yields a 500 JSON error. Streamed responses
// (Response::stream) always close the connection when they end.
using Handler = std::function<void(Request&, Response&)>;

// Per-route settings (additive; defaults follow ServerOptions).
struct RouteOptions {
  int64_t max_body_bytes = -1;  // < 0: ServerOptions::max_body_bytes
  // Run the handler directly on the I/O thread instead of the worker pool.
  // Only for handlers that never block (fast path: no thread hop).
  bool run_inline = false;
  // If set, asked per request: true runs that request inline (e.g. only
  // while no handler on the route can block). Must be cheap and thread-safe.
  std::function<bool()> run_inline_if;
  // If set, asked once a request's head is read (method, target, path,
  // query, path_params; no headers or body): a sink streams the body into it
  // instead of into memory (http_body_sink.h); nullptr reads it as usual.
  // Runs on the I/O thread: must be quick.
  std::function<std::shared_ptr<BodySink>(const Request& head)> body_sink;
  // If set, asked once a request's head is read and before its body is
  // (method, target, path, query, path_params, headers, remote_address; no
  // body), on the worker pool (it may block: a token lookup, say). False
  // refuses the request with `refusal` as its answer: the body is neither
  // read nor given to a sink, and the connection closes after the answer.
  // True goes on as usual (the handler still runs with the whole request).
  // Not asked for a request without a body, nor for one whose body arrived
  // with its head (nothing left to spare): the handler decides those. The
  // control plane refuses unauthenticated uploads here (api_routes.h).
  std::function<bool(const Request& head, Response& refusal)> head_check;
};

// One answered request, for metrics: the route pattern that matched ("" if
// none: a 404/405 or a malformed request), the method, the status sent and
// the time from the request's head being read to its response being handed
// to the socket (for a stream: to its head).
struct RequestRecord {
  std::string_view method;
  std::string_view route;
  int status = 0;
  int64_t duration_us = 0;
};
// Called on an I/O thread once per response; must be cheap and thread-safe.
using RequestObserver = std::function<void(const RequestRecord&)>;

// A certificate (PEM, optionally followed by its chain) and its private key
// (PEM): the server then speaks HTTPS only (TLS 1.2+). A client sending plain
// HTTP to it gets a 400 saying so; the handshake must finish within
// header_timeout_ms.
struct TlsFiles {
  std::string cert_file;
  std::string key_file;
  bool enabled() const { return !cert_file.empty() || !key_file.empty(); }
};

// The errors Server::Start() would give for `tls` (InvalidArgument naming the
// file), for a command to refuse bad files before it starts anything.
Status CheckTlsFiles(const TlsFiles& tls);

// A host name `cert_file` (PEM) is valid for, to reach a server using it on
// 127.0.0.1 (ClientRequest::connect_host): "127.0.0.1" if among its IP
// addresses, else its first DNS name, else its common name.
StatusOr<std::string> CertificateHostName(const std::string& cert_file);

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 0;  // 0 = pick a free port
  int io_threads = 1;
  int worker_threads = 8;
  int64_t max_body_bytes = 64 << 20;    // larger bodies -> 413
  int64_t max_header_bytes = 16 << 10;  // request line + header fields; larger -> 431
  ClientLimits limits;                  // body rate, connection caps
  int64_t read_timeout_ms = 30'000;     // whole request must arrive within this
  // The request line and headers must arrive within this (capped by
  // read_timeout_ms), so a client dripping header bytes (slowloris) is cut
  // off early even where large uploads get a long read_timeout_ms.
  int64_t header_timeout_ms = 10'000;
  int64_t idle_timeout_ms = 60'000;  // keep-alive connections idle longer are closed
  bool reuse_port = false;           // SO_REUSEPORT (serving replicas)
  // An already listening socket to accept on instead of binding host:port
  // (the server works on its own duplicate; the caller keeps `listen_fd`).
  // Several servers, in several processes, may share one such socket: they
  // accept from its one queue, and a stopping server just stops accepting,
  // leaving what is queued to the others. Closing one socket of a
  // SO_REUSEPORT group instead resets the connections the kernel had
  // already queued on it, which a client sees as a failed request.
  int listen_fd = -1;
  // On Stop(): how long an idle keep-alive connection may still send one more
  // request (answered, marked `Connection: close`) before it is closed.
  // 0 closes idle connections at once, so a request a client sends at that
  // moment fails; a draining replica under load wants a few seconds.
  // Capped by Stop()'s grace period.
  int64_t drain_idle_ms = 0;
  RequestObserver observer = nullptr;  // optional
  TlsFiles tls;                        // set: HTTPS (Start() fails on a bad file)
};

class Server {
 public:
  explicit Server(ServerOptions options);
  ~Server();  // Stops if still running.
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Registers `handler` for `method` and a pattern such as
  // "/api/v1/models/{name}/versions/{version}". A trailing "{name...}" segment
  // matches the rest of the path (e.g. object keys with slashes).
  // Unknown paths -> 404, known path with another method -> 405.
  void Route(std::string method, std::string pattern, Handler handler);
  // Per-route body limit overriding ServerOptions::max_body_bytes.
  void Route(std::string method, std::string pattern, Handler handler, int64_t max_body_bytes);
  void Route(std::string method, std::string pattern, Handler handler, RouteOptions options);

  // Binds and starts serving; returns the bound port. A malformed or
  // duplicate route pattern, or a TLS file that cannot be used ->
  // InvalidArgument (nothing bound); bind failure -> Unavailable.
  StatusOr<int> Start();
  // Drains and stops: closes the listening socket (connections the kernel
  // already queued on it are accepted and served first), ends streamed
  // responses at once (streams see cancelled(), the client gets the final
  // chunk), answers in-flight and already-read requests with
  // `Connection: close`, gives idle keep-alive connections drain_idle_ms to
  // send one last request, and closes each connection after its last
  // response. After `grace_ms` whatever remains is closed. Handlers still
  // running then are waited for (a long poll must return); then all threads
  // are joined. Idempotent.
  void Stop(int64_t grace_ms = 5000);
  // Reloads the TLS certificate and key from their files now, changed or not
  // (a command's SIGHUP): new connections get the new pair, open ones keep
  // theirs. A bad new pair keeps the current one and is returned (and
  // logged). Not started, or plain HTTP -> FailedPrecondition.
  Status ReloadTls();
  int port() const;
  // The patterns registered, as "METHOD /pattern" (for the OpenAPI check).
  std::vector<std::string> Routes() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tandem::http
