// Internals of http::Server (http_server.cc only): the state the connections
// share (ServerCore) and one connection (Session). See http_server.cc for the
// layout. Boost.Beast is included here, so no public header may include this.
#pragma once

#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cstdlib>
#include <exception>
#include <future>
#include <limits>
#include <optional>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "common/http_body_sink.h"
#include "common/http_body_watch.h"
#include "common/http_response_head.h"
#include "common/http_router.h"
#include "common/http_server.h"
#include "common/http_status.h"
#include "common/http_stream.h"
#include "common/http_tls_reload.h"
#include "common/json.h"
#include "common/log.h"

namespace tandem::http::detail {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;

inline std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

inline std::string_view SV(beast::string_view s) { return {s.data(), s.size()}; }

inline std::string ErrorJson(StatusCode code, std::string_view message) {
  Json j = {{"error", {{"code", std::string(CodeName(code))}, {"message", std::string(message)}}}};
  return j.dump(-1, ' ', false, Json::error_handler_t::replace);
}

inline Response ErrorResponse(int http_status, StatusCode code, std::string_view message) {
  Response r;
  r.Json(http_status, ErrorJson(code, message));
  return r;
}

class Session;

// Everything the sessions share. The io_context and worker pool are declared
// after mu/sessions: destroying them destroys pending handlers and so
// sessions, which unregister under mu.
struct ServerCore {
  ServerOptions options;
  Router router;
  Status route_error;

  absl::Mutex mu;
  absl::CondVar cv;
  std::unordered_map<Session*, std::weak_ptr<Session>> sessions ABSL_GUARDED_BY(mu);
  // Open connections per client address (only with max_connections_per_client).
  std::unordered_map<std::string, int> per_client ABSL_GUARDED_BY(mu);
  // The acceptor's operations (an accept, or the back-off timer after a
  // failed one) whose handler has not run yet: an accepted socket may wait in
  // such a handler, not yet a session, when Stop() closes the acceptor.
  int accepts_pending ABSL_GUARDED_BY(mu) = 0;
  std::atomic<int> busy{0};  // sessions mid-request; Stop() waits under mu
  std::atomic<bool> stopping{false};
  bool started = false;
  bool stopped = false;
  int port = 0;

  // One io_context per I/O thread (concurrency hint 1): a connection stays on
  // the context it was accepted into, so its handlers never wake another
  // thread (one shared context made every request hop threads: a futex and a
  // context switch per request under load).
  std::vector<std::unique_ptr<asio::io_context>> ios;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> work;
  std::atomic<size_t> next_io{0};
  std::unique_ptr<ServerTls> tls;  // null: plain HTTP
  std::unique_ptr<tcp::acceptor> acceptor;
  // After io: destroyed first, while sockets of sessions it holds can still close.
  std::unique_ptr<asio::thread_pool> workers;
  std::vector<std::thread> io_threads;

  // Round robin over `ios`: where the next accepted connection lives.
  asio::io_context& NextIo() { return *ios[next_io.fetch_add(1) % ios.size()]; }
  void DoAccept();
  void StartSession(Socket socket);
  // On the acceptor's strand: accepts the connections already queued on the
  // listening socket (they would be reset by close(); with SO_REUSEPORT the
  // kernel does not hand them to the other sockets), then closes it. Those
  // queued when it starts only, so that a connection storm cannot hold it open.
  void CloseAcceptor();
  int64_t QueuedConnections();
  std::vector<std::shared_ptr<Session>> LiveSessions();
  // The session idle longest (ClientLimits::max_connections), claimed for
  // eviction; null if none is idle.
  std::shared_ptr<Session> ClaimIdlest() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  // Waits (under mu) until no session is left or `deadline` passes.
  void WaitForSessions(const Deadline& deadline) ABSL_LOCKS_EXCLUDED(mu);
  // Counts an acceptor operation in or out of accepts_pending.
  void AcceptPending(int delta) ABSL_LOCKS_EXCLUDED(mu);
  // After CloseAcceptor: waits until every accept handler has run (each
  // accepted connection is a session then) or `deadline` passes.
  void WaitForAccepts(const Deadline& deadline) ABSL_LOCKS_EXCLUDED(mu);
};

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(Socket socket, ServerCore* core)
      : tls_(core->tls ? core->tls->ForNewConnection() : nullptr),
        stream_(std::move(socket), tls_.get()),
        core_(core),
        cancelled_(std::make_shared<std::atomic<bool>>(false)) {
    beast::error_code ec;
    auto ep = stream_.socket().remote_endpoint(ec);
    if (!ec) remote_ = ep.address().to_string() + ":" + std::to_string(ep.port());
    stream_.socket().set_option(tcp::no_delay(true), ec);
    // Plain TCP writes a response at once when the socket takes it (WriteNow).
    if (!stream_.tls()) stream_.socket().non_blocking(true, ec);
  }

