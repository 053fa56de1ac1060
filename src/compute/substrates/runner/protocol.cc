#include "compute/substrates/runner/protocol.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <fstream>
#include <sstream>

namespace tandem::compute::runner {

std::optional<jobs::ExitKind> ParseExitKind(std::string_view name) {
  for (jobs::ExitKind k :
       {jobs::ExitKind::kExited, jobs::ExitKind::kSignaled, jobs::ExitKind::kTimedOut,
        jobs::ExitKind::kOutOfMemory, jobs::ExitKind::kStopped, jobs::ExitKind::kLost}) {
    if (jobs::ExitKindName(k) == name) return k;
  }
  return std::nullopt;
}

namespace {

// Runs `f` (which fills a struct from JSON, throwing on missing or ill-typed
// fields) and turns the exception into a message.
template <typename F>
std::string CatchJson(std::string_view what, F f) {
  try {
    return f();
  } catch (const Json::exception& e) {
    return std::string(what) + ": " + e.what();
  }
}

}  // namespace

Json RunnerRequestToJson(const RunnerRequest& r) {
  const jobs::LaunchRequest& l = r.launch;
  return Json{
      {"job_id", l.job_id},
      {"attempt", l.attempt},
      {"job_dir", l.job_dir},
      {"log_path", l.log_path},
      {"argv", l.argv},
      {"env", l.env},
      {"working_dir", l.working_dir},
      {"resources",
       {{"cpus", l.resources.cpus},
        {"memory_mb", l.resources.memory_mb},
        {"gpus", l.resources.gpus}}},
      {"max_runtime_seconds", l.max_runtime_seconds},
      {"network", l.network},
      {"image_digest", l.image_digest},
      {"image_repository", l.image_repository},
      {"image_rootfs", r.image_rootfs},
      {"image_lock", r.image_lock},
      {"sandbox", r.sandbox},
      {"bwrap_path", r.bwrap_path},
      {"log_limit_bytes", r.log_limit_bytes},
      {"grace_seconds", r.grace_seconds},
      {"sample_interval_ms", r.sample_interval_ms},
      {"hidden_paths", r.hidden_paths},
  };
}

std::string RunnerRequestFromJson(const Json& j, RunnerRequest* out) {
  return CatchJson("runner request", [&]() -> std::string {
    RunnerRequest r;
    jobs::LaunchRequest& l = r.launch;
    l.job_id = j.at("job_id").get<std::string>();
    l.attempt = j.at("attempt").get<int>();
    l.job_dir = j.at("job_dir").get<std::string>();
    l.log_path = j.at("log_path").get<std::string>();
    l.argv = j.at("argv").get<std::vector<std::string>>();
    l.env = j.at("env").get<std::map<std::string, std::string>>();
    l.working_dir = j.at("working_dir").get<std::string>();
    const Json& res = j.at("resources");
    l.resources.cpus = res.at("cpus").get<double>();
    l.resources.memory_mb = res.at("memory_mb").get<int64_t>();
    l.resources.gpus = res.at("gpus").get<int>();
    l.max_runtime_seconds = j.at("max_runtime_seconds").get<int64_t>();
    l.network = j.at("network").get<bool>();
    l.image_digest = j.value("image_digest", "");
    l.image_repository = j.value("image_repository", "");
    r.image_rootfs = j.value("image_rootfs", "");
    r.image_lock = j.value("image_lock", "");
    r.sandbox = j.at("sandbox").get<bool>();
    r.bwrap_path = j.at("bwrap_path").get<std::string>();
    r.log_limit_bytes = j.at("log_limit_bytes").get<int64_t>();
    r.grace_seconds = j.at("grace_seconds").get<int64_t>();
    r.sample_interval_ms = j.at("sample_interval_ms").get<int64_t>();
    // Absent in requests written before paths were hidden.
    if (j.contains("hidden_paths")) {
      r.hidden_paths = j.at("hidden_paths").get<std::vector<std::string>>();
    }
    if (l.argv.empty()) return "runner request: argv is empty";
    *out = std::move(r);
    return "";
  });
}

Json ExitInfoToJson(const jobs::ExitInfo& e) {
  return Json{
      {"kind", std::string(jobs::ExitKindName(e.kind))},
      {"exit_code", e.exit_code},
      {"signal", e.signal},
      {"message", e.message},
      {"wall_seconds", e.metering.wall_seconds},
      {"cpu_seconds", e.metering.cpu_seconds},
      {"peak_rss_bytes", e.metering.peak_rss_bytes},
      {"started_micros", e.started_micros},
      {"ended_micros", e.ended_micros},
  };
}

std::string ExitInfoFromJson(const Json& j, jobs::ExitInfo* out) {
  return CatchJson("result", [&]() -> std::string {
    jobs::ExitInfo e;
    std::string kind = j.at("kind").get<std::string>();
    auto k = ParseExitKind(kind);
    if (!k) return "result: unknown exit kind \"" + kind + "\"";
    e.kind = *k;
    e.exit_code = j.at("exit_code").get<int>();
    e.signal = j.at("signal").get<int>();
    e.message = j.at("message").get<std::string>();
    e.metering.wall_seconds = j.at("wall_seconds").get<double>();
    e.metering.cpu_seconds = j.at("cpu_seconds").get<double>();
    e.metering.peak_rss_bytes = j.at("peak_rss_bytes").get<int64_t>();
    e.started_micros = j.at("started_micros").get<int64_t>();
    e.ended_micros = j.at("ended_micros").get<int64_t>();
    *out = std::move(e);
    return "";
  });
}

Json ProcessIdentityToJson(const ProcessIdentity& p) {
  return Json{{"pid", p.pid}, {"start_ticks", p.start_ticks}, {"pgid", p.pgid}};
}

std::string ProcessIdentityFromJson(const Json& j, ProcessIdentity* out) {
  return CatchJson("process identity", [&]() -> std::string {
    ProcessIdentity p;
    p.pid = j.at("pid").get<int>();
    p.start_ticks = j.at("start_ticks").get<uint64_t>();
    p.pgid = j.at("pgid").get<int>();
    if (p.pid <= 0) return "process identity: pid must be positive";
    *out = p;
    return "";
  });
}

std::string WriteFileAtomic(const std::string& path, std::string_view contents, int mode) {
  std::string tmp = path + ".tmp." + std::to_string(getpid());
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, static_cast<mode_t>(mode));
  if (fd < 0) return "create " + tmp + ": " + std::strerror(errno);
  size_t done = 0;
  while (done < contents.size()) {
    ssize_t n = write(fd, contents.data() + done, contents.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      close(fd);
      unlink(tmp.c_str());
      return "write " + tmp + ": " + std::strerror(err);
    }
    done += static_cast<size_t>(n);
  }
  close(fd);
  if (rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    unlink(tmp.c_str());
    return "rename " + tmp + ": " + std::strerror(err);
  }
  return "";
}

