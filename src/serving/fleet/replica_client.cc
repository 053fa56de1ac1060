#include "serving/fleet/replica_client.h"

#include "common/http_server.h"

namespace tandem::serving::fleet {

StatusOr<std::unique_ptr<ReplicaClient>> ReplicaClient::Open(const std::string& tls_cert) {
  std::unique_ptr<ReplicaClient> c(new ReplicaClient());
  if (tls_cert.empty()) return c;
  ASSIGN_OR_RETURN(c->host_, http::CertificateHostName(tls_cert));
  c->ca_file_ = tls_cert;
  return c;
}

http::ClientRequest ReplicaClient::Request(int admin_port, const std::string& path,
                                           int64_t timeout_ms) const {
  http::ClientRequest req;
  req.url = Endpoint(host_, admin_port) + path;
  req.timeout_ms = timeout_ms;
  if (tls()) {
    req.ca_file = ca_file_;
    req.connect_host = "127.0.0.1";
  }
  return req;
}

std::string ReplicaClient::Endpoint(const std::string& host, int port) const {
  return std::string(tls() ? "https://" : "http://") + host + ":" + std::to_string(port);
}

}  // namespace tandem::serving::fleet
