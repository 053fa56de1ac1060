#include "compute/notebooks/service.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <regex>
#include <sstream>

#include "absl/synchronization/mutex.h"
#include "common/hex.h"
#include "common/log.h"
#include "common/redact_path.h"
#include "common/spec_fields.h"
#include "compute/jobs/image_launch.h"
#include "compute/notebooks/activity.h"
#include "glue/store/archive.h"

namespace tandem::compute::notebooks {
namespace {

namespace fs = std::filesystem;

constexpr int64_t kMaxRuntimeSeconds = 30LL * 24 * 3600;  // idle culling ends it far sooner

bool ValidName(const std::string& name) {
  static const std::regex kName("[a-z0-9][a-z0-9-]{0,62}");
  return std::regex_match(name, kName);
}

std::string RandomToken() {
  std::random_device rd;
  std::array<unsigned char, 24> bytes{};
  for (unsigned char& b : bytes) b = static_cast<unsigned char>(rd());
  return HexEncode(bytes.data(), bytes.size());
}

// A loopback port free right now (Jupyter binds it a moment later with
// --port-retries=0; a lost race fails the start with Jupyter's message).
StatusOr<int> FreeLoopbackPort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return InternalError("socket: " + std::string(std::strerror(errno)));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  int port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  close(fd);
  if (port == 0) return InternalError("cannot find a free loopback port");
  return port;
}

std::string SnapshotKey(const std::string& name) { return "notebooks/" + name + "/workdir.tar.gz"; }

std::string ExecDir(const std::string& home, const std::string& name, int64_t execution) {
  return home + "/notebooks/" + name + "/exec-" + std::to_string(execution);
}

std::string LogPath(const NotebookRecord& r) { return r.instance_dir + ".log"; }

std::string LogTail(const std::string& path, size_t bytes = 1500) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  return s.size() > bytes ? s.substr(s.size() - bytes) : s;
}

}  // namespace

StatusOr<NotebookServiceOptions> NotebookServiceOptions::FromConfig(const Config& config) {
  NotebookServiceOptions o;
  ASSIGN_OR_RETURN(Json section, spec::Section(config.raw, "notebooks"));
  RETURN_IF_ERROR(spec::CheckKnown(section, "notebooks.", {"idle_timeout_seconds", "jupyter"}));
  if (section.contains("idle_timeout_seconds")) {
    ASSIGN_OR_RETURN(o.default_idle_timeout_seconds,
                     spec::Integer(section["idle_timeout_seconds"],
                                   "notebooks.idle_timeout_seconds", 0, int64_t{365} * 86'400));
  }
  if (section.contains("jupyter")) {
    ASSIGN_OR_RETURN(o.jupyter_binary, spec::String(section["jupyter"], "notebooks.jupyter"));
    if (o.jupyter_binary.empty()) {
      return InvalidArgumentError("'notebooks.jupyter' must be a path, got \"\"");
    }
  }
  return o;
}

StatusOr<std::unique_ptr<NotebookService>> NotebookService::Open(NotebookServiceOptions options) {
  if (options.db == nullptr || options.outbox == nullptr || options.store == nullptr ||
      options.substrate == nullptr || options.home.empty()) {
    return InvalidArgumentError("NotebookService needs home, db, outbox, store and substrate");
  }
  Clock* clock = options.clock != nullptr ? options.clock : &Clock::Real();
  ASSIGN_OR_RETURN(auto store, NotebookStore::Open(*options.db, *options.outbox, *clock));
  return std::unique_ptr<NotebookService>(
      new NotebookService(std::move(options), std::move(store)));
}

NotebookService::NotebookService(NotebookServiceOptions options,
                                 std::unique_ptr<NotebookStore> store)
    : options_(std::move(options)),
      clock_(options_.clock != nullptr ? options_.clock : &Clock::Real()),
      store_(std::move(store)) {}

NotebookService::~NotebookService() { Shutdown(); }

void NotebookService::set_api_url(const std::string& url, const std::string& ca_file) {
  absl::MutexLock lock(&mu_);
  options_.api_url = url;
  options_.api_ca_file = ca_file;
}

std::string NotebookService::ApiUrl() {
  absl::MutexLock lock(&mu_);
  return options_.api_url;
}

void NotebookService::set_credentials(NotebookCredentials credentials) {
  absl::MutexLock lock(&mu_);
  credentials_ = std::move(credentials);
}

void NotebookService::RevokeToken(const NotebookRecord& r) {
  NotebookCredentials credentials;
  {
    absl::MutexLock lock(&mu_);
    credentials = credentials_;
  }
  if (!credentials.revoke) return;
  if (Status s = credentials.revoke(r.team, r.name); !s.ok()) {
    LogWarn("notebooks: cannot revoke the notebook's API token",
            {{"name", r.name}, {"error", std::string(s.message())}});
  }
}

void NotebookService::Start() {
  absl::MutexLock lock(&mu_);
  if (thread_.joinable()) return;
  stopping_ = false;
  thread_ = std::thread([this] { Loop(); });
}

void NotebookService::Shutdown() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  cv_.SignalAll();
  if (thread_.joinable()) thread_.join();
}

void NotebookService::Loop() {
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) return;
    }
    Tick();
    absl::MutexLock lock(&mu_);
    const absl::Time until = absl::Now() + absl::Milliseconds(options_.poll_interval_ms);
    while (!stopping_ && !wake_ && !cv_.WaitWithDeadline(&mu_, until)) {
    }
    wake_ = false;
  }
}

