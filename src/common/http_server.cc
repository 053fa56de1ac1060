// http::Server on Boost.Beast/Asio. Layout:
//   - I/O: `io_threads` io_contexts, each run by one thread; each connection
//     (Session) lives on one of them (round robin at accept), so its state
//     needs no locks and its requests never hop threads.
//   - Handlers: posted to an asio::thread_pool of `worker_threads` threads
//     (or run inline on the strand for RouteOptions::run_inline), then the
//     response is posted back to the session's strand to be written.
//   - Shutdown: ServerCore tracks sessions and how many are busy (between
//     the first byte of a request and the end of its response). Stop() closes
//     the listener (after accepting what the kernel already queued on it, unless
//     the socket is shared through ServerOptions::listen_fd), ends streams, lets
//     each connection finish its request with `Connection: close` (idle ones get
//     drain_idle_ms to send one), and waits for the sessions to go up to the
#include "common/http_server.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/http_session.h"

namespace tandem::http {
namespace detail {

void ServerCore::DoAccept() {
  AcceptPending(+1);
  acceptor->async_accept(NextIo(), [this](beast::error_code ec, Socket socket) {
    struct Done {
      ServerCore* core;
      ~Done() { core->AcceptPending(-1); }  // after the session and the next accept
    } done{this};
    if (ec == asio::error::operation_aborted) return;
    // A connection accepted while stopping is still served (its response
    // says `Connection: close`): the client already has it.
    if (!ec) StartSession(std::move(socket));
    if (!acceptor->is_open()) return;
    if (!ec) return DoAccept();
    LogWarn("http accept failed", {{"error", ec.message()}});
    // Out of file descriptors (or similar): retrying at once would spin.
    auto timer = std::make_shared<asio::steady_timer>(acceptor->get_executor(),
                                                      std::chrono::milliseconds(50));
    AcceptPending(+1);
    timer->async_wait([this, timer](beast::error_code) {
      if (acceptor->is_open()) DoAccept();
      AcceptPending(-1);
    });
  });
}

void ServerCore::AcceptPending(int delta) {
  absl::MutexLock lock(&mu);
  accepts_pending += delta;
  if (accepts_pending == 0 && stopping.load()) cv.SignalAll();
}

void ServerCore::WaitForAccepts(const Deadline& deadline) {
  absl::MutexLock lock(&mu);
  while (accepts_pending > 0 && !deadline.Expired()) {
    cv.WaitWithTimeout(&mu, absl::Milliseconds(deadline.SliceMillis(100)));
  }
}

// Answers a connection there is no room for with a 503 (plain HTTP: a tiny
// write to a fresh socket does not block; a TLS client could not read it)
// and closes it.
static void Refuse(Socket& socket, bool tls, const std::string& why) {
  const std::string body = ErrorJson(StatusCode::kUnavailable, why);
  const std::string busy =
      "HTTP/1.1 503 Service Unavailable\r\nserver: tandem\r\nconnection: close\r\n"
      "content-type: application/json\r\ncontent-length: " +
      std::to_string(body.size()) + "\r\n\r\n" + body;
  beast::error_code ec;
  if (!tls) asio::write(socket, asio::buffer(busy), ec);
  socket.shutdown(tcp::socket::shutdown_send, ec);
  socket.close(ec);
}

void ServerCore::StartSession(Socket socket) {
  const ClientLimits& limits = options.limits;
  std::string client;  // counted per address only when that cap is on
  if (limits.max_connections_per_client > 0) {
    beast::error_code ec;
    auto peer = socket.remote_endpoint(ec);
    if (!ec) client = peer.address().to_string();
  }
  std::string refusal;
  std::shared_ptr<Session> evicted;
  {
    absl::MutexLock lock(&mu);
    auto counted = client.empty() ? per_client.end() : per_client.find(client);
    if (counted != per_client.end() && counted->second >= limits.max_connections_per_client) {
      refusal = "too many open connections from " + client + " (max_connections_per_client " +
                std::to_string(limits.max_connections_per_client) + "); retry later";
    } else if (sessions.size() >= static_cast<size_t>(std::max(limits.max_connections, 1))) {
      evicted = ClaimIdlest();
      if (!evicted) refusal = "too many open connections; retry later";
    }
  }
  if (!refusal.empty()) return Refuse(socket, tls != nullptr, refusal);
  // The idle connection goes (closed on its strand) and this one takes its place.
  if (evicted) evicted->Evict();
  auto session = std::make_shared<Session>(std::move(socket), this);
  {
    absl::MutexLock lock(&mu);
    sessions.emplace(session.get(), session);
    if (!client.empty()) {
      ++per_client[client];
      session->SetClient(std::move(client));
    }
  }
  auto executor = session->executor();
  asio::post(executor, [session = std::move(session)] { session->Begin(); });
}

std::shared_ptr<Session> ServerCore::ClaimIdlest() {
  // Linear, but only at the cap; the claim keeps two new connections from
  // evicting the same one.
  for (;;) {
    Session* idlest = nullptr;
    int64_t lowest = std::numeric_limits<int64_t>::max();
    for (const auto& [ptr, weak] : sessions) {
      const int64_t rank = ptr->evict_rank();
      if (rank != 0 && rank < lowest && !ptr->evicting()) {
        idlest = ptr;
        lowest = rank;
      }
    }
    if (idlest == nullptr) return nullptr;
    auto session = sessions[idlest].lock();
    if (session && session->ClaimForEviction()) return session;
    if (!session) sessions.erase(idlest);  // being destroyed: its destructor waits for mu
  }
}

void ServerCore::CloseAcceptor() {
  beast::error_code ec;
  // A shared socket stays open in the other servers: what is queued is theirs.
  if (options.listen_fd >= 0) ec = asio::error::operation_aborted;
  if (!ec) acceptor->non_blocking(true, ec);
  // Only what is queued now: clients connecting faster than this loop
  // accepts would otherwise keep it, and Stop(), going for ever.
  for (int64_t queued = ec ? 0 : QueuedConnections(); queued > 0 && !ec; --queued) {
    Socket socket(NextIo());
    acceptor->accept(socket, ec);
    if (!ec) StartSession(std::move(socket));
  }
  acceptor->close(ec);
}

// How many connections the kernel has completed on the listener and not yet
// handed over (Linux reports it as a listening socket's tcpi_unacked); the
// listen backlog, the most there can be, where that cannot be read.
int64_t ServerCore::QueuedConnections() {
  tcp_info info{};
  socklen_t len = sizeof(info);
  if (::getsockopt(acceptor->native_handle(), IPPROTO_TCP, TCP_INFO, &info, &len) == 0 &&
      info.tcpi_state == TCP_LISTEN)
    return info.tcpi_unacked;
  return asio::socket_base::max_listen_connections;
}

void ServerCore::WaitForSessions(const Deadline& deadline) {
  absl::MutexLock lock(&mu);
  while (!sessions.empty() && !deadline.Expired()) {
    cv.WaitWithTimeout(&mu, absl::Milliseconds(deadline.SliceMillis(100)));
  }
}

std::vector<std::shared_ptr<Session>> ServerCore::LiveSessions() {
  std::vector<std::shared_ptr<Session>> out;
  absl::MutexLock lock(&mu);
  for (auto& [ptr, weak] : sessions) {
    if (auto s = weak.lock()) out.push_back(std::move(s));
  }
  return out;
}

}  // namespace detail

using namespace detail;

struct Server::Impl : ServerCore {};

Server::Server(ServerOptions options) : impl_(std::make_unique<Impl>()) {
  impl_->options = std::move(options);
}

Server::~Server() { Stop(0); }

void Server::Route(std::string method, std::string pattern, Handler handler) {
  Route(std::move(method), std::move(pattern), std::move(handler), RouteOptions{});
}

void Server::Route(std::string method, std::string pattern, Handler handler,
                   int64_t max_body_bytes) {
  RouteOptions options;
  options.max_body_bytes = max_body_bytes;
  Route(std::move(method), std::move(pattern), std::move(handler), options);
}

void Server::Route(std::string method, std::string pattern, Handler handler, RouteOptions options) {
  if (impl_->started) {
    if (impl_->route_error.ok()) {
      impl_->route_error =
          FailedPreconditionError("route " + method + " " + pattern + " registered after Start()");
    }
    LogError("http route registered after Start()", {{"route", method + " " + pattern}});
    return;
  }
  Status s = impl_->router.Add(method, pattern, std::move(handler), options);
  if (!s.ok() && impl_->route_error.ok()) impl_->route_error = s;
}

StatusOr<int> Server::Start() {
  ServerCore& c = *impl_;
  if (!c.route_error.ok()) return c.route_error;
  if (c.started) return FailedPreconditionError("http server already started");
  const ServerOptions& o = c.options;
  std::string where = o.host + ":" + std::to_string(o.port);
  if (o.io_threads < 1 || o.worker_threads < 1) {
    return InvalidArgumentError("http server " + where +
                                ": io_threads and worker_threads must be >= 1");
  }
  if (o.tls.enabled()) {
    auto tls = ServerTls::Load(o.tls);
    if (!tls.ok()) return Annotate(tls.status(), "http server " + where);
    c.tls = std::move(*tls);
  }
  for (int i = 0; i < o.io_threads; ++i) c.ios.push_back(std::make_unique<asio::io_context>(1));

  beast::error_code ec;
  tcp::endpoint endpoint;
  auto address = asio::ip::make_address(o.host, ec);
  if (!ec) {
    endpoint = tcp::endpoint(address, static_cast<uint16_t>(o.port));
  } else {
    tcp::resolver resolver(*c.ios[0]);
    auto results = resolver.resolve(o.host, std::to_string(o.port), ec);
    if (ec || results.empty()) {
      c.ios.clear();
      return UnavailableError("cannot resolve listen address " + where + ": " + ec.message());
    }
    endpoint = results.begin()->endpoint();
  }

  c.acceptor = std::make_unique<tcp::acceptor>(asio::make_strand(*c.ios[0]));
  auto fail = [&](std::string_view what) -> Status {
    Status s = UnavailableError("cannot " + std::string(what) + " " + where + ": " + ec.message());
    c.acceptor.reset();
    c.ios.clear();
    return s;
  };
  if (o.listen_fd >= 0) {
    where = "listening socket " + std::to_string(o.listen_fd);
    int fd = ::fcntl(o.listen_fd, F_DUPFD_CLOEXEC, 3);
    if (fd < 0) {
      ec.assign(errno, boost::system::system_category());
      return fail("use");
    }
    int listening = 0;
    socklen_t len = sizeof(listening);
    if (::getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) != 0 || !listening) {
      ::close(fd);
      ec = asio::error::invalid_argument;
      return fail("accept on (not a listening TCP socket)");
    }
    sockaddr_storage addr{};
    len = sizeof(addr);
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    c.acceptor->assign(addr.ss_family == AF_INET6 ? tcp::v6() : tcp::v4(), fd, ec);
    if (ec) {
      ::close(fd);
      return fail("use");
    }
  } else {
    c.acceptor->open(endpoint.protocol(), ec);
    if (ec) return fail("open socket for");
    c.acceptor->set_option(asio::socket_base::reuse_address(true), ec);
    if (o.reuse_port) {
      using reuse_port = asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>;
      c.acceptor->set_option(reuse_port(true), ec);
      if (ec) return fail("set SO_REUSEPORT on");
    }
    c.acceptor->bind(endpoint, ec);
    if (ec) return fail("bind");
    c.acceptor->listen(asio::socket_base::max_listen_connections, ec);
    if (ec) return fail("listen on");
  }
  c.port = c.acceptor->local_endpoint(ec).port();

