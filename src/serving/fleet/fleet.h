// The local serving substrate: deployments of warm replica processes
// (`tandem serve --reuse-port`) behind one shared port per deployment.
//
// A supervisor thread keeps each deployment at its desired count: starts
// missing replicas, probes each on its private admin port, restarts crashed
// ones with exponential backoff, scales (explicitly or with the HPA
// autoscaler), and rolls replicas onto a new spec one surge replica at a time,
// never stopping a ready replica while fewer than min_available others are
// ready. State lives in the database (component "serving"), so a new Fleet
// re-adopts the replicas a previous one started (pid + start time match)
// instead of starting duplicates; replicas run in their own sessions and
// outlive the control plane. Changes emit "Deployment State Change" events,
// including "ReplicaNotReady" with the reason whenever a replica's reason for
// not being ready changes.
//
// High availability: only the fleet holding the lease (FleetOptions::owner)
// supervises. A standby answers List/Get from the database (replicas shown
// as recorded, not probed) and refuses changes with Unavailable naming the
// holder, unless the holder's lease has expired: then it takes over at once.
//
// Thread-safety: all public methods are thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/http_client.h"
#include "common/json.h"
#include "common/status.h"
#include "serving/fleet/deployment_spec.h"

namespace tandem::sql {
class Database;
}
namespace tandem::bus {
class EventBus;
}

namespace tandem::serving::fleet {

struct FleetOptions {
  std::string home;           // replica logs and state under <home>/deployments/<name>/
  std::string tandem_binary;  // absolute path of the `tandem` executable
  std::string config_file;    // passed to replicas as --config when set
  std::string host = "127.0.0.1";
  int64_t tick_ms = 250;
  int64_t backoff_initial_ms = 500;
  int64_t backoff_max_ms = 30'000;
  int64_t stop_grace_ms = 10'000;
  int64_t probe_timeout_ms = 500;
  // Both or neither: replicas serve HTTPS (both ports) with this certificate
  // and key, and the fleet's probes verify them against the certificate.
  std::string tls_cert;
  std::string tls_key;
  // Several control planes on one database: the one holding the fleet lease
  // (fleet_lease.h) supervises every deployment, renewing it each tick; the
  // others stand by and take over (re-adopting the live replicas) once it has
  // not been renewed for lease_ms. "" = <host>:<home>, stable across restarts.
  std::string owner;
  int64_t lease_ms = 15'000;
};

struct ReplicaStatus {
  int index = 0;
  int64_t pid = 0;    // 0 while waiting to (re)start
  std::string state;  // starting | ready | backoff | stopping
  bool ready = false;
  int64_t version = 0;  // the version it serves (0 unknown)
  int64_t generation = 0;
  int admin_port = 0;
  int restarts = 0;
  bool adopted = false;  // started by an earlier control plane
  // Why it is not ready ("" if ready or no cause known yet): the replica's
  // own load failure (target not found, load or self-test failure), or for
  // one that exited, its last output line and whether it is crash-looping.
  std::string reason;
  Json ToJson() const;
};

struct DeploymentStatus {
  DeploymentSpec spec;  // with the effective port
  int desired = 0;
  int64_t generation = 0;
  int ready = 0;
  std::string endpoint;  // http://host:port (https:// with TLS)
  std::vector<ReplicaStatus> replicas;
  Json ToJson() const;
};

class Fleet {
 public:
  // `db`, `bus` (may be null: no events) and `clock` must outlive the fleet.
  static StatusOr<std::unique_ptr<Fleet>> Open(FleetOptions options, sql::Database& db,
                                               bus::EventBus* bus, Clock& clock);
  ~Fleet();  // Shutdown(); replicas keep running.

  // Takes the fleet lease if it is free (then loads the deployments and
  // re-adopts live replicas) and starts the supervisor thread, which on a
  // standby keeps trying to take the lease.
  Status Start();
  // Stops the supervisor thread. Replicas keep serving. Idempotent.
  void Shutdown();

  // Creates or updates a deployment; returns true if created. An update that
  // changes the model, port or batching rolls the replicas.
  StatusOr<bool> Apply(DeploymentSpec spec);
  std::vector<DeploymentStatus> List();
  StatusOr<DeploymentStatus> Get(const std::string& name);  // NotFound
  // Sets the replica count (0..64; within [min, max] if autoscaling is on).
  Status Scale(const std::string& name, int replicas);
  // The traffic statistics (shadow agreement, canary split and rollbacks) of
  // each ready replica, from GET /v2/models/{m}/traffic on its admin port:
  // {"deployment", "policy": {shadow?, canary?}, "replicas": [{index, traffic
  // | error}]}. NotFound for an unknown deployment; FailedPrecondition if it
  // has no traffic policy.
  StatusOr<Json> Traffic(const std::string& name);
  // SIGTERMs the replicas, waits for them (SIGKILL after stop_grace_ms),
  // forgets the deployment.
  Status Delete(const std::string& name);

  // A request for `path` on a replica's admin port, over HTTPS (verified) if
  // the replicas use TLS (FleetOptions::tls_cert).
  http::ClientRequest ReplicaRequest(int admin_port, const std::string& path,
                                     int64_t timeout_ms) const;

  // One supervisor pass (the thread calls it every tick_ms; tests may too).
  void Tick();

 private:
  struct Impl;
  explicit Fleet(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace tandem::serving::fleet