StatusOr<NotebookRecord> NotebookService::Get(const std::string& name) { return store_->Get(name); }

StatusOr<std::vector<NotebookRecord>> NotebookService::List(const std::string& team) {
  return store_->List(team);
}

StatusOr<std::map<std::pair<std::string, std::string>, int64_t>>
NotebookService::CountByStateAndTeam() {
  return store_->CountByStateAndTeam();
}

StatusOr<NotebookRecord> NotebookService::StartNotebook(const std::string& name,
                                                        const NotebookStartOptions& options) {
  if (!ValidName(name)) {
    return InvalidArgumentError("notebook name \"" + name +
                                "\" must be 1-63 characters of [a-z0-9-], starting with a letter "
                                "or digit");
  }
  if (options.team.empty()) return InvalidArgumentError("team must not be empty");
  const int64_t idle = options.idle_timeout_seconds.value_or(options_.default_idle_timeout_seconds);
  if (idle < 0) return InvalidArgumentError("idle_timeout_seconds must be >= 0 (0 = never cull)");
  std::optional<jobs::JobImage> image;
  if (!options.image.empty()) {
    ASSIGN_OR_RETURN(image, jobs::ResolveJobImage(options_.images, options.image,
                                                  options_.substrate->sandboxed()));
  }
  ASSIGN_OR_RETURN(int port, FreeLoopbackPort());
  bool already_active = false;
  ASSIGN_OR_RETURN(NotebookRecord record,
                   store_->Update(name, /*create=*/true, [&](NotebookRecord& r) {
                     if (IsActive(r.state)) {
                       already_active = true;
                       return OkStatus();
                     }
                     r.team = options.team;
                     r.idle_timeout_seconds = idle;
                     r.state = NotebookState::kPending;
                     r.execution += 1;
                     r.instance_dir = ExecDir(options_.home, name, r.execution);
                     r.port = port;
                     r.token = RandomToken();
                     r.handle_substrate.clear();
                     r.handle_id.clear();
                     r.stop_reason.clear();
                     r.failure_reason.clear();
                     r.started_micros = clock_->NowMicros();
                     r.stopped_micros = 0;
                     r.last_activity_micros = r.started_micros;
                     r.image_reference = image ? image->reference : "";
                     r.image_repository = image ? image->repository : "";
                     r.image_digest = image ? image->digest : "";
                     return OkStatus();
                   }));
  if (already_active) return record;
  if (options_.leases != nullptr) {
    // This control plane watches it (until it dies: jobs/loop_leases.h).
    if (Status held = options_.leases->Assign("notebook", name); !held.ok()) {
      LogWarn("cannot take the notebook's lease; the next pass does",
              {{"name", name}, {"error", std::string(held.message())}});
    }
  }
  if (Status s = Launch(record); !s.ok()) {
    LogWarn("notebook launch failed", {{"name", name}, {"error", std::string(s.message())}});
    RevokeToken(record);
    return store_->Update(name, false, [&](NotebookRecord& r) {
      r.state = NotebookState::kFailed;
      // Logged in full above; users read it without the control plane's paths.
      r.failure_reason =
          "cannot start Jupyter: " +
          HidePathsUnder(std::string(s.message()), options_.home, "<control-plane path>");
      r.stopped_micros = clock_->NowMicros();
      return OkStatus();
    });
  }
  {
    absl::MutexLock lock(&mu_);
    wake_ = true;
  }
  cv_.SignalAll();
  return store_->Get(name);
}

