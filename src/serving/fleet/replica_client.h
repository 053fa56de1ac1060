// How the fleet reaches a replica's private admin port on 127.0.0.1: plain
// HTTP, or HTTPS when the replicas serve the control plane's certificate,
// verified against that certificate itself under the host name it carries
// (connecting to 127.0.0.1 whatever the name resolves to). The probes the
// supervisor runs through it are in replica_probe.h.
// Thread-safety: a ReplicaClient is immutable.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "common/http_client.h"
#include "common/status.h"

namespace tandem::serving::fleet {

class ReplicaClient {
 public:
  // `tls_cert` "" = plain HTTP; else the replicas' certificate (PEM):
  // InvalidArgument if it cannot be read or names no host.
  static StatusOr<std::unique_ptr<ReplicaClient>> Open(const std::string& tls_cert);

  bool tls() const { return !ca_file_.empty(); }
  // A request for `path` on the admin port (url, CA, connect address, timeout).
  http::ClientRequest Request(int admin_port, const std::string& path, int64_t timeout_ms) const;
  // "http://host:port" or "https://host:port": a deployment's endpoint.
  std::string Endpoint(const std::string& host, int port) const;

 private:
  ReplicaClient() = default;
  std::string host_ = "127.0.0.1";  // the name in URLs (the certificate's)
  std::string ca_file_;             // the certificate, trusted as is
};

}  // namespace tandem::serving::fleet
