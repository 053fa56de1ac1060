#include "compute/jobs/finalize.h"

#include <sys/stat.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <iterator>
#include <system_error>

#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "common/ids.h"
#include "common/log.h"
#include "common/redact_path.h"
#include "compute/jobs/contract.h"
#include "compute/jobs/image_launch.h"
#include "glue/store/archive.h"
#include "glue/store/sha256.h"

namespace tandem::compute::jobs {
namespace {

namespace fs = std::filesystem;

std::string Mib(int64_t bytes) { return std::to_string((bytes + (1 << 20) - 1) >> 20) + " MiB"; }

std::string SignalName(int sig) {
  const char* abbrev = sigabbrev_np(sig);
  return abbrev != nullptr ? std::string("SIG") + abbrev : "unknown signal";
}

bool DirEmpty(const std::string& dir) {
  std::error_code ec;
  return !fs::exists(dir, ec) || fs::is_empty(dir, ec);
}

// The job owns its /opt/ml tree: it may have replaced a directory that the
// control plane reads after it ends by a symlink to a host path (its home,
// database, another job's inputs). The first such directory, or "".
std::string LinkedDirectory(const std::string& ml_dir) {
  for (const char* rel : {"code", "code/serving", "model", "output", "output/data"}) {
    struct stat st;
    const std::string p = ml_dir + "/" + rel;
    if (::lstat(p.c_str(), &st) == 0 && S_ISLNK(st.st_mode)) return rel;
  }
  return "";
}

// Times finalization's steps into Outcome::steps_us: each Mark records the
// time since the previous one under its name (added up if named again).
class StepTimer {
 public:
  StepTimer(Clock& clock, Json& steps)
      : clock_(clock), steps_(steps), last_(clock.MonotonicMicros()) {}
  void Mark(const std::string& step) {
    const int64_t now = clock_.MonotonicMicros();
    steps_[step] = steps_.value(step, int64_t{0}) + (now - last_);
    last_ = now;
  }

