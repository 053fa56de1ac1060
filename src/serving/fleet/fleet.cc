#include "serving/fleet/fleet.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "common/http_client.h"
#include "common/log.h"
#include "glue/bus/event.h"
#include "glue/bus/event_bus.h"
#include "glue/bus/event_types.h"
#include "glue/bus/outbox.h"
#include "glue/registry/model_registry.h"
#include "glue/sql/database.h"
#include "serving/fleet/autoscaler.h"
#include "serving/fleet/fleet_lease.h"
#include "serving/fleet/fleet_rows.h"
#include "serving/fleet/replica_client.h"
#include "serving/fleet/replica_probe.h"
#include "serving/fleet/replica_process.h"

namespace tandem::serving::fleet {
namespace fs = std::filesystem;

struct Fleet::Impl {
  FleetOptions options;
  sql::Database& db;
  bus::EventBus* bus;
  Clock& clock;
  http::Client client;
  std::unique_ptr<ReplicaClient> replicas;  // how to reach their admin ports

  absl::Mutex mu;
  absl::CondVar cv;
  std::map<std::string, Deployment> deployments ABSL_GUARDED_BY(mu);
  bool stop ABSL_GUARDED_BY(mu) = false;
  bool started ABSL_GUARDED_BY(mu) = false;
  std::unique_ptr<FleetLease> lease;
  bool leader ABSL_GUARDED_BY(mu) = false;  // `deployments` are supervised here
  int64_t held_until_us ABSL_GUARDED_BY(mu) = 0;
  int64_t last_try_us ABSL_GUARDED_BY(mu) = 0;
  std::thread loop;  // started under mu, joined by Shutdown

  Impl(FleetOptions o, sql::Database& d, bus::EventBus* b, Clock& c)
      : options(std::move(o)), db(d), bus(b), clock(c) {}

  fs::path Dir(const std::string& name) const {
    return fs::path(options.home) / "deployments" / name;
  }

  void ResetAutoscaler(Deployment& d) {
    d.autoscaler.reset();
    if (d.spec.target_in_flight_per_replica <= 0) return;
    AutoscalerOptions ao;
    ao.min_replicas = d.spec.min_replicas;
    ao.max_replicas = d.spec.max_replicas;
    ao.target = d.spec.target_in_flight_per_replica;
    ao.tolerance = d.spec.tolerance;
    ao.stabilization_us = d.spec.scale_down_stabilization_s * 1'000'000;
    d.autoscaler = std::make_unique<Autoscaler>(ao, clock);
  }

  // Writes the deployment row and its replica rows (+ an event) in one transaction.
  Status Save(const Deployment& d, const std::string& change, Json extra = Json::object()) {
    int64_t now = clock.NowMicros();
    Json detail = {{"deployment", d.spec.name},
                   {"state", change},
                   {"model", d.spec.model},
                   {"desired", d.desired},
                   {"port", d.spec.port}};
    for (auto& [k, v] : extra.items()) detail[k] = v;
    Status s = db.WithTransaction([&](sql::Transaction& tx) -> Status {
      RETURN_IF_ERROR(WriteDeploymentRows(tx, d, now));
      return Emit(tx, d.spec.name, change, detail);
    });
    if (!s.ok())
      LogError("cannot save deployment",
               {{"name", d.spec.name}, {"error", std::string(s.message())}});
    return s;
  }

  Status Emit(sql::Transaction& tx, const std::string& name, const std::string& change,
              const Json& detail) {
    if (change.empty() || bus == nullptr) return OkStatus();
    bus::Event e = bus::MakeEvent(clock, std::string(bus::events::kServingSource),
                                  std::string(bus::events::kDeploymentStateChange), detail,
                                  {"deployment/" + name});
    if (bus::Outbox* o = bus->outbox()) return o->Append(tx, e);
    return bus->Publish(e).status();
  }

