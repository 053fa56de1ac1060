// Follows a deployment target (`NAME@alias`, `NAME/VERSION` or `NAME` for
// the latest READY version) for one replica: resolves it in the registry,
// pulls the version's artifact from the store (digest verified), unpacks it
// safely into `<cache>/<name>/<version>-<digest12>/`, loads, self-tests and
// warms it (ModelManager::Load), then swaps it in.
//
// Changes arrive through a bus queue the follower creates for itself,
// `serve-<deployment>-<replica>`, with a rule matching the target's registry
// events (alias changed/deleted for an alias; any change of the model for
// "latest"; none for a pinned version). Messages are handled, then acked;
// handling is idempotent (resolving to the version already served is a
// no-op). A periodic re-resolve (resync_interval_ms) covers missed events.
// A failed pull/load/self-test keeps the old version serving and publishes
// "Model Swap Failed" with the reason; a success publishes "Model Swapped".
//
// Thread-safety: Start/Stop from one thread; the accessors and SyncNow from
// any thread. Registry, store, bus, manager and clock are not owned and must
// outlive the follower.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "common/status.h"
#include "glue/bus/event_bus.h"
#include "glue/registry/model_registry.h"
#include "serving/engine/model_manager.h"

namespace tandem::store {
class ObjectStore;
}

namespace tandem::serving::engine {

struct FollowerOptions {
  std::string target;                   // NAME@alias | NAME/VERSION | NAME
  std::string deployment;               // for queue names and events; default: the model name
  std::string replica_id;               // default: the process id
  std::string cache_dir;                // where packages are unpacked (created)
  int64_t resync_interval_ms = 30'000;  // periodic re-resolve; 0 = never
  int64_t poll_wait_ms = 1'000;         // long-poll slice (Stop latency)
};

class ModelFollower {
 public:
  ModelFollower(FollowerOptions options, registry::ModelRegistry& registry,
                store::ObjectStore& store, bus::EventBus& bus, ModelManager& manager, Clock& clock);
  ~ModelFollower();  // Stop()

  // Validates the target, creates the queue and rule (before resolving, so
  // no move is missed), loads the current version and starts following.
  // A bad target or a bus failure -> error, nothing started. The first
  // load's status goes to `first_load` (if given): the follower keeps
  // following either way, so a later alias move can fix a broken version.
  Status Start(Status* first_load = nullptr);
  // Stops the thread, deletes the rule and queue (best effort). Idempotent.
  void Stop();

  // Resolves the target and swaps if it changed. Thread-safe (serialized).
  Status SyncNow();

  const std::string& model_name() const { return ref_.name; }
  const std::string& queue_name() const { return queue_; }
  int64_t version() const { return version_.load(); }  // 0 until the first load
  uint64_t swaps() const { return swaps_.load(); }
  uint64_t failures() const { return failures_.load(); }

 private:
  void Loop();
  StatusOr<int64_t> Sync(bool periodic);
  // Pulls and unpacks `v`'s artifact; returns the package directory.
  StatusOr<std::string> Pull(const registry::ModelVersion& v);
  void Publish(std::string_view type, Json detail);

  FollowerOptions options_;
  registry::ModelRegistry& registry_;
  store::ObjectStore& store_;
  bus::EventBus& bus_;
  ModelManager& manager_;
  Clock& clock_;
  registry::ModelRef ref_;
  std::string queue_;

  absl::Mutex sync_mu_;                                   // serializes Sync
  int64_t failed_version_ ABSL_GUARDED_BY(sync_mu_) = 0;  // not retried periodically
  std::atomic<int64_t> version_{0};
  std::atomic<uint64_t> swaps_{0};
  std::atomic<uint64_t> failures_{0};

  absl::Mutex mu_;
  absl::CondVar cv_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;  // started by Start, joined by Stop
};

}  // namespace tandem::serving::engine