 private:
  Clock& clock_;
  Json& steps_;
  int64_t last_;
};

// Packs `dir` and stores it under `key` (steps `<step>_pack`, `<step>_store`). InvalidArgument (refused entries)
// is the job's fault; other errors are infrastructure.
//
// Cheap on the control plane's CPU, which a job's end pays for (issue 16:
// <= 5% over running the trainer directly): gzip's fastest level (a 550 KB
// XGBoost model: ~6 ms instead of ~20, for a ~25% larger archive), and the
// packed file is handed to the store (AdoptBlobFile: hashed, fsync'd, then
// renamed into place on the store's filesystem) instead of copied into it.
StatusOr<store::ObjectInfo> PackAndPut(const std::string& dir, const std::string& key,
                                       store::ObjectStore& store, StepTimer& timer,
                                       const std::string& step) {
  std::string tmp = dir + ".pack-" + NewUlid(Clock::Real()) + ".tar.gz";
  // Not fsync'd here: AdoptBlobFile fsyncs it once, with its new mode.
  Status packed = store::PackDirectory(dir, tmp, store::kFastestGzipLevel, /*durable=*/false);
  timer.Mark(step + "_pack");
  std::error_code ec;
  if (!packed.ok()) {
    fs::remove(tmp, ec);
    return packed;
  }
  auto blob = store.AdoptBlobFile(tmp);
  fs::remove(tmp, ec);  // still there if it was copied, or on failure
  if (!blob.ok()) return blob.status();
  auto linked = store.Link(key, blob->digest);
  timer.Mark(step + "_store");
  return linked;
}

// The archive of an empty directory is the same bytes every time (archive.h:
// fixed order, owner and mtime). Packed once per process, from the first empty
// directory met; only a success is kept.
struct EmptyArchive {
  std::string bytes;
  std::string digest;
};
absl::Mutex empty_archive_mu(absl::kConstInit);
const EmptyArchive* empty_archive ABSL_GUARDED_BY(empty_archive_mu) = nullptr;

StatusOr<EmptyArchive> EmptyArchiveOf(const std::string& empty_dir) {
  absl::MutexLock lock(&empty_archive_mu);
  if (empty_archive != nullptr) return *empty_archive;
  std::string tmp = empty_dir + ".empty-" + NewUlid(Clock::Real()) + ".tar.gz";
  Status packed = store::PackDirectory(empty_dir, tmp);
  std::ifstream in(tmp, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const bool read = !in.bad();
  std::error_code ec;
  fs::remove(tmp, ec);
  RETURN_IF_ERROR(packed);
  if (!read || bytes.empty()) return InternalError("cannot read the packed empty directory " + tmp);
  store::Sha256 h;
  h.Update(bytes);
  empty_archive = new EmptyArchive{std::move(bytes), h.FinishDigest()};  // kept for the process
  return *empty_archive;
}

// A job that wrote nothing to a directory gets the one stored empty archive
// under `key` (a name record) instead of a packed, hashed and fsync'd copy of
// it: the object is the same, for a fraction of the files created per job.
StatusOr<store::ObjectInfo> LinkEmptyArchive(const std::string& empty_dir, const std::string& key,
                                             store::ObjectStore& store) {
  ASSIGN_OR_RETURN(EmptyArchive empty, EmptyArchiveOf(empty_dir));
  auto linked = store.Link(key, empty.digest);
  if (linked.ok() || linked.status().code() != StatusCode::kNotFound) return linked;
  // Not in this store yet (or collected since): store it, then link.
  ASSIGN_OR_RETURN(store::BlobInfo put, store.PutBlobFromString(empty.bytes));
  if (put.digest != empty.digest) {
    return InternalError("the empty archive was stored as " + put.digest + ", expected " +
                         empty.digest);
  }
  return store.Link(key, empty.digest);
}

// Serving code shipped beside the training code (<source_dir>/serving/, e.g.
// a handler.py and its tandem-model.yaml) joins the model package, so a
// model is servable without its training script knowing. A name the job
// already wrote to its model directory is a conflict (InvalidArgument).
Status AddServingFiles(const std::string& code_dir, const std::string& model_dir) {
  const fs::path serving = fs::path(code_dir) / "serving";
  std::error_code ec;
  if (!fs::is_directory(serving, ec)) return OkStatus();
  for (auto it = fs::recursive_directory_iterator(serving, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    const fs::path rel = it->path().lexically_relative(serving);
    const fs::path dest = fs::path(model_dir) / rel;
    if (it->is_symlink()) {
      return InvalidArgumentError("serving/" + rel.string() + " is a symlink; ship a copy");
    }
    if (it->is_directory()) {
      fs::create_directories(dest, ec);
    } else if (fs::exists(dest, ec)) {
      return InvalidArgumentError("serving/" + rel.string() + " would overwrite " + rel.string() +
                                  ", which the job wrote to its model directory");
    } else {
      fs::copy_file(it->path(), dest, ec);
    }
    if (ec) return InternalError("copying serving/" + rel.string() + ": " + ec.message());
  }
  if (ec) return InternalError("listing " + serving.string() + ": " + ec.message());
  return OkStatus();
}

// An existing version registered by this job attempt (crash between
// registration and the state change), if any.
StatusOr<std::optional<registry::ModelVersion>> FindRegistered(registry::ModelRegistry& reg,
                                                               const std::string& model,
                                                               const JobRecord& r) {
  registry::VersionSearch search;
  search.max_results = 50;
  auto page = reg.SearchVersions(model, search);
  if (!page.ok()) {
    if (page.status().code() == StatusCode::kNotFound) return std::nullopt;
    return page.status();
  }
  for (const auto& v : page->items) {
    auto job = v.tags.find("job_id");
    auto attempt = v.tags.find("job_attempt");
    if (job != v.tags.end() && job->second == r.id && attempt != v.tags.end() &&
        attempt->second == std::to_string(r.attempt)) {
      return v;
    }
  }
  return std::nullopt;
}

Status Register(const FinalizeRequest& req, const std::string& model_digest,
                registry::ModelRegistry& reg, Outcome& out) {
  const JobRecord& r = *req.record;
  const RegisterSpec& spec = *r.spec.register_model;
  ASSIGN_OR_RETURN(auto existing, FindRegistered(reg, spec.model, r));
  registry::ModelVersion version;
  if (existing) {
    version = *existing;
  } else {
    registry::CreateVersionRequest create;
    create.name = spec.model;
    create.source = model_digest;
    create.lineage.job_id = r.id;
    create.lineage.code_digest = req.code_digest;
    create.lineage.inputs = req.input_digests;
    for (const auto& [k, v] : r.spec.hyperparameters) {
      create.lineage.hyperparameters[k] = HyperparameterString(v);
    }
    create.lineage.metrics = r.final_metrics;
    create.tags = spec.tags;
    if (r.details.contains("image")) {
      if (auto image = JobImage::FromJson(r.details["image"]); image.ok()) {
        create.lineage.image_digest = image->digest;
        create.tags["image"] = image->Pinned();  // repository@digest: where to pull it
      }
    }
    create.tags["job_id"] = r.id;
    create.tags["job_attempt"] = std::to_string(r.attempt);
    create.tags["job_name"] = r.name;
    create.tags["artifact_key"] = out.model_key;
    create.creator = r.team;
    create.owner_team = r.team;
    create.run_id = r.id;
    create.description = "trained by job " + r.name + " (" + r.id + ")";
    ASSIGN_OR_RETURN(version, reg.CreateVersion(create));
  }
  out.registered_model = spec.model;
  out.registered_version = version.version;
  if (!spec.alias.empty()) {
    RETURN_IF_ERROR(reg.SetAlias(spec.model, spec.alias, version.version).status());
    out.registered_alias = spec.alias;
  }
  return OkStatus();
}

// Uploads every regular file under `data_dir` to `<prefix>/<relative path>`
// (JobSpec::publish_prefix).
Status Publish(const std::string& data_dir, const std::string& prefix, store::ObjectStore& store) {
  std::error_code ec;
  if (!fs::is_directory(data_dir, ec)) return OkStatus();
  for (auto it = fs::recursive_directory_iterator(data_dir, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (!it->is_regular_file() || it->is_symlink()) continue;
    const std::string rel = it->path().lexically_relative(data_dir).generic_string();
    RETURN_IF_ERROR(store.PutFile(prefix + "/" + rel, it->path().string()).status());
  }
  if (ec) return InternalError("listing " + data_dir + ": " + ec.message());
  return OkStatus();
}

}  // namespace

std::string FailureReasonForUsers(const std::string& reason, const std::string& ml_dir,
                                  const std::string& home, const std::string& job_id) {
  std::string shown =
      HidePathsUnder(ReplacePath(reason, ml_dir, kSandboxBase), home, "<control-plane path>");
  if (shown != reason) LogInfo("failure reason, in full", {{"job", job_id}, {"reason", reason}});
  return shown;
}

std::string FallbackReason(const ExitInfo& e, const JobSpec& spec) {
  switch (e.kind) {
    case ExitKind::kExited:
      return "exit status " + std::to_string(e.exit_code);
    case ExitKind::kSignaled:
      return "killed by signal " + std::to_string(e.signal) + " (" + SignalName(e.signal) + ")";
    case ExitKind::kOutOfMemory:
      return "OutOfMemory: exceeded " + Mib(spec.resources.memory_mb << 20) + " (peak " +
             Mib(e.metering.peak_rss_bytes) + ")";
    case ExitKind::kTimedOut:
      return "MaxRuntimeExceeded: ran longer than " + std::to_string(spec.max_runtime_seconds) +
             " s";
    case ExitKind::kStopped:
      return "stopped";
    case ExitKind::kLost:
      return "lost: " + (e.message.empty() ? std::string("the job's process is gone") : e.message);
  }
  return e.message;
}

namespace {

// The attempt's outcome and outputs (all but the log): publishing, the
// model, output data, registration. Errors of the job's making set a Failed
// `out`; infrastructure errors are returned.
Status FinalizeOutputs(const FinalizeRequest& req, store::ObjectStore& store,
                       registry::ModelRegistry* registry, Outcome& out, StepTimer& timer) {
  const JobRecord& r = *req.record;
  const std::string prefix = "jobs/" + r.id + "/";
  const std::string linked = LinkedDirectory(req.ml_dir);
  if (!r.spec.publish_prefix.empty() && linked.empty()) {
    RETURN_IF_ERROR(Publish(req.ml_dir + "/output/data", r.spec.publish_prefix, store));
    timer.Mark("publish");
  }
  if (req.stop_requested || req.exit.kind == ExitKind::kStopped) {
    out.state = JobState::kStopped;
    return OkStatus();
  }
  if (!linked.empty()) {  // nothing of the tree is read: not its model, output or failure file
    out.state = JobState::kFailed;
    out.failure_reason = std::string(kSandboxBase) + "/" + linked +
                         " is a symlink: tandem does not follow links out of the job's directory";
    return OkStatus();
  }
  if (req.exit.kind != ExitKind::kExited || req.exit.exit_code != 0) {
    out.state = JobState::kFailed;
    std::string fallback = FallbackReason(req.exit, r.spec);
    out.failure_reason =
        req.exit.kind == ExitKind::kLost ? fallback : FailureReason(req.ml_dir, fallback);
    out.retryable = req.exit.kind != ExitKind::kLost;
    return OkStatus();
  }
  // Exit 0: the model must pack (links are not followed out of it).
  std::string model_dir = req.ml_dir + "/model";
  if (Status s = AddServingFiles(req.ml_dir + "/code", model_dir); !s.ok()) {
    if (s.code() != StatusCode::kInvalidArgument) return s;
    out.state = JobState::kFailed;
    out.failure_reason = "serving files cannot join the model: " + std::string(s.message());
    return OkStatus();
  }
  timer.Mark("serving_files");
  std::error_code ec_model;
  const bool model_empty = fs::is_directory(fs::symlink_status(model_dir, ec_model)) &&
                           fs::is_empty(model_dir, ec_model) && !ec_model;
  auto model = model_empty
                   ? LinkEmptyArchive(model_dir, prefix + "output/model.tar.gz", store)
                   : PackAndPut(model_dir, prefix + "output/model.tar.gz", store, timer, "model");
  if (model_empty) timer.Mark("model_store");
  if (!model.ok()) {
    if (model.status().code() != StatusCode::kInvalidArgument) return model.status();
    std::string msg(model.status().message());
    out.state = JobState::kFailed;
    out.failure_reason = msg.find("symlink") != std::string::npos
                             ? "model directory contains a symlink pointing outside it: " + msg
                             : "model directory cannot be packed: " + msg;
    return OkStatus();
  }
  out.model_key = model->key;
  out.model_digest = model->digest;
  std::string data_dir = req.ml_dir + "/output/data";
  // A batch transform's outputs are its published objects (SageMaker's
  // semantics); packing them again into output.tar.gz cost as much as the
  // scoring itself (11 MB of scores: 2.7 s of gzip on a loaded machine).
  const bool published_only = !r.spec.publish_prefix.empty() && r.spec.Kind() == "transform";
  if (!published_only && !DirEmpty(data_dir)) {
    auto output = PackAndPut(data_dir, prefix + "output/output.tar.gz", store, timer, "output");
    if (output.ok()) {
      out.output_key = output->key;
    } else if (output.status().code() == StatusCode::kInvalidArgument) {
      out.state = JobState::kFailed;
      out.failure_reason =
          "output/data cannot be packed: " + std::string(output.status().message());
      return OkStatus();
    } else {
      return output.status();
    }
  }
  if (r.spec.register_model && registry != nullptr) {
    Status reg = Register(req, out.model_digest, *registry, out);
    if (!reg.ok()) {
      if (reg.code() != StatusCode::kInvalidArgument && reg.code() != StatusCode::kNotFound &&
          reg.code() != StatusCode::kFailedPrecondition &&
          reg.code() != StatusCode::kAlreadyExists) {
        return reg;
      }
      out.state = JobState::kFailed;
      out.failure_reason = "model registration failed: " + std::string(reg.message());
      return OkStatus();
    }
    timer.Mark("register");
  }
  out.state = JobState::kCompleted;
  return OkStatus();
}

}  // namespace

StatusOr<Outcome> FinalizeAttempt(const FinalizeRequest& req, store::ObjectStore& store,
                                  registry::ModelRegistry* registry) {
  const JobRecord& r = *req.record;
  Outcome out;
  Clock& clock = req.clock != nullptr ? *req.clock : Clock::Real();
  StepTimer timer(clock, out.steps_us);
  // The log is stored beside the rest (on its own thread): its time is
  // mostly waiting for the disk (the store fsyncs the blob, its record and
  // their directories), as is the model's, so the two waits overlap.
  std::future<Status> log_put;
  std::atomic<int64_t> log_us{0};
  std::error_code ec;
  if (fs::exists(req.log_path, ec)) {
    out.log_key = "jobs/" + r.id + "/logs/attempt-" + std::to_string(r.attempt) + ".log";
    auto put_log = [&store, &clock, &log_us, key = out.log_key, path = req.log_path] {
      const int64_t t = clock.MonotonicMicros();
      Status s = store.PutFile(key, path).status();
      log_us = clock.MonotonicMicros() - t;
      return s;
    };
    try {
      log_put = std::async(std::launch::async, put_log);
    } catch (const std::system_error&) {  // no thread to be had: store it first
      std::promise<Status> done;
      done.set_value(put_log());
      log_put = done.get_future();
    }
  }
  Status outputs = FinalizeOutputs(req, store, registry, out, timer);
  if (log_put.valid()) {
    Status logged = log_put.get();
    timer.Mark("log_wait");  // the log's time not hidden behind the rest
    out.steps_us["log"] = log_us.load();
    RETURN_IF_ERROR(logged);
  }
  RETURN_IF_ERROR(outputs);
  return out;
}

}  // namespace tandem::compute::jobs
