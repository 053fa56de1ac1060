// The server's TLS context (http_stream.h): OpenSSL through Boost.Asio.
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <cstdio>
#include <fstream>
#include <memory>

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

namespace tandem::http {

Status CheckTlsFiles(const TlsFiles& tls) { return detail::MakeServerTlsContext(tls).status(); }

StatusOr<std::string> CertificateHostName(const std::string& cert_file) {
  std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(cert_file.c_str(), "rb"), &std::fclose);
  if (!f) return InvalidArgumentError("TLS certificate file " + cert_file + " cannot be read");
  std::unique_ptr<X509, void (*)(X509*)> cert(PEM_read_X509(f.get(), nullptr, nullptr, nullptr),
                                              &X509_free);
  if (!cert) {
    ERR_clear_error();
    return InvalidArgumentError("TLS certificate file " + cert_file + " holds no PEM certificate");
  }
  std::string first_dns;
  auto* names = static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(cert.get(), NID_subject_alt_name, nullptr, nullptr));
  for (int i = 0; names != nullptr && i < sk_GENERAL_NAME_num(names); ++i) {
    const GENERAL_NAME* n = sk_GENERAL_NAME_value(names, i);
    if (n->type == GEN_IPADD && ASN1_STRING_length(n->d.iPAddress) == 4) {
      const unsigned char* ip = ASN1_STRING_get0_data(n->d.iPAddress);
      if (ip[0] == 127 && ip[1] == 0 && ip[2] == 0 && ip[3] == 1) {
        GENERAL_NAMES_free(names);
        return std::string("127.0.0.1");
      }
    } else if (n->type == GEN_DNS && first_dns.empty()) {
      first_dns.assign(reinterpret_cast<const char*>(ASN1_STRING_get0_data(n->d.dNSName)),
                       ASN1_STRING_length(n->d.dNSName));
    }
  }
  if (names != nullptr) GENERAL_NAMES_free(names);
  if (!first_dns.empty()) return first_dns;
  char cn[256] = {0};
  if (X509_NAME_get_text_by_NID(X509_get_subject_name(cert.get()), NID_commonName, cn, sizeof(cn)) >
      0) {
    return std::string(cn);
  }
  return InvalidArgumentError("TLS certificate " + cert_file + " names no host");
}

}  // namespace tandem::http
