// The server's TLS context (http_stream.h): OpenSSL through Boost.Asio.
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <fstream>

#include "common/http_stream.h"

namespace tandem::http::detail {

namespace {

// OpenSSL's reason for the last failure ("" if none), clearing its queue.
std::string OpenSslReason() {
  std::string out;
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof(buf));
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out;
}

Status Readable(const std::string& path, const char* what) {
  if (path.empty()) return InvalidArgumentError(std::string("TLS: no ") + what + " file given");
  std::ifstream in(path);
  if (!in)
    return InvalidArgumentError(std::string("TLS ") + what + " file " + path + " cannot be read");
  return OkStatus();
}

}  // namespace

StatusOr<std::unique_ptr<ssl::context>> MakeServerTlsContext(const TlsFiles& tls) {
  RETURN_IF_ERROR(Readable(tls.cert_file, "certificate"));
  RETURN_IF_ERROR(Readable(tls.key_file, "key"));
  ERR_clear_error();
  auto ctx = std::make_unique<ssl::context>(ssl::context::tls_server);
  SSL_CTX* native = ctx->native_handle();
  // TLS 1.2+ only; no compression (CRIME), no renegotiation (a client-driven
  // CPU cost and old attacks), the server's preference among the ciphers
  // OpenSSL's default security level allows.
  if (SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION) != 1) {
    return InternalError("TLS: cannot require TLS 1.2: " + OpenSslReason());
  }
  SSL_CTX_set_options(
      native, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  boost::system::error_code ec;
  ctx->use_certificate_chain_file(tls.cert_file, ec);
  if (ec) {
    return InvalidArgumentError("TLS certificate file " + tls.cert_file +
                                " is not a PEM certificate (chain): " + ec.message() + " " +
                                OpenSslReason());
  }
  ctx->use_private_key_file(tls.key_file, ssl::context::pem, ec);
  if (ec && ec.message().find("mismatch") != std::string::npos) {
    ERR_clear_error();
    return InvalidArgumentError("TLS key file " + tls.key_file +
                                " does not match the certificate in " + tls.cert_file);
  }
  if (ec) {
    return InvalidArgumentError("TLS key file " + tls.key_file + " is not a PEM private key: " +
                                ec.message() + " " + OpenSslReason());
  }
  if (SSL_CTX_check_private_key(native) != 1) {
    return InvalidArgumentError("TLS key file " + tls.key_file +
                                " does not match the certificate in " + tls.cert_file);
  }
  return ctx;
}

}  // namespace tandem::http::detail