  ~Session() {
    absl::MutexLock lock(&core_->mu);
    core_->sessions.erase(this);
    if (auto it = core_->per_client.find(client_);
        it != core_->per_client.end() && --it->second == 0) {
      core_->per_client.erase(it);
    }
    if (busy_) core_->busy.fetch_sub(1);
    core_->cv.SignalAll();
  }

  // The session's strand.
  Executor executor() { return stream_.get_executor(); }
  // Runs on the strand.
  void Begin() {
    begun_ = true;
    stream_.tls() ? StartTls() : ReadRequest();
  }

  // Under core_->mu, when registered: counted in per_client under `client`.
  void SetClient(std::string client) { client_ = std::move(client); }
  // Thread-safe: the order in which idle connections give way to new ones
  // (ClientLimits::max_connections), lowest first: kept-alive connections
  // waiting for a request's first bytes, by their last request's start, then
  // those reading a request's header (or a TLS handshake), by its start. 0:
  // not idle (a request is being read, handled or answered).
  static constexpr int64_t kInHeader = int64_t{1} << 61;
  int64_t evict_rank() const { return evict_rank_.load(std::memory_order_relaxed); }
  // Thread-safe, once per idle spell: claims the session for Evict().
  bool ClaimForEviction() { return !evicting_.exchange(true); }
  bool evicting() const { return evicting_.load(); }
  // Thread-safe: closes the connection if it is still idle (a new connection
  // needs its place, ClientLimits::max_connections).
  void Evict() {
    asio::post(stream_.get_executor(), [self = shared_from_this()] {
      self->evicting_ = false;
      if (self->evict_rank() != 0) self->Close();
    });
  }

  // For BodyWatch: the body bytes received so far; the body fell behind.
  int64_t BodyBytes() const {
    if (!parser_) return 0;
    const int64_t sunk = req_.body_sink ? req_.body_sink->bytes() : 0;
    return sunk + static_cast<int64_t>(parser_->get().body().size());
  }
  void BodyLate(Status late) {
    body_late_ = std::move(late);
    beast::error_code ec;
    stream_.socket().cancel(ec);  // the pending read ends; ReadBody answers 408
  }

  // Thread-safe, for a stopping server: a stream ends now (final chunk); a request in
  // progress is answered with `Connection: close`; an idle connection is closed if
  // `close_idle`, else its next request is answered `Connection: close` (stopping).
  void Shutdown(bool close_idle) {
    asio::post(stream_.get_executor(), [self = shared_from_this(), close_idle] {
      if (self->closed_) return;
      self->close_after_ = true;
      if (close_idle) self->close_idle_ = true;
      if (self->streaming_) {
        self->ending_ = true;
        self->cancelled_->store(true);
      } else if (!self->busy_ && close_idle && self->begun_) {
        // Not before Begin(): a connection accepted while stopping (whose
        // Begin, posted from the I/O thread, can come after this, posted
        // from Stop()'s) has its request read and answered first.
        self->Close();
      }
    });
  }

  // Thread-safe: cancel streams and close regardless of state.
  void ForceClose() {
    cancelled_->store(true);
    asio::post(stream_.get_executor(), [self = shared_from_this()] { self->Close(); });
  }

