#include "compute/substrates/local/substrate.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <thread>

#include "common/helper_programs.h"
#include "common/log.h"
#include "common/spec_fields.h"
#include "common/subprocess.h"
#include "compute/jobs/substrate_config.h"
#include "compute/substrates/local/warm_pool.h"
#include "compute/substrates/runner/launch.h"
#include "compute/substrates/runner/launcher.h"
#include "compute/substrates/runner/proc_stats.h"
#include "compute/substrates/runner/protocol.h"
#include "compute/substrates/runner/sandbox.h"

namespace tandem::compute::local {
namespace {

namespace fs = std::filesystem;

constexpr char kLostMessage[] = "runner vanished without a result";

bool Exists(const std::string& path) { return access(path.c_str(), F_OK) == 0; }

std::optional<int64_t> ReadStarted(const std::string& dir) {
  auto text = runner::ReadFile(dir + "/" + runner::kStartedFile);
  if (!text || text->empty()) return std::nullopt;
  return std::strtoll(text->c_str(), nullptr, 10);
}

// Status wrappers over the runner protocol's message-style errors.
Status Check(const std::string& error) { return error.empty() ? OkStatus() : InternalError(error); }

StatusOr<Json> ReadJson(const std::string& path) {
  Json j;
  if (std::string e = runner::ReadJsonFile(path, &j); !e.empty()) return NotFoundError(e);
  return j;
}

template <typename T>
StatusOr<T> FromJson(std::string (*parse)(const Json&, T*), const Json& j) {
  T out;
  if (std::string e = parse(j, &out); !e.empty()) return DataLossError(e);
  return out;
}

}  // namespace

StatusOr<LocalSubstrateOptions> LocalOptionsFromConfig(const Config& config) {
  LocalSubstrateOptions o;
  ASSIGN_OR_RETURN(Json section, spec::Section(config.raw, "compute"));
  RETURN_IF_ERROR(spec::CheckKnown(section, "compute.",
                                   {"substrate", "cpus", "sandbox", "grace_seconds",
                                    "checkpoint_sync_seconds", "image_cache_mb", "lease_seconds",
                                    "warm_sandboxes"}));
  o.warm_sandboxes = kDefaultWarmSandboxes;
  if (section.contains("warm_sandboxes")) {
    ASSIGN_OR_RETURN(int64_t n, spec::Integer(section["warm_sandboxes"], "compute.warm_sandboxes",
                                              0, kMaxWarmSandboxes));
    o.warm_sandboxes = static_cast<int>(n);
  }
  if (section.contains("image_cache_mb")) {
    ASSIGN_OR_RETURN(int64_t mb, spec::Integer(section["image_cache_mb"], "compute.image_cache_mb",
                                               1, int64_t{1} << 30));
    o.image_cache_bytes = static_cast<uint64_t>(mb) << 20;
  }
  if (section.contains("substrate")) {
    RETURN_IF_ERROR(spec::OneOf(section["substrate"], "compute.substrate", {"local"}).status());
  }
  RETURN_IF_ERROR(jobs::ReadCommonSubstrateKeys(section, o));
  return o;
}

StatusOr<std::unique_ptr<LocalSubstrate>> LocalSubstrate::Create(LocalSubstrateOptions options) {
  RETURN_IF_ERROR(jobs::ResolveRunner(options.runner_path));
  RETURN_IF_ERROR(jobs::CheckSubstrateLimits(options.log_limit_bytes, options.grace_seconds,
                                             options.capacity_cpus));
  if (!options.warm_dir.empty() &&
      (options.warm_sandboxes < 1 || options.warm_sandboxes > kMaxWarmSandboxes)) {
    return InvalidArgumentError("warm_sandboxes must be between 1 and " +
                                std::to_string(kMaxWarmSandboxes) + " with a warm_dir, got " +
                                std::to_string(options.warm_sandboxes));
  }
  ASSIGN_OR_RETURN(std::string bwrap,
                   jobs::ResolveBwrap(options.sandbox != LocalSubstrateOptions::Sandbox::kOff,
                                      options.sandbox == LocalSubstrateOptions::Sandbox::kOn,
                                      options.bwrap_path));
  double capacity = options.capacity_cpus;
  if (capacity == 0) capacity = std::max(1u, std::thread::hardware_concurrency());
  std::unique_ptr<imagefs::LayerCache> cache;
  if (options.image_source) {
    if (options.image_cache_dir.empty()) {
      return InvalidArgumentError("an image source needs an image cache directory");
    }
    imagefs::LayerCacheOptions co;
    co.dir = options.image_cache_dir;
    co.max_bytes = options.image_cache_bytes;
    ASSIGN_OR_RETURN(cache, imagefs::LayerCache::Open(co, Clock::Real()));
  }
  std::unique_ptr<LocalSubstrate> s(
      new LocalSubstrate(std::move(options), std::move(bwrap), capacity, std::move(cache)));
  s->CurrentLauncher();  // started now, not on the first job's clock
  if (!s->options_.warm_dir.empty() && !s->bwrap_path_.empty() && s->options_.prefork_launcher &&
      s->launcher_pid() != 0) {
    WarmPoolOptions wo;
    wo.dir = s->options_.warm_dir;
    wo.size = s->options_.warm_sandboxes;
    wo.spec.bwrap_path = s->bwrap_path_;
    wo.spec.network = false;
    wo.spec.hidden_paths = s->options_.hidden_paths;
    LocalSubstrate* self = s.get();
    auto pool = WarmPool::Start(std::move(wo), [self](const runner::Launcher* dead) { return self->CurrentLauncher(dead); });
    if (pool.ok()) {
      s->warm_pool_ = *std::move(pool);
    } else {
      LogWarn("no warm sandboxes (slower cold starts)",
              {{"error", std::string(pool.status().message())}});
    }
  }
  return s;
}

std::shared_ptr<runner::Launcher> LocalSubstrate::CurrentLauncher(const runner::Launcher* dead) {
  absl::MutexLock lock(&launcher_mu_);
  if (dead != nullptr && launcher_.get() == dead) launcher_.reset();  // its last user reaps it
  if (launcher_ != nullptr || launcher_disabled_ || !options_.prefork_launcher) return launcher_;
  std::string error;
  std::unique_ptr<runner::Launcher> started = runner::Launcher::Start(options_.runner_path, &error);
  if (started == nullptr) {
    launcher_disabled_ = true;
    LogWarn("cannot start the job launcher; runners are started directly (slower cold starts)",
            {{"runner", options_.runner_path}, {"error", error}});
    return nullptr;
  }
  launcher_ = std::move(started);
  return launcher_;
}

LocalSubstrate::~LocalSubstrate() = default;

pid_t LocalSubstrate::launcher_pid() {
  absl::MutexLock lock(&launcher_mu_);
  return launcher_ ? launcher_->pid() : 0;
}

LocalSubstrate::LocalSubstrate(LocalSubstrateOptions options, std::string bwrap_path,
                               double capacity, std::unique_ptr<imagefs::LayerCache> image_cache)
    : options_(std::move(options)),
      bwrap_path_(std::move(bwrap_path)),
      image_cache_(std::move(image_cache)),
      capacity_cpus_(capacity) {}

StatusOr<std::optional<imagefs::PreparedImage>> LocalSubstrate::PrepareImage(
    const jobs::LaunchRequest& r) {
  if (r.image_digest.empty()) return std::optional<imagefs::PreparedImage>();
  if (bwrap_path_.empty()) {
    return FailedPreconditionError("job " + r.job_id + " runs in image " + r.image_digest +
                                   ", which needs the sandbox (bubblewrap)");
  }
  if (image_cache_ == nullptr) {
    return FailedPreconditionError("job " + r.job_id + " runs in image " + r.image_digest +
                                   " but this substrate has no image store to pull from");
  }
  std::unique_ptr<imagefs::ImageSource> source = options_.image_source(r.image_repository);
  auto image = image_cache_->Prepare(r.image_digest, *source);
  if (!image.ok()) {
    return Annotate(image.status(), "preparing image " + r.image_repository + "@" + r.image_digest);
  }
  return std::optional<imagefs::PreparedImage>(std::move(*image));
}

Status LocalSubstrate::Validate(const jobs::LaunchRequest& r) const {
  return jobs::ValidateLaunchRequest(r);
}

StatusOr<jobs::JobHandle> LocalSubstrate::Submit(const jobs::LaunchRequest& request) {
  RETURN_IF_ERROR(Validate(request));
  ASSIGN_OR_RETURN(std::string dir, jobs::AttemptStateDir(request, options_.state_root, ".runner"));
  // Before the attempt directory: a refused image leaves nothing behind. The
  // lease is held until the runner has taken its own lock on the image.
  ASSIGN_OR_RETURN(std::optional<imagefs::PreparedImage> image, PrepareImage(request));
  RETURN_IF_ERROR(jobs::CreateAttemptDir(request, dir));
  RETURN_IF_ERROR(Check(runner::WriteRunnerRequest(dir, request, bwrap_path_, options_,
                                                   image ? image->rootfs() : "",
                                                   image ? image->lock_path() : "")));
  Status spawned;
  const bool warm = SpawnWarm(request, image.has_value(), dir, &spawned);
  if (!warm) spawned = Spawn(dir);
  std::error_code ec;
  fs::remove(dir + "/" + runner::kSecretsFile, ec);  // the runner took it already, or never will
  if (!spawned.ok()) {
    fs::remove_all(dir, ec);  // nothing ran: the same attempt may be submitted again
    return spawned;
  }
  // The runner wrote runner.json before it let Spawn return.
  if (auto j = ReadJson(dir + "/" + runner::kRunnerFile); j.ok()) {
    if (auto identity = FromJson(runner::ProcessIdentityFromJson, *j); identity.ok()) {
      WatchRunner(dir, *identity);
    }
  }
  jobs::JobHandle handle{"local", dir};
  handle.warm_sandbox = warm;
  return handle;
}

StatusOr<std::optional<jobs::JobHandle>> LocalSubstrate::FindLaunched(
    const jobs::LaunchRequest& request) {
  if (!jobs::ValidJobId(request.job_id) || request.attempt < 1 || request.job_dir.empty() ||
      request.job_dir[0] != '/') {
    return InvalidArgumentError("FindLaunched needs a valid job id, attempt >= 1 and an absolute "
                                "job_dir");
  }
  // As AttemptStateDir names it (without creating the root).
  const std::string root = options_.state_root.empty()
                               ? (fs::path(request.job_dir).parent_path() / ".runner").string()
                               : options_.state_root;
  const std::string dir = root + "/" + request.job_id + "-" + std::to_string(request.attempt);
  if (!Exists(dir + "/" + runner::kRequestFile)) return std::optional<jobs::JobHandle>();
  if (Exists(dir + "/" + runner::kRunnerFile)) {
    return std::optional<jobs::JobHandle>(jobs::JobHandle{"local", dir});
  }
  // Cut short before the runner announced itself (Submit returns only once
  // it wrote runner.json). A runner still starting would write it any
  // moment: move the directory away first, so that it cannot (it writes by
  // path and fails before running anything), then look once more.
  const std::string abandoned = dir + ".abandoned";
  std::error_code ec;
  fs::remove_all(abandoned, ec);
  if (::rename(dir.c_str(), abandoned.c_str()) != 0) {
    return InternalError("cannot fence attempt directory " + dir + ": " + std::strerror(errno));
  }
  if (Exists(abandoned + "/" + runner::kRunnerFile)) {  // it had just started: keep it
    if (::rename(abandoned.c_str(), dir.c_str()) != 0) {
      return InternalError("cannot restore attempt directory " + dir + ": " +
                           std::strerror(errno));
    }
    return std::optional<jobs::JobHandle>(jobs::JobHandle{"local", dir});
  }
  fs::remove_all(abandoned, ec);  // nothing ran: the attempt may be submitted again
  return std::optional<jobs::JobHandle>();
}

bool LocalSubstrate::SetEndedCallback(std::function<void()> ended) {
  std::unique_ptr<ExitWatcher> old;
  bool watching = false;
  {
    absl::MutexLock lock(&mu_);
    old = std::move(watcher_);
    ended_ = std::move(ended);
    if (ended_) {
      auto w = ExitWatcher::Create(ended_);
      if (w.ok()) {
        watcher_ = *std::move(w);
      } else {
        LogWarn("cannot watch job runners; ends are noticed by polling",
                {{"error", std::string(w.status().message())}});
      }
    }
    watching = watcher_ != nullptr;
  }
  old.reset();  // joins its thread outside the lock
  return watching;
}

void LocalSubstrate::WatchRunner(const std::string& state_dir,
                                 const runner::ProcessIdentity& runner) {
  std::function<void()> call_now;
  {
    absl::MutexLock lock(&mu_);
    if (watcher_ == nullptr) return;
    if (!watcher_->Watch(state_dir, runner.pid, runner.start_ticks)) call_now = ended_;
  }
  if (call_now) call_now();
}

bool LocalSubstrate::SpawnWarm(const jobs::LaunchRequest& request, bool has_image,
                               const std::string& state_dir, Status* spawned) {
  // Input channels (maybe links to the store's blobs) go into the slot's
  // input/data, which the warm sandbox binds read-only (warm_pool.h).
  if (warm_pool_ == nullptr || has_image || request.network || !request.secret_files.empty()) {
    return false;
  }
  std::unique_ptr<WarmSandbox> warm = warm_pool_->Take();
  if (warm == nullptr) return false;  // none ready: the pool refills meanwhile
  if (Status staged = warm->Stage(request.job_dir); !staged.ok()) {
    LogWarn("cannot stage a job into a warm sandbox; it starts its own",
            {{"job", request.job_id}, {"error", std::string(staged.message())}});
    return false;
  }
  std::string error;
  switch (warm->Run(state_dir, &error)) {
    case WarmSandbox::Outcome::kStarted:
      warm_starts_.fetch_add(1);
      *spawned = OkStatus();
      return true;
    case WarmSandbox::Outcome::kRunnerFailed:
      *spawned = InternalError("tandem-job-runner failed to start the job: " + error);
      return true;
    case WarmSandbox::Outcome::kNotRun:
      LogWarn("a warm sandbox did not take the job; it starts its own",
              {{"job", request.job_id}, {"error", error}});
      // A warm runner killed after it took the secrets file and before it
      // said so: the runner started next needs it again.
      if (std::string e = runner::WriteSecretsFile(state_dir, request); !e.empty()) {
        *spawned = InternalError(e);
        return true;
      }
      return false;
  }
  return false;
}

Status LocalSubstrate::Spawn(const std::string& state_dir) {
  if (std::shared_ptr<runner::Launcher> launcher = CurrentLauncher()) {
    std::string error;
    switch (launcher->Launch(state_dir, &error)) {
      case runner::Launcher::Outcome::kStarted:
        return OkStatus();
      case runner::Launcher::Outcome::kRunnerFailed:
        return InternalError("tandem-job-runner failed to start the job: " + error);
      case runner::Launcher::Outcome::kRefused:
        return InternalError("the job launcher refused " + state_dir + ": " + error);
      case runner::Launcher::Outcome::kLauncherGone:
        // Nothing was forked: start this runner directly, and a new
        // launcher for the next job.
        LogWarn("the job launcher is gone; starting a new one",
                {{"pid", std::to_string(launcher->pid())}, {"error", error}});
        CurrentLauncher(launcher.get());
        break;
    }
  }
  // A new session: the runner outlives the control plane's process group.
  std::string error = runner::StartRunner(options_.runner_path, state_dir, /*new_session=*/true);
  return error.empty() ? OkStatus() : InternalError(error);
}

StatusOr<std::string> LocalSubstrate::StateDir(const jobs::JobHandle& handle) const {
  if (handle.substrate != "local") {
    return InvalidArgumentError("handle of substrate \"" + handle.substrate +
                                "\" given to the local substrate");
  }
  if (handle.id.empty() || handle.id[0] != '/' || !Exists(handle.id + "/" + runner::kRequestFile)) {
    return NotFoundError("no local job at \"" + handle.id + "\"");
  }
  return handle.id;
}

StatusOr<std::optional<jobs::ExitInfo>> LocalSubstrate::Poll(const jobs::JobHandle& handle) {
  ASSIGN_OR_RETURN(std::string dir, StateDir(handle));
  const std::string result = dir + "/" + runner::kResultFile;
  if (Exists(result)) {
    ASSIGN_OR_RETURN(Json j, ReadJson(result));
    ASSIGN_OR_RETURN(jobs::ExitInfo e, FromJson(runner::ExitInfoFromJson, j));
    return std::optional<jobs::ExitInfo>(std::move(e));
  }
  {
    // A runner the exit watcher still watches has not exited (its end drops
    // it, then calls `ended`, and the caller polls again): nothing more to
    // read. The job service polls every running job every 50 ms.
    absl::MutexLock lock(&mu_);
    if (watcher_ != nullptr && watcher_->Watching(dir)) return std::optional<jobs::ExitInfo>();
  }
  auto runner_json = ReadJson(dir + "/" + runner::kRunnerFile);
  if (runner_json.ok()) {
    ASSIGN_OR_RETURN(runner::ProcessIdentity runner,
                     FromJson(runner::ProcessIdentityFromJson, *runner_json));
    if (runner::IsSameLiveProcess(runner.pid, runner.start_ticks)) {
      WatchRunner(dir, runner);  // e.g. re-attached after a restart
      return std::optional<jobs::ExitInfo>();
    }
    // It may have written its result and exited since we looked.
    if (Exists(result)) return Poll(handle);
  }
  return std::optional<jobs::ExitInfo>(MarkLost(dir));
}

jobs::ExitInfo LocalSubstrate::MarkLost(const std::string& dir) const {
  // The runner died without a result (killed, host reboot). A sandboxed job
  // died with it (--die-with-parent), an unsandboxed one got SIGKILL via
  // PDEATHSIG; finish off what is left of its process group.
  auto job_json = ReadJson(dir + "/" + runner::kJobFile);
  if (job_json.ok()) {
    if (auto job = FromJson(runner::ProcessIdentityFromJson, *job_json); job.ok()) {
      for (const runner::ProcStat& p : runner::GroupMembers(job->pgid)) {
        if (p.start_ticks >= job->start_ticks) kill(p.pid, SIGKILL);
      }
    }
  }
  jobs::ExitInfo e;
  e.kind = jobs::ExitKind::kLost;
  e.message = kLostMessage;
  e.started_micros = ReadStarted(dir).value_or(0);
  e.ended_micros = runner::WallMicros();
  // Later polls (and other control planes) see the same answer.
  if (std::string error = runner::WriteFileAtomic(dir + "/" + runner::kResultFile,
                                                  runner::ExitInfoToJson(e).dump());
      !error.empty()) {
    LogWarn("cannot record a lost job's result; later polls decide again",
            {{"state_dir", dir}, {"error", error}});
  }
  return e;
}

Status LocalSubstrate::Stop(const jobs::JobHandle& handle, int64_t grace_seconds) {
  ASSIGN_OR_RETURN(std::string dir, StateDir(handle));
  if (grace_seconds < 0) return InvalidArgumentError("grace_seconds must be >= 0");
  if (Exists(dir + "/" + runner::kResultFile)) return OkStatus();  // already over
  ASSIGN_OR_RETURN(Json j, ReadJson(dir + "/" + runner::kRunnerFile));
  ASSIGN_OR_RETURN(runner::ProcessIdentity runner, FromJson(runner::ProcessIdentityFromJson, j));
  if (!runner::IsSameLiveProcess(runner.pid, runner.start_ticks)) return OkStatus();  // Poll: lost
  sigval value{};
  value.sival_int = static_cast<int>(std::min<int64_t>(grace_seconds, 1 << 30));
  if (sigqueue(runner.pid, SIGTERM, value) != 0 && errno != ESRCH) {
    return InternalError("cannot signal runner " + std::to_string(runner.pid) + ": " +
                         std::strerror(errno));
  }
  return OkStatus();
}

std::optional<int64_t> LocalSubstrate::StartedMicros(const jobs::JobHandle& handle) {
  auto dir = StateDir(handle);
  if (!dir.ok()) return std::nullopt;
  return ReadStarted(*dir);
}

}  // namespace tandem::compute::local
