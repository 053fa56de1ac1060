#include "serving/engine/model_follower.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "absl/synchronization/mutex.h"
#include "common/ids.h"
#include "common/log.h"
#include "common/redact_path.h"
#include "glue/bus/event.h"
#include "glue/bus/event_types.h"
#include "glue/store/archive.h"
#include "glue/store/object_store.h"

namespace tandem::serving::engine {

namespace fs = std::filesystem;

namespace {

// [A-Za-z0-9_-] only (bus names), other characters become '-'.
std::string BusSafe(std::string_view s) {
  std::string out;
  for (char c : s) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-';
    out += ok ? c : '-';
  }
  return out;
}

bool IsGzip(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  unsigned char magic[2] = {0, 0};
  in.read(reinterpret_cast<char*>(magic), 2);
  return in.gcount() == 2 && magic[0] == 0x1f && magic[1] == 0x8b;
}

// A file name from the version's `artifact_name` tag, if it is a plain name.
std::string ArtifactName(const registry::ModelVersion& v) {
  auto it = v.tags.find("artifact_name");
  if (it == v.tags.end()) return "model.json";
  const std::string& n = it->second;
  if (n.empty() || n == "." || n == ".." || n.find('/') != std::string::npos ||
      n.find('\0') != std::string::npos || n.size() > 200) {
    return "model.json";
  }
  return n;
}

}  // namespace

ModelFollower::ModelFollower(FollowerOptions options, registry::ModelRegistry& registry,
                             store::ObjectStore& store, bus::EventBus& bus, ModelManager& manager,
                             Clock& clock)
    : options_(std::move(options)),
      registry_(registry),
      store_(store),
      bus_(bus),
      manager_(manager),
      clock_(clock) {}

ModelFollower::~ModelFollower() { Stop(); }

Status ModelFollower::Start(Status* first_load) {
  ASSIGN_OR_RETURN(ref_, registry::ParseModelRef(options_.target));
  if (options_.deployment.empty()) options_.deployment = ref_.name;
  if (options_.replica_id.empty()) options_.replica_id = std::to_string(getpid());
  if (options_.cache_dir.empty()) return InvalidArgumentError("the follower needs a cache_dir");
  queue_ =
      ("serve-" + BusSafe(options_.deployment) + "-" + BusSafe(options_.replica_id)).substr(0, 80);
  Json pattern;
  if (ref_.kind == registry::ModelRef::Kind::kAlias) {
    pattern = {{"source", {bus::events::kRegistrySource}},
               {"detail-type", {bus::events::kModelAliasChanged, bus::events::kModelAliasDeleted}},
               {"detail", {{"name", {ref_.name}}, {"alias", {ref_.alias}}}}};
  } else if (ref_.kind == registry::ModelRef::Kind::kLatest) {
    pattern = {{"source", {bus::events::kRegistrySource}}, {"detail", {{"name", {ref_.name}}}}};
  }
  if (!pattern.is_null()) {
    bus::QueueOptions q;
    q.visibility_timeout_ms = 120'000;    // a load may take a while
    q.retention_ms = 24LL * 3600 * 1000;  // an abandoned queue empties itself
    Status s = bus_.CreateQueue(queue_, q);
    if (s.code() == StatusCode::kAlreadyExists) {  // left by an earlier run: recreate
      (void)bus_.DeleteRule(queue_);
      RETURN_IF_ERROR(bus_.DeleteQueue(queue_));
      s = bus_.CreateQueue(queue_, q);
    }
    RETURN_IF_ERROR(Annotate(s, "creating queue " + queue_));
    RETURN_IF_ERROR(Annotate(bus_.PutRule(queue_, pattern, queue_), "creating rule " + queue_));
  }
  manager_.SetReloader(ref_.name, [this] { return SyncNow(); });
  Status first = SyncNow();
  {
    absl::MutexLock lock(&mu_);
    stopping_ = false;
    started_ = true;
  }
  thread_ = std::thread([this] { Loop(); });
  if (first_load != nullptr) *first_load = first;
  return OkStatus();
}