 private:
  // Lock-free on the request path; Stop() is woken under mu once stopping.
  void SetBusy(bool busy) {
    if (busy == busy_) return;
    busy_ = busy;
    if (busy) {
      core_->busy.fetch_add(1);
    } else if (core_->busy.fetch_sub(1) == 1 && core_->stopping.load()) {
      absl::MutexLock lock(&core_->mu);
      core_->cv.SignalAll();
    }
  }

  void Close() {
    if (closed_) return;
    closed_ = true;
    // Closed but still registered until its handlers finish: never again a
    // candidate for eviction (a new connection claiming it would evict
    // nothing and push the count past max_connections).
    evict_rank_.store(0, std::memory_order_relaxed);
    body_watch_.Stop();
    cancelled_->store(true);
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    stream_.socket().close(ec);
    SetBusy(false);
  }

  // After an error response to a request whose body was not read: stop
  // sending, then drain what the client still sends (up to 1 s) before
  // closing, so that closing with unread data (a TCP RST) does not destroy
  // the response before the client reads it.
  void LingerClose() {
    if (closed_) return;
    SetBusy(false);
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    stream_.expires_after(std::chrono::milliseconds(1000));
    Drain();
  }
  void Drain() {
    stream_.async_read_some(asio::buffer(watch_buf_),
                            [self = shared_from_this()](beast::error_code ec, size_t) {
                              if (ec || self->closed_) return self->Close();
                              self->Drain();
                            });
  }

  // TLS: the first bytes must be a handshake record (else the client speaks
  // plain HTTP: a 400 says so, in plain HTTP); the handshake must finish
  // within the header timeout, so a client that stalls it is cut off.
  void StartTls() {
    stream_.expires_after(std::chrono::milliseconds(
        std::min(core_->options.header_timeout_ms, core_->options.read_timeout_ms)));
    stream_.transport().async_read_some(buffer_.prepare(4096), [self = shared_from_this()](
                                                                   beast::error_code ec, size_t n) {
      if (ec) return self->Close();
      self->buffer_.commit(n);
      auto first = static_cast<const unsigned char*>(self->buffer_.data().data());
      if (first[0] != kTlsHandshakeRecord) return self->RefusePlainHttp();
      self->stream_.async_handshake(self->buffer_.data(), [self](beast::error_code ec,
                                                                 size_t used) {
        if (ec) {
          LogDebug("tls handshake failed", {{"remote", self->remote_}, {"error", ec.message()}});
          return self->Close();
        }
        self->buffer_.consume(used);
        self->ReadRequest();
      });
    });
  }

  void RefusePlainHttp() {
    close_after_ = true;
    const std::string body =
        ErrorJson(StatusCode::kInvalidArgument,
                  "this port speaks HTTPS (TLS): use an https:// URL (and the server's CA file)");
    plain_refusal_ =
        "HTTP/1.1 400 Bad Request\r\nserver: tandem\r\nconnection: close\r\n"
        "content-type: application/json\r\ncontent-length: " +
        std::to_string(body.size()) + "\r\n\r\n" + body;
    asio::async_write(stream_.transport(), asio::buffer(plain_refusal_),
                      [self = shared_from_this()](beast::error_code ec, size_t) {
                        if (ec) return self->Close();
                        self->buffer_.clear();
                        self->LingerCloseRaw();
                      });
  }
  // LingerClose below the TLS layer (no handshake happened).
  void LingerCloseRaw() {
    if (closed_) return;
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    stream_.expires_after(std::chrono::milliseconds(1000));
    DrainRaw();
  }
  void DrainRaw() {
    stream_.transport().async_read_some(asio::buffer(watch_buf_),
                                        [self = shared_from_this()](beast::error_code ec, size_t) {
                                          if (ec || self->closed_) return self->Close();
                                          self->DrainRaw();
                                        });
  }