std::string WriteSecretsFile(const std::string& state_dir, const jobs::LaunchRequest& launch) {
  if (launch.secret_env.empty() && launch.secret_files.empty()) return "";
  Json j = {{"env", launch.secret_env}, {"files", launch.secret_files}};
  return WriteFileAtomic(state_dir + "/" + kSecretsFile, j.dump(), 0600);
}

std::string TakeSecretsFile(const std::string& state_dir, jobs::LaunchRequest* launch) {
  const std::string path = state_dir + "/" + kSecretsFile;
  std::optional<std::string> text = ReadFile(path);
  if (!text) return "";
  unlink(path.c_str());
  return CatchJson("secrets", [&]() -> std::string {
    Json j = Json::parse(*text);
    launch->secret_env = j.at("env").get<std::map<std::string, std::string>>();
    launch->secret_files = j.at("files").get<std::map<std::string, std::string>>();
    return "";
  });
}

std::optional<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string ReadJsonFile(const std::string& path, Json* out) {
  auto text = ReadFile(path);
  if (!text) return path + ": " + std::strerror(errno);
  Json j = Json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return path + ": not valid JSON";
  *out = std::move(j);
  return "";
}

int64_t WallMicros() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000 + ts.tv_nsec / 1000;
}

}  // namespace tandem::compute::runner