Status NotebookService::Launch(const NotebookRecord& record) {
  std::error_code ec;
  const std::string dir = record.instance_dir;
  fs::remove_all(dir, ec);
  for (const char* sub : {"work", "home"}) {
    fs::create_directories(dir + "/" + sub, ec);
    if (ec) return InternalError("cannot create " + dir + "/" + sub + ": " + ec.message());
  }
  // Restore the directory the last execution saved.
  if (!record.snapshot_key.empty()) {
    const std::string archive = dir + ".restore.tar.gz";
    auto info = options_.store->Stat(record.snapshot_key);
    if (info.ok()) {
      RETURN_IF_ERROR(options_.store->GetBlobToFile(info->digest, archive));
      Status unpacked = store::UnpackArchive(archive, dir + "/work", {}, record.snapshot_key);
      fs::remove(archive, ec);
      if (!unpacked.ok()) {
        return DataLossError("cannot restore " + record.snapshot_key + ": " +
                             std::string(unpacked.message()));
      }
    } else if (info.status().code() != StatusCode::kNotFound) {
      return info.status();
    }
  }
  const std::string root = options_.substrate->sandboxed() ? "/opt/ml" : dir;
  jobs::LaunchRequest req;
  req.job_id = "notebook-" + record.name;
  req.attempt = static_cast<int>(record.execution);
  req.job_dir = dir;
  req.log_path = LogPath(record);
  req.argv = {options_.jupyter_binary,
              "--no-browser",
              "--allow-root",
              "--ip=127.0.0.1",
              "--port=" + std::to_string(record.port),
              "--port-retries=0",
              "--NotebookApp.token=" + record.token,
              "--NotebookApp.password=",
              "--NotebookApp.notebook_dir=" + root + "/work"};
  const std::string home = root + "/home";
  req.env = {{"HOME", home},
             {"PATH", "/usr/local/bin:/usr/bin:/bin"},
             {"LANG", "C.UTF-8"},
             {"PYTHONUNBUFFERED", "1"},
             {"JUPYTER_CONFIG_DIR", home + "/.jupyter"},
             {"JUPYTER_DATA_DIR", home + "/.local/share/jupyter"},
             {"JUPYTER_RUNTIME_DIR", home + "/.local/share/jupyter/runtime"},
             {"IPYTHONDIR", home + "/.ipython"},
             {"MPLCONFIGDIR", home + "/.matplotlib"},
             {"TANDEM_URL", ApiUrl()},
             {"TANDEM_TEAM", record.team},
             {"TANDEM_NOTEBOOK", record.name},
             {"TANDEM_NOTEBOOK_EXECUTION", std::to_string(record.execution)}};
  NotebookCredentials credentials;
  {
    absl::MutexLock lock(&mu_);
    if (!options_.api_ca_file.empty()) {
      for (const char* var : {"TANDEM_CA_FILE", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE"}) {
        req.env[var] = options_.api_ca_file;
      }
    }
    credentials = credentials_;
  }
  if (credentials.issue) {
    // With the secrets: the runner gets it apart from the launch request.
    auto token = credentials.issue(record.team, record.name, record.execution, kMaxRuntimeSeconds);
    if (token.ok()) {
      req.secret_env["TANDEM_TOKEN"] = *std::move(token);
    } else if (token.status().code() == StatusCode::kNotFound) {
      LogWarn("notebook starts without an API token",
              {{"name", record.name}, {"team", record.team},
               {"error", std::string(token.status().message())}});
    } else {
      return Status(token.status().code(),
                    "cannot issue the notebook's API token: " + std::string(token.status().message()));
    }
  }
  if (!record.image_digest.empty()) {
    // In the image: its jupyter-notebook (on its PATH) and its environment
    // under the notebook's own variables; the substrate binds its root at /.
    jobs::JobImage image{record.image_reference, record.image_repository, record.image_digest};
    if (options_.images == nullptr) {
      return FailedPreconditionError("notebook runs in image " + image.Pinned() +
                                     " but this control plane has no image store");
    }
    ASSIGN_OR_RETURN(images::ImageConfig config, jobs::LoadImageConfig(*options_.images, image));
    req.argv[0] = "jupyter-notebook";
    std::map<std::string, std::string> env;
    for (const std::string& kv : config.env) {
      size_t eq = kv.find('=');
      if (eq != std::string::npos && eq > 0) env[kv.substr(0, eq)] = kv.substr(eq + 1);
    }
    for (auto& [k, v] : req.env) {
      if (k != "PATH" || !env.contains("PATH")) env[k] = v;
    }
    req.env = std::move(env);
    req.image_digest = image.digest;
    req.image_repository = image.repository;
  }
  req.working_dir = root + "/work";
  req.max_runtime_seconds = kMaxRuntimeSeconds;
  req.network = true;  // Jupyter must be reachable on loopback
  ASSIGN_OR_RETURN(jobs::JobHandle handle, options_.substrate->Submit(req));
  return store_
      ->Update(record.name, false,
               [&](NotebookRecord& r) {
                 r.handle_substrate = handle.substrate;
                 r.handle_id = handle.id;
                 return OkStatus();
               })
      .status();
}

StatusOr<NotebookRecord> NotebookService::StopNotebook(const std::string& name) {
  ASSIGN_OR_RETURN(NotebookRecord record, store_->Update(name, false, [&](NotebookRecord& r) {
    if (r.state == NotebookState::kPending || r.state == NotebookState::kInService) {
      r.state = NotebookState::kStopping;
      r.stop_reason = "requested";
    }
    return OkStatus();
  }));
  {
    absl::MutexLock lock(&mu_);
    wake_ = true;
  }
  cv_.SignalAll();
  return record;
}

void NotebookService::Tick() {
  absl::MutexLock tick(&tick_mu_);
  auto active = store_->ListActive();
  if (!active.ok()) {
    LogWarn("notebooks: cannot list", {{"error", std::string(active.status().message())}});
    return;
  }
  for (const NotebookRecord& r : *active) {
    if (options_.leases != nullptr) {
      // One control plane watches each notebook: the lease's holder, or a
      // survivor taking it over.
      auto held = options_.leases->Hold("notebook", r.name);
      if (!held.ok() || !*held) continue;
    }
    Watch(r);
  }
}

void NotebookService::Watch(const NotebookRecord& r) {
  if (r.handle_id.empty()) {
    // Launched by a process that died before recording the handle.
    if (clock_->NowMicros() - r.started_micros > options_.start_timeout_seconds * 1'000'000) {
      (void)store_->Update(r.name, false, [&](NotebookRecord& x) {
        x.state = NotebookState::kFailed;
        x.failure_reason = "lost: no process was recorded for this execution";
        x.stopped_micros = clock_->NowMicros();
        return OkStatus();
      });
      RevokeToken(r);
    }
    return;
  }
  const jobs::JobHandle handle{r.handle_substrate, r.handle_id};
  auto exit = options_.substrate->Poll(handle);
  if (!exit.ok()) {
    LogWarn("notebooks: poll failed",
            {{"name", r.name}, {"error", std::string(exit.status().message())}});
    return;
  }
  if (exit->has_value()) return Finish(r, **exit);

  const std::string key = r.name + "/" + std::to_string(r.execution);
  auto send_stop = [&] {
    {
      absl::MutexLock lock(&mu_);
      if (!stop_sent_.insert(key).second) return;
    }
    Status s = options_.substrate->Stop(handle, options_.stop_grace_seconds);
    if (!s.ok())
      LogWarn("notebooks: stop failed", {{"name", r.name}, {"error", std::string(s.message())}});
  };
  if (r.state == NotebookState::kStopping) return send_stop();

  auto activity = ProbeNotebook(r.port, r.token);
  const int64_t now = clock_->NowMicros();
  if (r.state == NotebookState::kPending) {
    if (activity.ok()) {
      (void)store_->Update(r.name, false, [&](NotebookRecord& x) {
        if (x.state == NotebookState::kPending && x.execution == r.execution) {
          x.state = NotebookState::kInService;
          x.last_activity_micros = std::max(x.started_micros, activity->last_activity_micros);
        }
        return OkStatus();
      });
    } else if (now - r.started_micros > options_.start_timeout_seconds * 1'000'000) {
      (void)store_->Update(r.name, false, [&](NotebookRecord& x) {
        x.state = NotebookState::kStopping;
        x.stop_reason = "start timeout";
        x.failure_reason = "Jupyter did not answer within " +
                           std::to_string(options_.start_timeout_seconds) +
                           " s: " + std::string(activity.status().message());
        return OkStatus();
      });
      send_stop();
    }
    return;
  }
  // InService.
  if (!activity.ok()) return;  // a transient failure; the process is still up
  if (IsIdle(*activity, r.started_micros, now, r.idle_timeout_seconds)) {
    LogInfo("notebook idle: stopping",
            {{"name", r.name}, {"idle_timeout_seconds", std::to_string(r.idle_timeout_seconds)}});
    (void)store_->Update(r.name, false, [&](NotebookRecord& x) {
      if (x.state == NotebookState::kInService && x.execution == r.execution) {
        x.state = NotebookState::kStopping;
        x.stop_reason = "idle";
        x.last_activity_micros = activity->last_activity_micros;
      }
      return OkStatus();
    });
    return send_stop();
  }
  if (activity->last_activity_micros > r.last_activity_micros) {
    (void)store_->Update(r.name, false, [&](NotebookRecord& x) {
      x.last_activity_micros = std::max(x.last_activity_micros, activity->last_activity_micros);
      return OkStatus();
    });
  }
}

StatusOr<std::string> NotebookService::SaveWorkdir(const NotebookRecord& r) {
  const std::string work = r.instance_dir + "/work";
  if (!fs::is_directory(work)) return NotFoundError("no working directory at " + work);
  const std::string archive = r.instance_dir + ".save.tar.gz";
  RETURN_IF_ERROR(store::PackDirectory(work, archive));
  auto info = options_.store->PutFile(SnapshotKey(r.name), archive);
  std::error_code ec;
  fs::remove(archive, ec);
  if (!info.ok()) return info.status();
  return info->digest;
}

void NotebookService::Finish(const NotebookRecord& r, const jobs::ExitInfo& exit) {
  RevokeToken(r);  // the execution is over: its token with it
  // Save first: a failure to save keeps the directory on disk and says so.
  std::string digest, save_error;
  if (auto saved = SaveWorkdir(r); saved.ok()) {
    digest = *saved;
  } else {
    save_error = std::string(saved.status().message());
  }
  if (!digest.empty()) {
    std::error_code ec;
    fs::remove_all(r.instance_dir, ec);  // saved: nothing stays between executions
  }
  const double cost = options_.cost ? options_.cost(r.team, exit.metering) : 0.0;
  auto updated = store_->Update(r.name, false, [&](NotebookRecord& x) {
    if (x.execution != r.execution || !IsActive(x.state)) return OkStatus();
    const bool asked = x.state == NotebookState::kStopping;
    if (asked && x.failure_reason.empty()) {
      x.state = NotebookState::kStopped;
    } else if (asked) {
      x.state = NotebookState::kFailed;
    } else if (x.state == NotebookState::kPending) {
      x.state = NotebookState::kFailed;
      x.failure_reason =
          "Jupyter exited before it was ready (" + exit.message + "): " + LogTail(LogPath(r), 600);
    } else {
      x.state = NotebookState::kStopped;
      x.stop_reason = exit.kind == jobs::ExitKind::kLost ? "lost" : "exited: " + exit.message;
    }
    if (!digest.empty()) {
      x.snapshot_key = SnapshotKey(r.name);
      x.snapshot_digest = digest;
    } else if (!save_error.empty()) {
      x.failure_reason += (x.failure_reason.empty() ? "" : "; ") +
                          std::string("working directory not saved (kept at ") + r.instance_dir +
                          "/work): " + save_error;
    }
    x.stopped_micros = clock_->NowMicros();
    x.port = 0;
    x.wall_seconds += exit.metering.wall_seconds;
    x.cpu_seconds += exit.metering.cpu_seconds;
    x.cost += cost;
    return OkStatus();
  });
  if (!updated.ok()) {
    LogWarn("notebooks: cannot record stop",
            {{"name", r.name}, {"error", std::string(updated.status().message())}});
    return;
  }
  {
    absl::MutexLock lock(&mu_);
    stop_sent_.erase(r.name + "/" + std::to_string(r.execution));
  }
}

}  // namespace tandem::compute::notebooks
