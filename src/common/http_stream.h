// Internals of http::Server (http_session.h only): one connection's byte
// stream, plain TCP or TLS over TCP (ServerOptions::tls), behind one type so
// that a Session and Beast's HTTP reads and writes do not care which. The
// TLS context (OpenSSL through Asio) is built here from the configured files.
// Boost.Asio's ssl headers are included here, so no public header may
// include this.
#pragma once

// clang-format off: <utility> first, Asio's awaitable.hpp needs std::exchange.
#include <utility>
// clang-format on

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/ssl.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "common/http_server.h"
#include "common/status.h"

namespace tandem::http::detail {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace ssl = boost::asio::ssl;
using tcp = asio::ip::tcp;

// A server TLS context from `tls` (cert_file: the certificate, optionally
// followed by its chain, PEM; key_file: its private key, PEM): TLS 1.2 and
// 1.3 only, no compression, no renegotiation, the server's cipher order.
// A file that cannot be read, or a key that does not match the certificate,
// -> InvalidArgument naming the file.
StatusOr<std::unique_ptr<ssl::context>> MakeServerTlsContext(const TlsFiles& tls);

// A connection's executor: its own io_context's, not the type-erased
// any_io_executor (each asynchronous operation copied and destroyed one:
// ~5% of a keep-alive request's CPU under wrk).
using Executor = asio::io_context::executor_type;
using Socket = asio::basic_stream_socket<tcp, Executor>;
using TcpStream = beast::basic_stream<tcp, Executor>;

// The first byte of a TLS record carrying a handshake (a ClientHello).
inline constexpr unsigned char kTlsHandshakeRecord = 0x16;

class HttpStream {
 public:
  using executor_type = Executor;
  using TlsStream = beast::ssl_stream<TcpStream>;

  // `tls` (not owned; null = plain TCP) outlives the stream.
  HttpStream(Socket socket, ssl::context* tls) {
    if (tls != nullptr) {
      tls_.emplace(TcpStream(std::move(socket)), *tls);
    } else {
      plain_.emplace(std::move(socket));
    }
  }

  bool tls() const { return tls_.has_value(); }
  executor_type get_executor() { return transport().get_executor(); }
  // The TCP layer (timeouts, the socket), under TLS if any.
  TcpStream& transport() { return tls_ ? beast::get_lowest_layer(*tls_) : *plain_; }
  Socket& socket() { return transport().socket(); }
  template <typename Duration>
  void expires_after(Duration d) {
    transport().expires_after(std::chrono::duration_cast<std::chrono::steady_clock::duration>(d));
  }
  void expires_never() { transport().expires_never(); }

  // The AsyncReadStream / AsyncWriteStream operations Beast and Asio use.
  template <typename MutableBuffers, typename Handler>
  void async_read_some(const MutableBuffers& buffers, Handler&& handler) {
    if (tls_) {
      tls_->async_read_some(buffers, std::forward<Handler>(handler));
    } else {
      plain_->async_read_some(buffers, std::forward<Handler>(handler));
    }
  }
  template <typename ConstBuffers, typename Handler>
  void async_write_some(const ConstBuffers& buffers, Handler&& handler) {
    if (tls_) {
      tls_->async_write_some(buffers, std::forward<Handler>(handler));
    } else {
      plain_->async_write_some(buffers, std::forward<Handler>(handler));
    }
  }

  // The server side of the TLS handshake, given the bytes already read from
  // the socket (the start of the ClientHello). Handler: (error_code, bytes
  // of `already_read` used). Only for a TLS stream.
  template <typename ConstBuffers, typename Handler>
  void async_handshake(const ConstBuffers& already_read, Handler&& handler) {
    tls_->async_handshake(ssl::stream_base::server, already_read, std::forward<Handler>(handler));
  }

 private:
  std::optional<TcpStream> plain_;
  std::optional<TlsStream> tls_;
};

}  // namespace tandem::http::detail