  // The deployment's shared listening socket for a replica about to start,
  // or -1: then the replica binds its own SO_REUSEPORT socket once loaded,
  // like the live replicas that already do (after a supervisor restart whose
  // re-adopted replicas would not hand their socket back).
  int SharedListener(Deployment& d, const Slot& starting) {
    if (d.listener.valid()) return d.listener.fd();
    bool others_live = false;
    for (const Slot& o : d.slots) {
      if (&o == &starting || o.pid <= 0) continue;
      others_live = true;
      auto back = ListeningSocket::FromReplica(o.pid, d.spec.port);
      if (back.ok()) {
        d.listener = std::move(*back);
        return d.listener.fd();
      }
    }
    if (others_live) return -1;
    auto opened = ListeningSocket::Open(options.host, d.spec.port);
    if (!opened.ok()) {
      LogWarn("replicas bind their own sockets",
              {{"deployment", d.spec.name}, {"error", std::string(opened.status().message())}});
      return -1;
    }
    d.listener = std::move(*opened);
    return d.listener.fd();
  }

  std::vector<std::string> Argv(const Deployment& d, const Slot& s, bool shared_listener) const {
    std::string dir = Dir(d.spec.name).string();
    std::vector<std::string> a = {options.tandem_binary,
                                  "serve",
                                  "--model",
                                  d.spec.model,
                                  "--name",
                                  d.spec.name,
                                  "--replica-id",
                                  d.spec.name + "-" + std::to_string(s.index),
                                  "--host",
                                  options.host,
                                  "--port",
                                  std::to_string(d.spec.port),
                                  "--admin-port",
                                  "0",
                                  "--state-file",
                                  dir + "/replica-" + std::to_string(s.index) + ".state",
                                  "--max-batch-size",
                                  std::to_string(d.spec.max_batch_size),
                                  "--max-queue-delay-us",
                                  std::to_string(d.spec.max_queue_delay_us),
                                  "--queue-size",
                                  std::to_string(d.spec.queue_size),
                                  "--home",
                                  options.home};
    if (shared_listener) {
      a.insert(a.end(), {"--listen-fd", std::to_string(kReplicaListenFd)});
    } else {
      a.push_back("--reuse-port");
    }
    if (!options.config_file.empty()) {
      a.push_back("--config");
      a.push_back(options.config_file);
    }
    if (!options.tls_cert.empty()) {
      a.insert(a.end(), {"--tls-cert", options.tls_cert, "--tls-key", options.tls_key});
    }
    traffic::AppendTrafficFlags(d.spec.traffic, a);
    AppendReplicaFlags(d.spec, a);  // token digests, image
    return a;
  }

  void Spawn(Deployment& d, Slot& s) {
    std::string dir = Dir(d.spec.name).string();
    std::error_code ec;
    fs::create_directories(dir, ec);
    std::string state = dir + "/replica-" + std::to_string(s.index) + ".state";
    fs::remove(state, ec);
    int listen_fd = SharedListener(d, s);
    auto pid = SpawnDetached(Argv(d, s, listen_fd >= 0),
                             dir + "/replica-" + std::to_string(s.index) + ".log", listen_fd);
    int64_t now = clock.NowMicros();
    if (!pid.ok()) {
      LogError("cannot start replica",
               {{"deployment", d.spec.name}, {"error", std::string(pid.status().message())}});
      Backoff(s, now);
      s.reason = "cannot start: " + std::string(pid.status().message());
      return;
    }
    s.pid = *pid;
    auto st = ProcessStartTime(s.pid);
    s.start_time = st.ok() ? *st : 0;
    s.started_at_us = now;
    s.generation = d.generation;
    s.admin_port = 0;
    s.ready = false;
    s.adopted = false;
    s.version = 0;
    LogInfo("replica started", {{"deployment", d.spec.name},
                                {"index", std::to_string(s.index)},
                                {"pid", std::to_string(s.pid)}});
  }

  void Backoff(Slot& s, int64_t now) {
    s.failures++;
    int64_t delay = options.backoff_initial_ms;
    for (int i = 1; i < s.failures && delay < options.backoff_max_ms; ++i) delay *= 2;
    delay = std::min(delay, options.backoff_max_ms);
    s.next_start_us = now + delay * 1000;
    s.pid = 0;
    s.ready = false;
  }

  // Reads the private admin port from the replica's state file.
  void LearnAdminPort(const Deployment& d, Slot& s) {
    if (s.admin_port > 0) return;
    s.admin_port = ReadAdminPort(
        (Dir(d.spec.name) / ("replica-" + std::to_string(s.index) + ".state")).string(), s.pid);
  }

