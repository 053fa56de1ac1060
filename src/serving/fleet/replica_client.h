// How the fleet reaches a replica's private admin port on 127.0.0.1: plain
// HTTP, or HTTPS when the replicas serve the control plane's certificate,
// verified against that certificate itself under the host name it carries
// (connecting to 127.0.0.1 whatever the name resolves to). And the probes
// the supervisor runs through it.
// Thread-safety: a ReplicaClient is immutable; the probes need their own
// http::Client per thread.
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

// What one probe of a replica found.
struct ProbeResult {
  bool ready = false;
  int64_t version = 0;  // the version it serves (0 unknown)
  // Not ready: the replica's own load failure, from its repository index
  // ("" if none known).
  std::string reason;
};

ProbeResult ProbeReplica(http::Client& client, const ReplicaClient& replicas, int admin_port,
                         const std::string& model_name, int64_t timeout_ms);

// The replica's in-flight requests (its tandem_inference_in_flight_requests
// gauge; 0 if unknown).
double ReplicaInFlight(http::Client& client, const ReplicaClient& replicas, int admin_port,
                       int64_t timeout_ms);

}  // namespace tandem::serving::fleet
