#include "serving/fleet/replica_client.h"

#include <cstdlib>
#include <sstream>

#include "common/http_server.h"
#include "common/json.h"

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

namespace {

// A live replica that is not ready says why in its repository index (the
// load failure: target not found, a failed load or self-test).
std::string LearnReason(http::Client& client, const ReplicaClient& replicas, int admin_port,
                        const std::string& model_name, int64_t timeout_ms) {
  http::ClientRequest req = replicas.Request(admin_port, "/v2/repository/index", timeout_ms);
  req.method = "POST";
  req.body = "{}";
  req.headers["content-type"] = "application/json";
  auto r = client.Do(req);
  if (!r.ok() || r->status != 200) return "";
  auto j = ParseJson(r->body);
  if (!j.ok() || !j->is_array()) return "";
  std::string out;
  for (const Json& m : *j) {
    if (!m.is_object() || m.value("name", "") != model_name) continue;
    std::string reason = m.value("reason", "");
    if (!reason.empty()) out = m.value("state", "UNAVAILABLE") + ": " + reason;
  }
  return out;
}

}  // namespace

ProbeResult ProbeReplica(http::Client& client, const ReplicaClient& replicas, int admin_port,
                         const std::string& model_name, int64_t timeout_ms) {
  ProbeResult out;
  auto r = client.Do(replicas.Request(admin_port, "/v2/health/ready", timeout_ms));
  out.ready = r.ok() && r->status == 200;
  if (!out.ready) {
    out.reason = LearnReason(client, replicas, admin_port, model_name, timeout_ms);
    return out;
  }
  auto m = client.Do(replicas.Request(admin_port, "/v2/models/" + model_name, timeout_ms));
  if (m.ok() && m->status == 200) {
    auto j = ParseJson(m->body);
    if (j.ok() && j->contains("versions") && (*j)["versions"].is_array() &&
        !(*j)["versions"].empty() && (*j)["versions"][0].is_string()) {
      out.version = std::atoll((*j)["versions"][0].get<std::string>().c_str());
    }
  }
  return out;
}

double ReplicaInFlight(http::Client& client, const ReplicaClient& replicas, int admin_port,
                       int64_t timeout_ms) {
  auto r = client.Do(replicas.Request(admin_port, "/metrics", timeout_ms));
  if (!r.ok() || r->status != 200) return 0;
  std::istringstream in(r->body);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("tandem_inference_in_flight_requests ", 0) == 0) {
      return std::atof(line.c_str() + line.find(' ') + 1);
    }
  }
  return 0;
}

}  // namespace tandem::serving::fleet