  void Probe(const Deployment& d, Slot& s) {
    LearnAdminPort(d, s);
    if (s.admin_port <= 0) {
      s.ready = false;
      return;
    }
    ReplicaProbe p =
        ProbeReplica(client, *replicas, s.admin_port, d.model_name, options.probe_timeout_ms);
    if (!p.ready && !p.reason.empty()) s.reason = p.reason;
    if (p.ready) {
      s.reason.clear();
      if (p.version != 0) s.version = p.version;
      s.failures = 0;
    }
    s.ready = p.ready;
  }

  // Sends a "ReplicaNotReady" change when the replica's reason changes.
  void ReportReason(Slot& s, std::vector<std::pair<std::string, Json>>* changes) {
    if (s.reason == s.reported_reason) return;
    s.reported_reason = s.reason;
    if (s.reason.empty()) return;
    changes->push_back({"ReplicaNotReady", {{"replica", s.index}, {"reason", s.reason}}});
  }

  double InFlight(const Slot& s) {
    return ReplicaInFlight(client, *replicas, s.admin_port, options.probe_timeout_ms);
  }

  int NextIndex(const Deployment& d) const {
    int i = 0;
    for (const Slot& s : d.slots) i = std::max(i, s.index + 1);
    return i;
  }

  void StopSlot(Slot& s, int64_t now) {
    s.stopping = true;
    s.stop_deadline_us = now + options.stop_grace_ms * 1000;
    if (s.pid > 0) ::kill(s.pid, SIGTERM);
  }

  // One pass over one deployment; returns the change to record ("" = none
  // worth an event) and sets *dirty when rows must be rewritten.
  void TickOne(Deployment& d, bool* dirty, std::vector<std::pair<std::string, Json>>* changes) {
    int64_t now = clock.NowMicros();
    // 1. Liveness: reap stopped replicas, back off crashed ones.
    for (auto it = d.slots.begin(); it != d.slots.end();) {
      Slot& s = *it;
      bool alive = s.pid > 0 && ProcessMatches(s.pid, s.start_time);
      if (s.stopping) {
        if (!alive) {
          it = d.slots.erase(it);
          continue;
        }
        if (now > s.stop_deadline_us) ::kill(s.pid, SIGKILL);
      } else if (s.pid > 0 && !alive) {
        std::string last =
            LastLogLine(Dir(d.spec.name) / ("replica-" + std::to_string(s.index) + ".log"));
        LogWarn("replica exited", {{"deployment", d.spec.name},
                                   {"index", std::to_string(s.index)},
                                   {"pid", std::to_string(s.pid)},
                                   {"last_output", last}});
        changes->push_back(
            {"ReplicaCrashed", {{"replica", s.index}, {"pid", s.pid}, {"last_output", last}}});
        Backoff(s, now);
        // Exits without becoming ready in between: a crash loop.
        s.reason = s.failures >= 2 ? "crash loop (" + std::to_string(s.failures) +
                                         " exits without becoming ready), last output: " + last
                                   : "exited, last output: " + last;
        *dirty = true;
      }
      ++it;
    }
    // 2. (Re)start slots whose backoff elapsed; probe the live ones.
    for (Slot& s : d.slots) {
      if (s.stopping) continue;
      if (s.pid == 0) {
        if (now >= s.next_start_us) {
          if (s.started_at_us != 0) s.restarts++;
          Spawn(d, s);
          *dirty = true;
        }
        ReportReason(s, changes);
        continue;
      }
      int admin_port = s.admin_port;
      Probe(d, s);
      // Recorded, so that a control plane taking over reaches it (the state
      // file is under this one's home).
      if (s.admin_port != admin_port) *dirty = true;
      ReportReason(s, changes);
    }
    // 3. Autoscale on mean in-flight requests per ready replica.
    if (d.autoscaler) {
      double total = 0;
      int n = 0;
      for (const Slot& s : d.slots) {
        if (!s.stopping && s.ready) {
          total += InFlight(s);
          ++n;
        }
      }
      int want = d.autoscaler->Recommend(d.desired, n > 0 ? total / n : 0);
      if (want != d.desired) {
        changes->push_back({"Autoscaled", {{"from", d.desired}, {"to", want}}});
        d.desired = want;
        *dirty = true;
      }
    }
    // 4. Count, scale and roll.
    std::vector<Slot*> current;
    int ready = 0;
    bool new_starting = false;
    bool any_old = false;
    for (Slot& s : d.slots) {
      if (s.stopping) continue;
      current.push_back(&s);
      if (s.ready) ++ready;
      if (s.generation >= d.generation && !s.ready) new_starting = true;
      if (s.generation < d.generation) any_old = true;
    }
    int n = static_cast<int>(current.size());
    if (n < d.desired) {
      for (int i = n; i < d.desired; ++i) {
        Slot s;
        s.index = NextIndex(d);
        d.slots.push_back(s);
        Spawn(d, d.slots.back());
      }
      *dirty = true;
    } else if (n > d.desired) {
      // Victim: old generation first, then not ready, then the highest index.
      std::sort(current.begin(), current.end(), [&](const Slot* a, const Slot* b) {
        bool ao = a->generation < d.generation, bo = b->generation < d.generation;
        if (ao != bo) return ao;
        if (a->ready != b->ready) return !a->ready;
        return a->index > b->index;
      });
      for (Slot* v : current) {
        if (n <= d.desired) break;
        if (v->ready) {
          // A rolling surge waits for its new replica; a ready replica is
          // stopped only if min_available others stay ready.
          if (any_old && new_starting && v->generation < d.generation) break;
          if (ready - 1 < std::min(d.spec.min_available, d.desired)) break;
          --ready;
        }
        StopSlot(*v, now);
        --n;
        *dirty = true;
      }
    } else if (any_old && !new_starting) {
      // Rolling restart: surge one replica on the new spec.
      Slot s;
      s.index = NextIndex(d);
      d.slots.push_back(s);
      Spawn(d, d.slots.back());
      *dirty = true;
    }
  }