void ModelFollower::Stop() {
  {
    absl::MutexLock lock(&mu_);
    if (!started_) return;
    started_ = false;
    stopping_ = true;
  }
  cv_.SignalAll();
  if (thread_.joinable()) thread_.join();
  if (ref_.kind != registry::ModelRef::Kind::kVersion) {
    Status r = bus_.DeleteRule(queue_);
    Status q = bus_.DeleteQueue(queue_);
    if (!r.ok() || !q.ok()) {
      LogWarn("could not remove follower queue",
              {{"queue", queue_}, {"error", std::string((r.ok() ? q : r).message())}});
    }
  }
}

void ModelFollower::Loop() {
  const bool has_queue = ref_.kind != registry::ModelRef::Kind::kVersion;
  int64_t next_resync = clock_.MonotonicMillis() + options_.resync_interval_ms;
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) return;
      if (!has_queue) {
        const absl::Time until = absl::Now() + absl::Milliseconds(options_.poll_wait_ms);
        while (!stopping_ && !cv_.WaitWithDeadline(&mu_, until)) {
        }
        if (stopping_) return;
      }
    }
    if (has_queue) {
      bus::ReceiveOptions ro;
      ro.max_messages = 10;
      ro.wait_ms = options_.poll_wait_ms;
      auto msgs = bus_.Receive(queue_, ro);
      if (!msgs.ok()) {
        LogWarn("follower receive failed",
                {{"queue", queue_}, {"error", std::string(msgs.status().message())}});
        absl::MutexLock lock(&mu_);
        const absl::Time until = absl::Now() + absl::Milliseconds(options_.poll_wait_ms);
        while (!stopping_ && !cv_.WaitWithDeadline(&mu_, until)) {
        }
      } else if (!msgs->empty()) {
        // One resolve covers every message received: the registry is the truth.
        (void)Sync(false);
        for (const bus::Message& m : *msgs) {
          Status s = bus_.DeleteMessage(queue_, m.receipt_handle);
          if (!s.ok())
            LogWarn("ack failed", {{"queue", queue_}, {"error", std::string(s.message())}});
        }
        next_resync = clock_.MonotonicMillis() + options_.resync_interval_ms;
      }
    }
    if (options_.resync_interval_ms > 0 && clock_.MonotonicMillis() >= next_resync) {
      (void)Sync(true);
      next_resync = clock_.MonotonicMillis() + options_.resync_interval_ms;
    }
  }
}

Status ModelFollower::SyncNow() { return Sync(false).status(); }

StatusOr<int64_t> ModelFollower::Sync(bool periodic) {
  absl::MutexLock lock(&sync_mu_);
  // The version served now (0 after an unload, so a repository load re-pulls).
  auto served = manager_.StatusOf(ref_.name);
  const int64_t current = served.ok() && served->state == ModelState::kReady ? served->version : 0;
  auto resolved = registry_.Resolve(ref_);
  if (!resolved.ok()) {
    Status s = Annotate(resolved.status(), "resolving " + ref_.ToString());
    if (current == 0) manager_.RecordFailure(ref_.name, s);
    LogWarn("cannot resolve target", {{"target", ref_.ToString()},
                                      {"error", std::string(s.message())},
                                      {"serving", std::to_string(current)}});
    return s;
  }
  const registry::ModelVersion& v = *resolved;
  if (v.version == current) return current;  // idempotent: nothing changed
  if (periodic && v.version == failed_version_) return current;
  if (current == 0) manager_.MarkLoading(ref_.name);
  int64_t start = clock_.MonotonicMicros();
  Status s;
  auto dir = Pull(v);
  if (!dir.ok()) {
    // Users read the reason: it names no file of the cache (logged in full).
    const std::string full(dir.status().message());
    s = Status(dir.status().code(), HidePathsUnder(full, options_.cache_dir, "<model cache>"));
    if (s.message() != full)
      LogInfo("model pull failure, in full", {{"model", ref_.name}, {"error", full}});
    manager_.RecordFailure(ref_.name, s);
  } else {
    s = manager_.Load(ref_.name, v.version, *dir);
  }
  Json cur = current > 0 ? Json(current) : Json(nullptr);
  if (!s.ok()) {
    failed_version_ = v.version;
    failures_.fetch_add(1);
    Publish(bus::events::kModelSwapFailed, {{"name", ref_.name},
                                            {"version", v.version},
                                            {"current_version", cur},
                                            {"reason", std::string(s.message())}});
    return s;
  }
  failed_version_ = 0;
  version_.store(v.version);
  if (current > 0) swaps_.fetch_add(1);
  LogInfo("swapped model", {{"model", ref_.name},
                            {"version", std::to_string(v.version)},
                            {"previous", std::to_string(current)},
                            {"ms", std::to_string((clock_.MonotonicMicros() - start) / 1000)}});
  Publish(bus::events::kModelSwapped,
          {{"name", ref_.name}, {"version", v.version}, {"previous_version", cur}});
  return v.version;
}