  c.started = true;
  c.workers = std::make_unique<asio::thread_pool>(o.worker_threads);
  for (auto& io : c.ios) c.work.push_back(asio::make_work_guard(*io));
  asio::post(c.acceptor->get_executor(), [&c] { c.DoAccept(); });
  for (auto& io : c.ios) {
    c.io_threads.emplace_back([io = io.get()] { io->run(); });
  }
  return c.port;
}

void Server::Stop(int64_t grace_ms) {
  ServerCore& c = *impl_;
  if (!c.started || c.stopped) return;
  c.stopped = true;
  c.stopping.store(true);
  grace_ms = std::max<int64_t>(grace_ms, 0);
  int64_t idle_ms = std::clamp<int64_t>(c.options.drain_idle_ms, 0, grace_ms);
  const Deadline idle_deadline = Deadline::InMillis(Clock::Real(), idle_ms);
  const Deadline grace_deadline = Deadline::InMillis(Clock::Real(), grace_ms);
  // The listener first (and synchronously), so that clients reconnecting
  // after a `Connection: close` reach another server sharing the port.
  std::promise<void> closed;
  asio::post(c.acceptor->get_executor(), [&c, &closed] {
    c.CloseAcceptor();
    closed.set_value();
  });
  closed.get_future().wait();
  // A connection accepted just before may still wait in the accept handler
  // (closing the acceptor cancels only an accept not yet done).
  c.WaitForAccepts(grace_deadline);
  for (auto& s : c.LiveSessions()) s->Shutdown(/*close_idle=*/idle_ms == 0);
  if (idle_ms > 0) {
    c.WaitForSessions(idle_deadline);
    for (auto& s : c.LiveSessions()) s->Shutdown(/*close_idle=*/true);
  }
  c.WaitForSessions(grace_deadline);
  for (auto& s : c.LiveSessions()) s->ForceClose();
  // Handlers must return (streams see cancelled()); then drain the I/O.
  c.workers->join();
  c.work.clear();
  {
    absl::MutexLock lock(&c.mu);
    const absl::Time deadline = absl::Now() + absl::Seconds(1);
    while (!c.sessions.empty() && !c.cv.WaitWithDeadline(&c.mu, deadline)) {
    }
  }
  for (auto& io : c.ios) io->stop();
  for (auto& t : c.io_threads) t.join();
  c.io_threads.clear();
  c.workers.reset();  // drops any late-posted work while sockets can still close
}

Status Server::ReloadTls() {
  ServerCore& c = *impl_;
  if (!c.started || c.stopped) return FailedPreconditionError("http server is not running");
  if (!c.tls)
    return FailedPreconditionError("http server speaks plain HTTP: no certificate to reload");
  return c.tls->Reload();
}

int Server::port() const { return impl_->port; }

std::vector<std::string> Server::Routes() const { return impl_->router.Routes(); }

}  // namespace tandem::http