  void TickAll() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    std::vector<std::pair<Deployment*, std::vector<std::pair<std::string, Json>>>> saves;
    for (auto& [name, d] : deployments) {
      if (d.deleting) continue;
      bool dirty = false;
      std::vector<std::pair<std::string, Json>> changes;
      TickOne(d, &dirty, &changes);
      if (dirty || !changes.empty()) saves.push_back({&d, std::move(changes)});
    }
    for (auto& [d, changes] : saves) {
      if (changes.empty()) {
        (void)Save(*d, "");
      } else {
        for (auto& [c, extra] : changes) (void)Save(*d, c, extra);
      }
    }
  }

  DeploymentStatus StatusOf(const Deployment& d) const {
    DeploymentStatus st;
    st.spec = d.spec;
    st.desired = d.desired;
    st.generation = d.generation;
    st.endpoint = replicas->Endpoint(options.host, d.spec.port);
    for (const Slot& s : d.slots) {
      ReplicaStatus r;
      r.index = s.index;
      r.pid = s.pid;
      r.ready = s.ready && !s.stopping;
      r.state = s.stopping ? "stopping" : s.pid == 0 ? "backoff" : s.ready ? "ready" : "starting";
      r.version = s.version;
      r.generation = s.generation;
      r.admin_port = s.admin_port;
      r.restarts = s.restarts;
      r.adopted = s.adopted;
      r.reason = r.ready || s.stopping ? "" : s.reason;
      if (r.ready) st.ready++;
      st.replicas.push_back(r);
    }
    return st;
  }