  // Keep-alive: wait (up to idle_timeout) for the next request's first bytes.
  void WaitForRequest() {
    if (closed_) return;
    SetBusy(false);
    // Here the response just written promised keep-alive, so on a stopping
    // server Stop() began after its head was sent, and the client may already
    // be sending its next request: like one on an idle connection, that is
    // answered (`Connection: close`) unless Stop() is closing idle
    // connections (drain_idle_ms 0 or over). Closing here instead met it with
    // a closed socket (seen as a flaky DrainAnswersNextRequestOf-
    // IdleKeepAliveConnection under ThreadSanitizer's slower scheduling).
    if (close_idle_) return Close();
    evict_rank_.store(request_start_us_, std::memory_order_relaxed);  // the last request's start
    if (buffer_.size() > 0) return ReadRequest();
    stream_.expires_after(std::chrono::milliseconds(core_->options.idle_timeout_ms));
    stream_.async_read_some(buffer_.prepare(4096),
                            [self = shared_from_this()](beast::error_code ec, size_t n) {
                              if (ec) return self->Close();  // idle timeout, EOF, reset, shutdown
                              self->buffer_.commit(n);
                              self->sync_depth_ = 0;
                              self->ReadRequest();
                            });
  }

  void ReadRequest() {
    if (closed_) return;
    SetBusy(true);
    req_.method.clear();  // a request that fails before its head is read has none
    route_ = nullptr;
    request_start_us_ = Clock::Real().MonotonicMicros();
    read_start_us_ = request_start_us_;
    evict_rank_.store(kInHeader + request_start_us_, std::memory_order_relaxed);
    head_request_ = false;
    parser_.emplace();
    // Checked per route after the header (not boost::none: Beast 1.74 compares
    // Content-Length against the optional, and none compares below any value).
    parser_->body_limit(std::numeric_limits<std::uint64_t>::max());
    parser_->header_limit(static_cast<std::uint32_t>(
        std::clamp<int64_t>(core_->options.max_header_bytes, 1, UINT32_MAX)));
    stream_.expires_after(std::chrono::milliseconds(
        std::min(core_->options.header_timeout_ms, core_->options.read_timeout_ms)));
    beast::error_code ec;
    // The header was already here: it ends now, at request_start_us_.
    if (ParseBuffered(/*header_only=*/true, ec)) return OnHeader(ec, /*now=*/request_start_us_);
    bhttp::async_read_header(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, size_t) { self->OnHeader(ec); });
  }

  // What Beast's reads do before reading, without a posted completion: feeds the
  // bytes already buffered to the parser. True when that ends the header
  // (`header_only`) or the message, or fails (`ec`); false when more bytes are
  // needed (the parser keeps its state; an asynchronous read goes on from it).
  bool ParseBuffered(bool header_only, beast::error_code& ec) {
    parser_->eager(!header_only);
    while (buffer_.size() > 0) {
      const size_t used = parser_->put(buffer_.data(), ec);
      buffer_.consume(used);
      if (ec == bhttp::error::need_more) {
        ec = {};
        return false;
      }
      if (ec || (header_only ? parser_->is_header_done() : parser_->is_done())) return true;
      if (used == 0) return false;
    }
    return false;
  }

  // req_ = Request(), keeping the strings' memory for the next request, and
  // the connection's state (Request::connection_state) for the connection's
  // next request.
  void ClearRequest() {
    req_.method.clear();
    req_.target.clear();
    req_.path.clear();
    req_.query.clear();
    req_.path_params.clear();
    req_.headers.clear();
    req_.body.clear();
    req_.remote_address.clear();
    req_.body_sink.reset();
    head_checked_ = false;
  }

  // Returns true if `ec` is a transport problem (close silently).
  static bool IsTransportError(const beast::error_code& ec) {
    return ec == bhttp::error::end_of_stream || ec == beast::error::timeout ||
           ec == asio::error::eof || ec == asio::error::operation_aborted ||
           ec == asio::error::connection_reset || ec == asio::error::broken_pipe ||
           ec.category() == asio::error::get_system_category();
  }

  void FailRead(const beast::error_code& ec) {
    body_watch_.Stop();
    req_.body_sink.reset();  // a partial body leaves nothing behind
    if (!body_late_.ok()) {
      close_after_ = linger_ = true;
      const Status late = std::exchange(body_late_, OkStatus());
      return WriteResponse(
          ErrorResponse(408, StatusCode::kDeadlineExceeded, std::string(late.message())));
    }
    if (ec == bhttp::error::body_limit) {
      close_after_ = linger_ = true;
      return WriteResponse(
          ErrorResponse(413, StatusCode::kResourceExhausted,
                        "request body exceeds " + std::to_string(limit_) + " bytes"));
    }
    if (ec == bhttp::error::header_limit) {
      close_after_ = linger_ = true;
      return WriteResponse(ErrorResponse(
          431, StatusCode::kResourceExhausted,
          "request header exceeds " + std::to_string(core_->options.max_header_bytes) + " bytes"));
    }
    // A partial request that stopped (timeout, EOF) is just closed.
    if (IsTransportError(ec) || ec == bhttp::error::partial_message) return Close();
    close_after_ = linger_ = true;
    WriteResponse(ErrorResponse(400, StatusCode::kInvalidArgument,
                                "malformed HTTP request: " + ec.message()));
  }

  // `now`: the monotonic time if the caller just read it, else 0.
  void OnHeader(beast::error_code ec, int64_t now = 0) {
    if (ec) return FailRead(ec);
    evict_rank_.store(0, std::memory_order_relaxed);
    request_start_us_ = now != 0 ? now : Clock::Real().MonotonicMicros();
    auto& msg = parser_->get();
    keep_alive_req_ = msg.keep_alive();

    ClearRequest();
    req_.method.assign(SV(msg.method_string()));
    req_.target.assign(SV(msg.target()));
    std::string_view target = req_.target;
    size_t q = target.find('?');
    std::string_view raw_path = target.substr(0, q);
    if (raw_path.empty() || raw_path.front() != '/') {
      close_after_ = linger_ = true;
      return WriteResponse(ErrorResponse(400, StatusCode::kInvalidArgument,
                                         "request target must start with '/': " + req_.target));
    }
    if (!PercentDecode(raw_path, req_.path) ||
        (q != std::string_view::npos && !ParseQuery(target.substr(q + 1), req_.query))) {
      close_after_ = linger_ = !parser_->is_done();
      return WriteResponse(ErrorResponse(400, StatusCode::kInvalidArgument,
                                         "bad percent-encoding in " + req_.target));
    }
    head_request_ = req_.method == "HEAD";
    match_ = core_->router.Find(req_.method, raw_path);
    if (head_request_ && match_.outcome != Router::Outcome::kFound) {
      Router::Match get = core_->router.Find("GET", raw_path);
      if (get.outcome == Router::Outcome::kFound) match_ = std::move(get);
    }
    route_ = match_.outcome == Router::Outcome::kFound ? &match_.route->pattern : nullptr;
    if (match_.outcome != Router::Outcome::kFound) {
      Response r;
      if (match_.outcome == Router::Outcome::kMethodNotAllowed) {
        r = ErrorResponse(405, StatusCode::kUnimplemented,
                          "method " + req_.method + " not allowed for " + std::string(raw_path));
        r.headers["allow"] = match_.allow;
      } else {
        r = ErrorResponse(404, StatusCode::kNotFound,
                          "no route for " + req_.method + " " + std::string(raw_path));
      }
      // The body (if any) was not read: close unless there is none.
      if (!parser_->is_done()) close_after_ = linger_ = true;
      return WriteResponse(std::move(r));
    }
    int64_t limit = match_.route->options.max_body_bytes >= 0 ? match_.route->options.max_body_bytes
                                                              : core_->options.max_body_bytes;
    limit_ = limit;
    auto length = parser_->content_length();
    if (length && *length > static_cast<uint64_t>(limit)) return FailRead(bhttp::error::body_limit);
    parser_->body_limit(static_cast<uint64_t>(limit));
    if (parser_->is_done()) return Dispatch();
    if (match_.route->options.head_check && !(length && buffer_.size() >= *length)) {
      return CheckHead();
    }
    StartBody();
  }

  // The body of the request whose head was read and admitted: into the
  // route's sink or memory, within the body watch's pace.
  void StartBody() {
    auto& msg = parser_->get();
    if (const auto& sink = match_.route->options.body_sink) {  // the head, without headers
      req_.path_params = match_.params;
      req_.body_sink = sink(req_);
    }
    // The body keeps its pace within what is left of read_timeout_ms, on the
    // watch's timer (a 408 when late) instead of the stream's (a silent close).
    stream_.expires_never();
    const int64_t timeout_ms =
        std::clamp<int64_t>(core_->options.read_timeout_ms, 0, INT64_MAX / 2000);
    body_watch_.Start(shared_from_this(), core_->options.limits,
                      read_start_us_ + timeout_ms * 1000);
    auto read_body = [self = shared_from_this()] {
      beast::error_code ec;
      if (!self->req_.body_sink && self->ParseBuffered(/*header_only=*/false, ec)) {
        return ec ? self->FailRead(ec) : self->Dispatch();
      }
      self->ReadBody();
    };
    if (beast::iequals(msg[bhttp::field::expect], "100-continue")) {
      static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      asio::async_write(stream_, asio::buffer(kContinue.data(), kContinue.size()),
                        [self = shared_from_this(), read_body](beast::error_code ec, size_t) {
                          if (ec) return self->Close();
                          read_body();
                        });
      return;
    }
    read_body();
  }

  // Reads the body read by read, until it is complete, fails or falls
  // behind (BodyLate: 408). With a sink, each read's bytes go to the sink and
  // leave memory; a refused one stops reading.
  void ReadBody() {
    bhttp::async_read_some(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, size_t) { self->OnBodyRead(ec); });
  }
  void OnBodyRead(const beast::error_code& ec) {
    if (req_.body_sink) {
      std::string& piece = parser_->get().body();
      Status s = req_.body_sink->Append(piece);
      piece.clear();
      if (!s.ok()) close_after_ = linger_ = true;
      if (!s.ok()) return Dispatch();
    }
    if (ec || !body_late_.ok()) return FailRead(ec);
    if (parser_->is_done()) return Dispatch();
    ReadBody();
  }

  // RouteOptions::head_check on a worker, then the body or the refusal
  // (http_session_head.h).
  void CheckHead();
  static bool RunHeadCheck(const RouteEntry& route, const Request& head, Response& refusal);

  // req_.headers from the parsed message (joining repeated fields).
  void CopyHeaders() {
    for (const auto& field : parser_->get()) {
      std::string name = Lower(SV(field.name_string()));
      auto [it, inserted] = req_.headers.try_emplace(std::move(name), SV(field.value()));
      if (!inserted) {
        it->second += ", ";
        it->second.append(field.value().data(), field.value().size());
      }
    }
  }

  void Dispatch() {
    body_watch_.Stop();
    auto& msg = parser_->get();
    // A checked head's headers are those the check saw (a chunked body's
    // trailer fields are not added to them afterwards).
    if (!head_checked_) CopyHeaders();
    req_.body = std::move(msg.body());
    req_.remote_address = remote_;
    req_.path_params = std::move(match_.params);
    parser_.reset();
    const RouteEntry* route = match_.route;
    if (route->options.run_inline ||
        (route->options.run_inline_if && route->options.run_inline_if())) {
      Response res;
      RunHandler(*route, req_, res);
      return WriteResponse(std::move(res));
    }
    asio::post(*core_->workers, [self = shared_from_this(), route] {
      auto res = std::make_shared<Response>();
      RunHandler(*route, self->req_, *res);
      asio::post(self->stream_.get_executor(),
                 [self, res] { self->WriteResponse(std::move(*res)); });
    });
  }

  // A streamed body's sink goes with its handler (its file, say, is not kept
  // while the connection waits for its next request).
  static void RunHandler(const RouteEntry& route, Request& req, Response& res) {
    std::string what;
    try {
      route.handler(req, res);
      req.body_sink.reset();
      return;
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
      what = "unknown exception";
    }
    req.body_sink.reset();
    LogError(
        "http handler threw",
        {{"route", route.method + " " + route.pattern}, {"target", req.target}, {"error", what}});
    res = ErrorResponse(500, StatusCode::kInternal,
                        "handler for " + route.method + " " + route.pattern + " failed: " + what);
  }

  void ApplyHeaders(const Headers& headers, bhttp::fields& out, bool& close) {
    for (const auto& [name, value] : headers) {
      if (beast::iequals(name, "content-length") || beast::iequals(name, "transfer-encoding")) {
        continue;
      }
      if (beast::iequals(name, "connection")) {
        if (beast::iequals(value, "close")) close = true;
        continue;
      }
      out.set(name, value);
    }
    out.set(bhttp::field::server, "tandem");
  }

  void Observe(int status) {
    if (!core_->options.observer) return;
    static const std::string kNone;
    RequestRecord rec;
    rec.method = req_.method;
    rec.route = route_ != nullptr ? *route_ : kNone;
    rec.status = status;
    rec.duration_us = Clock::Real().MonotonicMicros() - request_start_us_;
    core_->options.observer(rec);
    route_ = nullptr;
  }

  void WriteResponse(Response r) {
    req_.body.clear();
    if (closed_) return;
    Observe(r.status);
    bool close = close_after_ || !keep_alive_req_ || core_->stopping.load();
    if (r.stream) return StartStream(std::move(r));
    uint64_t length = r.body.size();
    if (auto cl = r.headers.find("content-length"); head_request_ && cl != r.headers.end()) {
      length = std::strtoull(cl->second.c_str(), nullptr, 10);  // the GET's length
    }
    const bool small_tls = stream_.tls() && (head_request_ || r.body.size() <= kTlsOneWriteMax);
    if ((!stream_.tls() || small_tls) &&
        FormatResponseHead(r.status, r.headers, length, close, head_)) {
      keep_alive_ = !close;
      if (stream_.tls()) {
        if (!head_request_) head_.append(r.body);
        return WriteTlsOnce();
      }
      if (head_request_) {
        body_.clear();
      } else {
        body_ = std::move(r.body);
      }
      return WriteNow();
    }
    res_.emplace(static_cast<bhttp::status>(r.status), 11);
    ApplyHeaders(r.headers, res_->base(), close);
    res_->keep_alive(!close);
    if (auto cl = r.headers.find("content-length"); head_request_) {  // the GET's length
      res_->content_length(cl != r.headers.end() ? std::strtoull(cl->second.c_str(), nullptr, 10)
                                                 : r.body.size());  // or the handler's
    } else {
      res_->body() = std::move(r.body);
      res_->prepare_payload();
    }
    keep_alive_ = !close;
    bhttp::async_write(stream_, *res_, [self = shared_from_this()](beast::error_code ec, size_t) {
      self->res_.reset();
      if (ec) return self->Close();
      self->AfterWrite();
    });
  }

  void AfterWrite() {
    std::string().swap(body_);  // an idle connection holds no response body
    // Closing with unread input would reset the connection (and may
    // destroy the response before the client reads it): drain first.
    if (!keep_alive_) return linger_ || core_->stopping.load() ? LingerClose() : Close();
    WaitForRequest();
  }

  // TLS: head and body in one buffer (head_), so one SSL_write and, up to
  // 16 KiB, one TLS record; Beast's serializer wrote the same bytes through
  // its field list (~10% of a small request's CPU: http_response_head.h).
  static constexpr size_t kTlsOneWriteMax = 64 << 10;
  void WriteTlsOnce() {
    asio::async_write(stream_, asio::buffer(head_),
                      [self = shared_from_this()](beast::error_code ec, size_t) {
                        // An idle connection keeps no large response.
                        if (self->head_.capacity() > 16 << 10) std::string().swap(self->head_);
                        if (ec) return self->Close();
                        self->AfterWrite();
                      });
  }

  // Writes head_ and body_ (plain TCP only: under TLS Beast's flat_stream
  // writes nothing for a gather whose first buffer is empty, which
  // asio::async_write makes of a head written in full): first one
  // non-blocking gather write (most responses fit the socket buffer: no
  // completion to post, no timer), what is left the asynchronous way.
  void WriteNow() {
    auto done = [self = shared_from_this()](beast::error_code ec, size_t) {
      if (ec) return self->Close();
      self->sync_depth_ = 0;
      self->AfterWrite();
    };
    const std::array<asio::const_buffer, 2> bufs{asio::buffer(head_), asio::buffer(body_)};
    beast::error_code ec;
    size_t n = stream_.socket().write_some(bufs, ec);
    if (ec && ec != asio::error::would_block && ec != asio::error::try_again) return Close();
    if (ec) n = 0;
    if (n == head_.size() + body_.size()) {
      // Pipelined requests already buffered are answered here too: bound the
      // recursion, then go on from a posted handler.
      if (++sync_depth_ < 16) return AfterWrite();
      sync_depth_ = 0;
      return asio::post(stream_.get_executor(), [self = shared_from_this()] {
        if (!self->closed_) self->AfterWrite();
      });
    }
    if (n >= head_.size()) {
      return asio::async_write(stream_, asio::buffer(body_) + (n - head_.size()), std::move(done));
    }
    const std::array<asio::const_buffer, 2> rest{asio::buffer(head_) + n, asio::buffer(body_)};
    asio::async_write(stream_, rest, std::move(done));
  }

  // Streamed responses (chunked; http_session_chunked.h).
  void StartStream(Response r);
  void WatchDisconnect();
  void PullChunk();
  void WriteChunk(std::string chunk, bool more);
  void WriteLastChunk();

  std::shared_ptr<ssl::context> tls_;  // before stream_, which uses it
  HttpStream stream_;
  beast::flat_buffer buffer_;
  std::string plain_refusal_;  // the 400 to a plain HTTP client of a TLS port
  ServerCore* core_;
  std::string remote_;
  std::string client_;  // key in core_->per_client ("" = not counted)
  std::shared_ptr<std::atomic<bool>> cancelled_;
  std::atomic<int64_t> evict_rank_{kInHeader + Clock::Real().MonotonicMicros()};
  std::atomic<bool> evicting_{false};
  BodyWatch body_watch_;
  Status body_late_;  // not OK: the body fell behind; the pending read answers 408

  // Strand-only state (the worker touches req_ only while it owns the request).
  bool busy_ = false;
  bool begun_ = false;  // Begin() ran
  bool closed_ = false;
  bool close_after_ = false;
  bool close_idle_ = false;  // Stop() closes idle connections now (Shutdown(true))
  bool keep_alive_req_ = true;
  bool keep_alive_ = true;
  bool head_request_ = false;
  bool linger_ = false;     // input left unread: drain before closing
  bool head_checked_ = false;  // req_.headers were copied for RouteOptions::head_check
  bool streaming_ = false;  // the response is a stream (StartStream)
  bool ending_ = false;     // the server is stopping: finish the stream now
  int64_t limit_ = 0;
  int64_t request_start_us_ = 0;        // monotonic
  int64_t read_start_us_ = 0;           // monotonic: when the request began to be read
  const std::string* route_ = nullptr;  // the matched pattern (owned by the router)
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  Request req_;
  Router::Match match_;
  std::optional<bhttp::response<bhttp::string_body>> res_;
  std::string head_;    // WriteNow's status line and headers (capacity reused)
  std::string body_;    // and body
  int sync_depth_ = 0;  // responses written in a row without a posted handler

  BodyStream body_stream_;
  std::optional<bhttp::response<bhttp::empty_body>> stream_res_;
  std::optional<bhttp::response_serializer<bhttp::empty_body>> stream_sr_;
  std::string chunk_;
  std::array<char, 512> watch_buf_{};
};

}  // namespace tandem::http::detail

#include "common/http_session_chunked.h"  // IWYU pragma: keep (Session's streamed responses)
#include "common/http_session_head.h"     // IWYU pragma: keep (Session::CheckHead)
