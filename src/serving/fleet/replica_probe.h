// What the fleet supervisor asks a live replica on its private admin port:
// readiness, the version it serves, why it is not ready, its in-flight
// requests; and where the replica wrote that port (its state file).
// The requests go through ReplicaClient (HTTPS verified against the
// replicas' certificate when the fleet has TLS).
// Thread-safety: the functions are thread-safe (the client is not shared).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>

#include "common/http_client.h"
#include "serving/fleet/replica_client.h"

namespace tandem::serving::fleet {

struct ReplicaProbe {
  bool ready = false;
  int64_t version = 0;  // the version served (0 unknown; set when ready)
  std::string reason;   // not ready: the replica's own load failure, "" if none known
};

// GET /v2/health/ready, then the model's versions when ready, else the
// reason from POST /v2/repository/index for `model`.
ReplicaProbe ProbeReplica(http::Client& client, const ReplicaClient& replicas, int admin_port,
                          const std::string& model, int64_t timeout_ms);

// tandem_inference_in_flight_requests from its /metrics (0 if unknown).
double ReplicaInFlight(http::Client& client, const ReplicaClient& replicas, int admin_port,
                       int64_t timeout_ms);

// The admin port the replica `pid` wrote to `state_file` (0 if not yet, or
// the file is another process's).
int ReadAdminPort(const std::string& state_file, pid_t pid);

}  // namespace tandem::serving::fleet