  // Whether this fleet supervises now: renews the lease (when half of it is
  // left), or, on a standby, tries to take it (every quarter lease, or at
  // once when `now_please`), loading and re-adopting the deployments then.
  StatusOr<bool> Lead(bool now_please) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    int64_t now = clock.NowMicros();
    const int64_t lease_us = options.lease_ms * 1000;
    if (leader && now < held_until_us - lease_us / 2) return true;
    if (!leader && !now_please && now - last_try_us < lease_us / 4) return false;
    last_try_us = now;
    auto held = lease->TryHold(options.owner, now, now + lease_us);
    if (!held.ok()) {
      LogWarn("cannot renew the fleet lease", {{"error", std::string(held.status().message())}});
      if (leader && now < held_until_us) return true;
      return held.status();
    }
    if (!*held) {
      if (leader) {
        // Another control plane took over (this one missed its renewals):
        // stop supervising; the replicas are its now.
        LogWarn("fleet lease lost; standing by", {{"owner", options.owner}});
        deployments.clear();
        leader = false;
      }
      return false;
    }
    held_until_us = now + lease_us;
    if (!leader) {
      deployments.clear();
      Status s = Load(deployments, /*adopt=*/true);
      if (!s.ok()) {
        deployments.clear();
        return s;
      }
      leader = true;
      LogInfo("supervising the fleet", {{"owner", options.owner},
                                        {"deployments", std::to_string(deployments.size())}});
    }
    return true;
  }

  // OK when this fleet supervises; else Unavailable naming the holder.
  Status Supervising() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    ASSIGN_OR_RETURN(bool lead, Lead(/*now_please=*/!leader));
    if (lead) return OkStatus();
    auto holder = lease->Current();
    std::string who = holder.ok() ? holder->owner : std::string("another control plane");
    return UnavailableError("deployments are supervised by control plane '" + who +
                            "'; this one ('" + options.owner +
                            "') takes over if that one stops renewing its lease for " +
                            std::to_string(options.lease_ms / 1000) + "s");
  }

  // On a standby: the deployments as recorded (replicas not probed).
  std::vector<DeploymentStatus> Recorded() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    std::map<std::string, Deployment> recorded;
    std::vector<DeploymentStatus> out;
    Status s = Load(recorded, /*adopt=*/false);
    if (!s.ok()) {
      LogWarn("cannot read deployments", {{"error", std::string(s.message())}});
      return out;
    }
    auto holder = lease->Current();
    std::string who = holder.ok() ? holder->owner : std::string("another control plane");
    for (auto& [name, d] : recorded) {
      out.push_back(StatusOf(d));
      for (ReplicaStatus& r : out.back().replicas) {
        r.state = "recorded";
        r.reason = "supervised by control plane '" + who + "'";
      }
    }
    return out;
  }

  Status Load(std::map<std::string, Deployment>& into, bool adopt) {
    RETURN_IF_ERROR(ReadDeployments(db, adopt, into));
    for (auto& [name, d] : into) ResetAutoscaler(d);
    return OkStatus();
  }
};