StatusOr<std::string> ModelFollower::Pull(const registry::ModelVersion& v) {
  const std::string& digest = v.source;
  if (!digest.starts_with(store::kDigestPrefix)) {
    return UnimplementedError("version " + std::to_string(v.version) + " of '" + v.name +
                              "' has source '" + digest +
                              "'; only store digests (sha256:...) can be pulled");
  }
  RETURN_IF_ERROR(store::ValidateDigest(digest));
  fs::path model_dir = fs::path(options_.cache_dir) / ref_.name;
  fs::path final_dir = model_dir / (std::to_string(v.version) + "-" + digest.substr(7, 12));
  std::error_code ec;
  if (fs::is_directory(final_dir, ec)) return final_dir.string();  // placed whole by a rename
  fs::create_directories(model_dir, ec);
  if (ec) return InternalError("cannot create " + model_dir.string() + ": " + ec.message());
  fs::path tmp = model_dir / (".pull-" + NewUlid(clock_));
  fs::create_directories(tmp, ec);
  if (ec) return InternalError("cannot create " + tmp.string() + ": " + ec.message());
  struct Cleanup {
    fs::path p;
    ~Cleanup() {
      std::error_code e;
      fs::remove_all(p, e);
    }
  } cleanup{tmp};
  std::string download = (tmp / "artifact").string();
  RETURN_IF_ERROR(Annotate(store_.GetBlobToFile(digest, download),
                           "pulling " + v.name + "/" + std::to_string(v.version)));
  fs::path pkg = tmp / "package";
  if (IsGzip(download)) {
    RETURN_IF_ERROR(Annotate(store::UnpackArchive(download, pkg.string(), {}, digest),
                             "unpacking " + v.name + "/" + std::to_string(v.version)));
  } else {
    fs::create_directories(pkg, ec);
    if (!ec) fs::rename(download, pkg / ArtifactName(v), ec);
    if (ec) return InternalError("cannot place " + download + ": " + ec.message());
  }
  fs::rename(pkg, final_dir, ec);
  if (ec && !fs::is_directory(final_dir)) {  // else another replica placed it first
    return InternalError("cannot place package at " + final_dir.string() + ": " + ec.message());
  }
  return final_dir.string();
}

void ModelFollower::Publish(std::string_view type, Json detail) {
  detail["target"] = ref_.ToString();
  detail["deployment"] = options_.deployment;
  detail["replica"] = options_.replica_id;
  bus::Event e = bus::MakeEvent(clock_, std::string(bus::events::kServingSource), std::string(type),
                                std::move(detail),
                                {"model/" + ref_.name, "deployment/" + options_.deployment});
  auto s = bus_.Publish(e);
  if (!s.ok()) {
    LogWarn("cannot publish event",
            {{"type", std::string(type)}, {"error", std::string(s.status().message())}});
  }
}

}  // namespace tandem::serving::engine
