// The models a replica serves: per name, the current version (a loaded,
// self-tested, warmed model with its batcher) and a state in the terms of the
// KServe repository extension. Swapping a version is one pointer exchange
// under a mutex: a request holds a shared_ptr to the version it started
// with, so in-flight requests finish on the old version while new ones get
// the new one; the old version is freed when its last request ends.
//
// Thread-safety: every method is thread-safe. Load/Install may run while
// requests are served.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "common/status.h"
#include "runtime/load_model.h"
#include "serving/engine/batcher.h"
#include "serving/engine/metrics.h"

namespace tandem::serving::engine {

enum class ModelState { kUnknown, kReady, kUnavailable, kLoading, kUnloading };
std::string_view ModelStateName(ModelState s);  // "READY", ...

// One served version. Immutable after construction.
class ServedVersion {
 public:
  ServedVersion(std::string name, int64_t version, std::unique_ptr<runtime::LoadedModel> model,
                const BatchOptions& batch, ModelMetrics* metrics, Clock& clock);
  const std::string& name() const { return name_; }
  int64_t version() const { return version_; }
  std::string version_string() const { return std::to_string(version_); }
  const runtime::LoadedModel& model() const { return *model_; }
  const runtime::Predictor& predictor() const { return model_->predictor(); }
  Batcher& batcher() const { return *batcher_; }
  ModelMetrics* metrics() const { return metrics_; }

 private:
  std::string name_;
  int64_t version_;
  std::unique_ptr<runtime::LoadedModel> model_;
  std::unique_ptr<Batcher> batcher_;  // declared after model_: destroyed first
  ModelMetrics* metrics_;
};

struct ModelStatus {
  std::string name;
  int64_t version = 0;  // 0 if none is served
  ModelState state = ModelState::kUnknown;
  std::string reason;  // why not READY, or the last failed swap
};

struct ModelManagerOptions {
  BatchOptions batch;
  int warmup_predictions = 8;  // predictions run on a new version before the swap
  // The flavor loaders (not owned; must outlive the manager); null = the
  // built-in ones. A replica serving from an image passes
  // runtime::ImageFlavors (Python handler workers inside the image).
  const runtime::FlavorRegistry* flavors = nullptr;
};

class ModelManager {
 public:
  // `metrics` and `clock` are not owned and must outlive the manager.
  ModelManager(ModelManagerOptions options, ServingMetrics& metrics, Clock& clock);
  ~ModelManager();

  // The version to serve a request for `name` (and `version` if given).
  // Unknown model -> NotFound; a version other than the served one ->
  // NotFound naming the served one; known but not READY -> Unavailable.
  StatusOr<std::shared_ptr<const ServedVersion>> Get(std::string_view name,
                                                     std::string_view version = "") const;

  // Loads the package in `package_dir` as `name` version `version` (runtime
  // LoadModel, which runs the self-test), warms it, then swaps it in. On
  // failure the previous version (if any) keeps serving; the state keeps
  // READY with the failure as reason, else turns UNAVAILABLE.
  Status Load(const std::string& name, int64_t version, const std::string& package_dir);
  // Swaps in an already loaded model (warm-up included).
  Status Install(const std::string& name, int64_t version,
                 std::unique_ptr<runtime::LoadedModel> model);
  // Marks `name` LOADING (e.g. while a follower pulls). No-op if READY.
  void MarkLoading(const std::string& name);
  // Records a failed load that happened before Load (pull, unpack).
  void RecordFailure(const std::string& name, const Status& failure);
  // Stops serving `name` (state UNAVAILABLE, reason "unloaded"). NotFound if
  // unknown.
  Status Unload(const std::string& name);

  // How the repository extension's load re-acquires a model (the follower or
  // the local package dir). Called without locks held.
  using Reloader = std::function<Status()>;
  void SetReloader(const std::string& name, Reloader reloader);
  // POST /v2/repository/models/{m}/load: NotFound for a model without a
  // reloader, else the reloader's status.
  Status Reload(const std::string& name);

  std::vector<ModelStatus> Index() const;  // sorted by name
  StatusOr<ModelStatus> StatusOf(std::string_view name) const;
  bool AnyReady() const;
  // True if some served version batches its requests (its callers may wait
  // for a batch slot). Lock-free, for the request path.
  bool AnyBatching() const { return any_batching_.load(std::memory_order_relaxed); }

 private:
  struct Entry {
    std::shared_ptr<const ServedVersion> current;
    ModelState state = ModelState::kUnknown;
    std::string reason;
    Reloader reloader;
  };
  Status Warm(const runtime::LoadedModel& model) const;
  void UpdateAnyBatching() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const ModelManagerOptions options_;
  ServingMetrics& metrics_;
  Clock& clock_;
  mutable absl::Mutex mu_;
  std::map<std::string, Entry, std::less<>> models_ ABSL_GUARDED_BY(mu_);
  std::atomic<bool> any_batching_{false};
};

}  // namespace tandem::serving::engine