Fleet::Fleet(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Fleet::~Fleet() { Shutdown(); }

StatusOr<std::unique_ptr<Fleet>> Fleet::Open(FleetOptions options, sql::Database& db,
                                             bus::EventBus* bus, Clock& clock) {
  if (options.tandem_binary.empty() || !fs::path(options.tandem_binary).is_absolute()) {
    return InvalidArgumentError(
        "the fleet needs the absolute path of the tandem executable, got '" +
        options.tandem_binary + "'");
  }
  if (options.lease_ms < 1000) return InvalidArgumentError("fleet lease_ms must be >= 1000");
  if (options.tls_cert.empty() != options.tls_key.empty()) {
    return InvalidArgumentError("the fleet needs both a TLS certificate and its key, or neither");
  }
  if (options.owner.empty()) {
    char host[256] = {0};
    if (gethostname(host, sizeof(host) - 1) != 0) std::snprintf(host, sizeof(host), "localhost");
    options.owner = std::string(host) + ":" + fs::absolute(options.home).lexically_normal().string();
  }
  ASSIGN_OR_RETURN(auto replicas, ReplicaClient::Open(options.tls_cert));
  RETURN_IF_ERROR(db.Migrate("serving", FleetMigrations()));
  ASSIGN_OR_RETURN(auto lease, FleetLease::Open(db));
  auto impl = std::make_unique<Impl>(std::move(options), db, bus, clock);
  impl->lease = std::move(lease);
  impl->replicas = std::move(replicas);
  return std::unique_ptr<Fleet>(new Fleet(std::move(impl)));
}

Status Fleet::Start() {
  absl::MutexLock l(&impl_->mu);
  if (impl_->started) return FailedPreconditionError("fleet already started");
  // A standby (another control plane holds the lease) starts too and keeps
  // trying to take over.
  RETURN_IF_ERROR(impl_->Lead(/*now_please=*/true).status());
  impl_->started = true;
  impl_->loop = std::thread([this] {
    absl::MutexLock lock(&impl_->mu);
    while (!impl_->stop) {
      auto lead = impl_->Lead(/*now_please=*/false);
      if (lead.ok() && *lead) impl_->TickAll();
      const absl::Time until = absl::Now() + absl::Milliseconds(impl_->options.tick_ms);
      while (!impl_->stop && !impl_->cv.WaitWithDeadline(&impl_->mu, until)) {
      }
    }
  });
  return OkStatus();
}

void Fleet::Shutdown() {
  {
    absl::MutexLock l(&impl_->mu);
    impl_->stop = true;
  }
  impl_->cv.SignalAll();
  if (impl_->loop.joinable()) impl_->loop.join();
  absl::MutexLock l(&impl_->mu);
  if (impl_->leader) {
    // A standby need not wait for the lease to run out.
    Status s = impl_->lease->Release(impl_->options.owner);
    if (!s.ok()) LogWarn("cannot release the fleet lease", {{"error", std::string(s.message())}});
    impl_->leader = false;
    impl_->deployments.clear();
  }
}

void Fleet::Tick() {
  absl::MutexLock l(&impl_->mu);
  auto lead = impl_->Lead(/*now_please=*/true);
  if (lead.ok() && *lead) impl_->TickAll();
}

StatusOr<bool> Fleet::Apply(DeploymentSpec spec) {
  absl::MutexLock l(&impl_->mu);
  RETURN_IF_ERROR(impl_->Supervising());
  auto it = impl_->deployments.find(spec.name);
  bool created = it == impl_->deployments.end();
  if (!created && it->second.deleting) {
    return FailedPreconditionError("deployment '" + spec.name + "' is being deleted");
  }
  if (spec.port == 0) {
    if (!created) {
      spec.port = it->second.spec.port;
    } else {
      ASSIGN_OR_RETURN(spec.port, PickFreePort());
    }
  }
  for (const auto& [name, other] : impl_->deployments) {
    if (name != spec.name && other.spec.port == spec.port) {
      return AlreadyExistsError("port " + std::to_string(spec.port) + " is used by deployment '" +
                                name + "'");
    }
  }
  if (created) {
    Deployment d;
    d.spec = spec;
    d.model_name = registry::ParseModelRef(spec.model)->name;
    d.desired = spec.min_replicas;
    d.created_at = impl_->clock.NowMicros();
    impl_->ResetAutoscaler(d);
    RETURN_IF_ERROR(impl_->Save(d, "Created"));
    impl_->deployments[spec.name] = std::move(d);
  } else {
    Deployment& d = it->second;
    bool restart = d.spec.NeedsRestart(spec);
    DeploymentSpec old = d.spec;
    d.spec = spec;
    d.model_name = registry::ParseModelRef(spec.model)->name;
    d.desired = std::clamp(d.desired, spec.min_replicas, std::max(1, spec.max_replicas));
    if (restart) d.generation++;
    impl_->ResetAutoscaler(d);
    Status s = impl_->Save(d, "Updated", {{"rolling", restart}});
    if (!s.ok()) {
      d.spec = old;
      return s;
    }
  }
  impl_->cv.SignalAll();
  return created;
}

http::ClientRequest Fleet::ReplicaRequest(int admin_port, const std::string& path,
                                          int64_t timeout_ms) const {
  return impl_->replicas->Request(admin_port, path, timeout_ms);
}

std::vector<DeploymentStatus> Fleet::List() {
  absl::MutexLock l(&impl_->mu);
  if (!impl_->Supervising().ok()) return impl_->Recorded();
  std::vector<DeploymentStatus> out;
  for (const auto& [name, d] : impl_->deployments) out.push_back(impl_->StatusOf(d));
  return out;
}

StatusOr<DeploymentStatus> Fleet::Get(const std::string& name) {
  absl::MutexLock l(&impl_->mu);
  if (!impl_->Supervising().ok()) {
    for (DeploymentStatus& d : impl_->Recorded()) {
      if (d.spec.name == name) return d;
    }
    return NotFoundError("deployment '" + name + "' not found");
  }
  auto it = impl_->deployments.find(name);
  if (it == impl_->deployments.end()) return NotFoundError("deployment '" + name + "' not found");
  return impl_->StatusOf(it->second);
}

StatusOr<Json> Fleet::Traffic(const std::string& name) {
  std::string model;
  std::vector<std::pair<int, int>> replicas;  // index, admin port
  Json policy = Json::object();
  {
    absl::MutexLock l(&impl_->mu);
    RETURN_IF_ERROR(impl_->Supervising());
    auto it = impl_->deployments.find(name);
    if (it == impl_->deployments.end()) return NotFoundError("deployment '" + name + "' not found");
    const Deployment& d = it->second;
    if (d.spec.traffic.empty()) {
      return FailedPreconditionError("deployment '" + name + "' has no shadow or canary policy");
    }
    traffic::AddTrafficPolicy(d.spec.traffic, policy);
    model = d.model_name;
    for (const Slot& s : d.slots) {
      if (s.pid > 0 && s.ready && s.admin_port > 0) replicas.push_back({s.index, s.admin_port});
    }
  }
  // Outside the lock: the probes may take up to probe_timeout_ms each.
  http::Client client;
  Json out = Json::array();
  for (const auto& [index, port] : replicas) {
    Json r = {{"index", index}};
    auto res = client.Do(impl_->replicas->Request(port, "/v2/models/" + model + "/traffic",
                                                  impl_->options.probe_timeout_ms * 4));
    auto body = res.ok() ? ParseJson(res->body) : StatusOr<Json>(res.status());
    if (res.ok() && res->status == 200 && body.ok()) {
      r["traffic"] = *body;
    } else {
      r["error"] = res.ok()
                       ? "HTTP " + std::to_string(res->status) + ": " + res->body.substr(0, 200)
                       : std::string(res.status().message());
    }
    out.push_back(std::move(r));
  }
  return Json{{"deployment", name}, {"policy", policy}, {"replicas", out}};
}

Status Fleet::Scale(const std::string& name, int replicas) {
  absl::MutexLock l(&impl_->mu);
  RETURN_IF_ERROR(impl_->Supervising());
  auto it = impl_->deployments.find(name);
  if (it == impl_->deployments.end()) return NotFoundError("deployment '" + name + "' not found");
  Deployment& d = it->second;
  if (replicas < 0 || replicas > 64) {
    return InvalidArgumentError("'replicas' must be between 0 and 64, got " +
                                std::to_string(replicas));
  }
  if (d.autoscaler && (replicas < d.spec.min_replicas || replicas > d.spec.max_replicas)) {
    return InvalidArgumentError(
        "'replicas' must be within the autoscaling range [" + std::to_string(d.spec.min_replicas) +
        ", " + std::to_string(d.spec.max_replicas) + "], got " + std::to_string(replicas));
  }
  int from = d.desired;
  d.desired = replicas;
  Status s = impl_->Save(d, "Scaled", {{"from", from}, {"to", replicas}});
  if (!s.ok()) {
    d.desired = from;
    return s;
  }
  impl_->cv.SignalAll();
  return OkStatus();
}

Status Fleet::Delete(const std::string& name) {
  std::vector<std::pair<pid_t, int64_t>> procs;
  int64_t grace_us = impl_->options.stop_grace_ms * 1000;
  {
    absl::MutexLock l(&impl_->mu);
    RETURN_IF_ERROR(impl_->Supervising());
    auto it = impl_->deployments.find(name);
    if (it == impl_->deployments.end()) return NotFoundError("deployment '" + name + "' not found");
    if (it->second.deleting)
      return FailedPreconditionError("deployment '" + name + "' is being deleted");
    it->second.deleting = true;
    for (const Slot& s : it->second.slots) {
      if (s.pid > 0) {
        ::kill(s.pid, SIGTERM);
        procs.push_back({s.pid, s.start_time});
      }
    }
  }
  // Wait outside the lock (the supervisor skips a deleting deployment).
  int64_t deadline = impl_->clock.MonotonicMicros() + grace_us;
  auto any_alive = [&] {
    for (auto& [pid, st] : procs) {
      if (ProcessMatches(pid, st)) return true;
    }
    return false;
  };
  while (any_alive() && impl_->clock.MonotonicMicros() < deadline) impl_->clock.SleepMicros(50'000);
  for (auto& [pid, st] : procs) {
    if (ProcessMatches(pid, st)) ::kill(pid, SIGKILL);
  }
  absl::MutexLock l(&impl_->mu);
  auto it = impl_->deployments.find(name);
  Json detail = {{"deployment", name}, {"state", "Deleted"}, {"model", it->second.spec.model}};
  Status s = impl_->db.WithTransaction([&](sql::Transaction& tx) -> Status {
    RETURN_IF_ERROR(tx.Exec("DELETE FROM serving_replicas WHERE deployment = ?", {name}).status());
    RETURN_IF_ERROR(tx.Exec("DELETE FROM serving_deployments WHERE name = ?", {name}).status());
    return impl_->Emit(tx, name, "Deleted", detail);
  });
  if (!s.ok()) {
    it->second.deleting = false;
    return s;
  }
  impl_->deployments.erase(it);
  return OkStatus();
}

}  // namespace tandem::serving::fleet
