#include "serving/engine/model_manager.h"

#include <charconv>
#include <cmath>

#include "absl/synchronization/mutex.h"
#include "common/log.h"
#include "common/redact_path.h"

namespace tandem::serving::engine {

std::string_view ModelStateName(ModelState s) {
  switch (s) {
    case ModelState::kUnknown:
      return "UNKNOWN";
    case ModelState::kReady:
      return "READY";
    case ModelState::kUnavailable:
      return "UNAVAILABLE";
    case ModelState::kLoading:
      return "LOADING";
    case ModelState::kUnloading:
      return "UNLOADING";
  }
  return "UNKNOWN";
}

ServedVersion::ServedVersion(std::string name, int64_t version,
                             std::unique_ptr<runtime::LoadedModel> model, const BatchOptions& batch,
                             ModelMetrics* metrics, Clock& clock)
    : name_(std::move(name)),
      version_(version),
      model_(std::move(model)),
      batcher_(std::make_unique<Batcher>(name_, model_->predictor(), batch, metrics, clock)),
      metrics_(metrics) {}

ModelManager::ModelManager(ModelManagerOptions options, ServingMetrics& metrics, Clock& clock)
    : options_(options), metrics_(metrics), clock_(clock) {}

ModelManager::~ModelManager() = default;

StatusOr<std::shared_ptr<const ServedVersion>> ModelManager::Get(std::string_view name,
                                                                 std::string_view version) const {
  absl::MutexLock lock(&mu_);
  auto it = models_.find(name);
  if (it == models_.end()) {
    return NotFoundError("unknown model '" + std::string(name) + "'");
  }
  const Entry& e = it->second;
  if (e.state != ModelState::kReady || !e.current) {
    std::string why = e.reason.empty() ? "" : ": " + e.reason;
    return UnavailableError("model '" + std::string(name) + "' is not ready (" +
                            std::string(ModelStateName(e.state)) + why + ")");
  }
  if (!version.empty()) {
    int64_t v = 0;
    auto [ptr, ec] = std::from_chars(version.data(), version.data() + version.size(), v);
    if (ec != std::errc() || ptr != version.data() + version.size() || v != e.current->version()) {
      return NotFoundError("model '" + std::string(name) + "' has no version '" +
                           std::string(version) + "' being served (serving version " +
                           e.current->version_string() + ")");
    }
  }
  return e.current;
}

Status ModelManager::Warm(const runtime::LoadedModel& model) const {
  const runtime::Predictor& p = model.predictor();
  size_t cols = static_cast<size_t>(std::max(1, p.num_features()));
  size_t outs = static_cast<size_t>(std::max(1, p.num_outputs()));
  size_t rows =
      static_cast<size_t>(std::max(1, ResolveBatchOptions(options_.batch, p).max_batch_size));
  std::vector<float> in(rows * cols, 0.0f);
  // Tree models take NaN as "missing": exercise that path. Team code (Python
  // handlers, native plugins) need not accept NaN, so it is warmed with zeros.
  if (p.flavor() == "xgboost") {
    for (size_t i = 0; i < in.size(); i += 3) in[i] = NAN;
  }
  std::vector<float> out(rows * outs);
  for (int i = 0; i < options_.warmup_predictions; ++i) {
    size_t n = (i % 2 == 0) ? 1 : rows;
    Status s = p.Predict(in.data(), n, cols, out.data());
    if (!s.ok()) return Annotate(s, "warm-up prediction failed");
    for (size_t j = 0; j < n * outs; ++j) {
      if (!std::isfinite(out[j])) {
        return FailedPreconditionError("warm-up prediction returned a non-finite score");
      }
    }
  }
  return OkStatus();
}

Status ModelManager::Load(const std::string& name, int64_t version,
                          const std::string& package_dir) {
  MarkLoading(name);
  auto model = options_.flavors != nullptr ? runtime::LoadModel(package_dir, *options_.flavors)
                                            : runtime::LoadModel(package_dir);
  if (!model.ok()) {
    // Users read the reason: it names the package as <name>/<version> and
    // files inside it from there (the full message, with the package's
    // directory, goes to the log only).
    const std::string full(model.status().message());
    const std::string shown = ReplacePath(full, package_dir, name + "/" + std::to_string(version));
    if (shown != full) LogInfo("model load failure, in full", {{"model", name}, {"error", full}});
    Status s = Annotate(Status(model.status().code(), shown),
                        "loading " + name + " version " + std::to_string(version));
    RecordFailure(name, s);
    return s;
  }
  return Install(name, version, std::move(model).value());
}

Status ModelManager::Install(const std::string& name, int64_t version,
                             std::unique_ptr<runtime::LoadedModel> model) {
  ModelMetrics& m = metrics_.ForModel(name);
  if (Status s = Warm(*model); !s.ok()) {
    s = Annotate(s, "warming " + name + " version " + std::to_string(version));
    RecordFailure(name, s);
    return s;
  }
  auto served = std::make_shared<const ServedVersion>(name, version, std::move(model),
                                                      options_.batch, &m, clock_);
  std::shared_ptr<const ServedVersion> old;
  {
    absl::MutexLock lock(&mu_);
    Entry& e = models_[name];
    old = std::move(e.current);
    e.current = std::move(served);
    e.state = ModelState::kReady;
    e.reason.clear();
    UpdateAnyBatching();
  }
  m.loads_ok.fetch_add(1, std::memory_order_relaxed);
  m.version.store(version, std::memory_order_relaxed);
  if (old && old->version() != version) m.swaps.fetch_add(1, std::memory_order_relaxed);
  LogInfo("model ready", {{"model", name},
                          {"version", std::to_string(version)},
                          {"previous", old ? old->version_string() : "none"}});
  return OkStatus();  // `old` is released here, or by its last in-flight request
}

void ModelManager::UpdateAnyBatching() {
  bool any = false;
  for (const auto& [name, e] : models_) any |= e.current && e.current->batcher().batching();
  any_batching_.store(any, std::memory_order_relaxed);
}

void ModelManager::MarkLoading(const std::string& name) {
  metrics_.ForModel(name);
  absl::MutexLock lock(&mu_);
  Entry& e = models_[name];
  if (e.state != ModelState::kReady) {
    e.state = ModelState::kLoading;
    e.reason.clear();
  }
}

void ModelManager::RecordFailure(const std::string& name, const Status& failure) {
  metrics_.ForModel(name).loads_failed.fetch_add(1, std::memory_order_relaxed);
  LogWarn("model load failed", {{"model", name}, {"error", std::string(failure.message())}});
  absl::MutexLock lock(&mu_);
  Entry& e = models_[name];
  e.reason = std::string(failure.message());
  if (e.state != ModelState::kReady) e.state = ModelState::kUnavailable;
}

Status ModelManager::Unload(const std::string& name) {
  std::shared_ptr<const ServedVersion> old;
  {
    absl::MutexLock lock(&mu_);
    auto it = models_.find(name);
    if (it == models_.end()) return NotFoundError("unknown model '" + name + "'");
    it->second.state = ModelState::kUnloading;
    old = std::move(it->second.current);
    UpdateAnyBatching();
  }
  old.reset();  // in-flight requests keep their own reference
  metrics_.ForModel(name).version.store(0, std::memory_order_relaxed);
  absl::MutexLock lock(&mu_);
  Entry& e = models_[name];
  if (!e.current) {  // a concurrent Install may have won
    e.state = ModelState::kUnavailable;
    e.reason = "unloaded";
  }
  return OkStatus();
}

void ModelManager::SetReloader(const std::string& name, Reloader reloader) {
  metrics_.ForModel(name);
  absl::MutexLock lock(&mu_);
  models_[name].reloader = std::move(reloader);
}

Status ModelManager::Reload(const std::string& name) {
  Reloader fn;
  {
    absl::MutexLock lock(&mu_);
    auto it = models_.find(name);
    if (it == models_.end() || !it->second.reloader) {
      return NotFoundError("unknown model '" + name + "' (this replica cannot load it)");
    }
    fn = it->second.reloader;
  }
  return fn();
}

std::vector<ModelStatus> ModelManager::Index() const {
  std::vector<ModelStatus> out;
  absl::MutexLock lock(&mu_);
  for (const auto& [name, e] : models_) {
    out.push_back({name, e.current ? e.current->version() : 0, e.state, e.reason});
  }
  return out;
}

StatusOr<ModelStatus> ModelManager::StatusOf(std::string_view name) const {
  absl::MutexLock lock(&mu_);
  auto it = models_.find(name);
  if (it == models_.end()) return NotFoundError("unknown model '" + std::string(name) + "'");
  const Entry& e = it->second;
  return ModelStatus{it->first, e.current ? e.current->version() : 0, e.state, e.reason};
}

bool ModelManager::AnyReady() const {
  absl::MutexLock lock(&mu_);
  for (const auto& [name, e] : models_) {
    if (e.state == ModelState::kReady && e.current) return true;
  }
  return false;
}

}  // namespace tandem::serving::engine
