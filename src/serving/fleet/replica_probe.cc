#include "serving/fleet/replica_probe.h"

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "common/json.h"

namespace tandem::serving::fleet {

namespace {

// A live replica that is not ready says why in its repository index (the
// load failure: target not found, a failed load or self-test).
std::string LearnReason(http::Client& client, const ReplicaClient& replicas, int admin_port,
                        const std::string& model, int64_t timeout_ms) {
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
    if (!m.is_object() || m.value("name", "") != model) continue;
    std::string reason = m.value("reason", "");
    if (!reason.empty()) out = m.value("state", "UNAVAILABLE") + ": " + reason;
  }
  return out;
}

}  // namespace

ReplicaProbe ProbeReplica(http::Client& client, const ReplicaClient& replicas, int admin_port,
                          const std::string& model, int64_t timeout_ms) {
  ReplicaProbe p;
  auto r = client.Do(replicas.Request(admin_port, "/v2/health/ready", timeout_ms));
  p.ready = r.ok() && r->status == 200;
  if (!p.ready) {
    p.reason = LearnReason(client, replicas, admin_port, model, timeout_ms);
    return p;
  }
  auto m = client.Do(replicas.Request(admin_port, "/v2/models/" + model, timeout_ms));
  if (m.ok() && m->status == 200) {
    auto j = ParseJson(m->body);
    if (j.ok() && j->contains("versions") && (*j)["versions"].is_array() &&
        !(*j)["versions"].empty() && (*j)["versions"][0].is_string()) {
      p.version = std::atoll((*j)["versions"][0].get<std::string>().c_str());
    }
  }
  return p;
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

int ReadAdminPort(const std::string& state_file, pid_t pid) {
  std::ifstream in(state_file);
  std::stringstream buf;
  buf << in.rdbuf();
  auto j = ParseJson(buf.str());
  if (!j.ok() || !j->is_object()) return 0;
  if (!(*j)["pid"].is_number_integer() || !(*j)["admin_port"].is_number_integer()) return 0;
  if ((*j)["pid"].get<int64_t>() != pid) return 0;
  return (*j)["admin_port"].get<int>();
}

}  // namespace tandem::serving::fleet
