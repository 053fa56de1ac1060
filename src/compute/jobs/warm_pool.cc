#include "compute/jobs/warm_pool.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/ids.h"
#include "common/json.h"
#include "common/log.h"
#include "glue/store/sha256.h"

namespace tandem::compute::jobs {
namespace {

namespace fs = std::filesystem;

struct Meta {
  std::string origin;
  int64_t retained_micros = 0;
  int64_t expires_micros = 0;
  Json info = Json::object();
};

std::optional<Meta> ReadMeta(const fs::path& entry) {
  std::ifstream in(entry / "meta.json");
  if (!in) return std::nullopt;
  std::stringstream ss;
  ss << in.rdbuf();
  auto j = ParseJson(ss.str());
  if (!j.ok() || !j->is_object()) return std::nullopt;
  Meta m;
  m.origin = j->value("origin_job_id", "");
  m.retained_micros = j->value("retained_micros", int64_t{0});
  m.expires_micros = j->value("expires_micros", int64_t{0});
  if (j->contains("info")) m.info = (*j)["info"];
  return m;
}

WarmRelease Released(const std::string& key, const Meta& m, int64_t now) {
  return WarmRelease{key, m.origin, static_cast<double>(now - m.retained_micros) / 1e6, m.info};
}

Status Move(const fs::path& from, const fs::path& to) {
  std::error_code ec;
  fs::rename(from, to, ec);
  if (ec)
    return InternalError("rename " + from.string() + " to " + to.string() + ": " + ec.message());
  return OkStatus();
}

}  // namespace

WarmPool::WarmPool(std::string dir, Clock& clock) : dir_(std::move(dir)), clock_(clock) {
  std::error_code ec;
  fs::create_directories(dir_, ec);
}

std::string WarmPool::Key(const std::string& source_id,
                          const std::map<std::string, std::string>& channel_ids,
                          const Resources& r, const std::string& team) {
  store::Sha256 h;
  h.Update("team=" + team + "\n");
  h.Update("source=" + source_id + "\n");
  for (const auto& [c, d] : channel_ids) h.Update("channel=" + c + "=" + d + "\n");
  h.Update("resources=" + std::to_string(r.cpus) + "," + std::to_string(r.memory_mb) + "," +
           std::to_string(r.gpus) + "\n");
  return h.FinishHex();
}

StatusOr<std::optional<WarmRelease>> WarmPool::Retain(
    const std::string& key, const std::string& code_dir, const std::string& data_dir,
    int64_t keep_alive_seconds, const std::string& origin_job_id, const Json& info) {
  int64_t now = clock_.NowMicros();
  fs::path staging = fs::path(dir_) / (".retain-" + NewUlid(clock_));
  std::error_code ec;
  fs::create_directories(staging, ec);
  if (ec) return InternalError("create " + staging.string() + ": " + ec.message());
  Status s = Move(code_dir, staging / "code");
  if (s.ok()) s = Move(data_dir, staging / "data");
  if (s.ok()) {
    Json meta = {{"origin_job_id", origin_job_id},
                 {"retained_micros", now},
                 {"expires_micros", now + keep_alive_seconds * 1'000'000},
                 {"info", info}};
    std::ofstream out(staging / "meta.json");
    out << meta.dump();
    if (!out) s = InternalError("write " + (staging / "meta.json").string());
  }
  if (!s.ok()) {
    fs::remove_all(staging, ec);
    return s;
  }
  std::optional<WarmRelease> replaced;
  fs::path entry = fs::path(dir_) / key;
  if (fs::exists(entry, ec)) {
    fs::path old = fs::path(dir_) / (".old-" + NewUlid(clock_));
    if (Move(entry, old).ok()) {
      if (auto m = ReadMeta(old)) replaced = Released(key, *m, now);
      fs::remove_all(old, ec);
    }
  }
  RETURN_IF_ERROR(Move(staging, entry));
  return replaced;
}

StatusOr<std::optional<WarmRelease>> WarmPool::Take(const std::string& key,
                                                    const std::string& code_dir,
                                                    const std::string& data_dir) {
  int64_t now = clock_.NowMicros();
  fs::path entry = fs::path(dir_) / key;
  fs::path claimed = fs::path(dir_) / (".take-" + NewUlid(clock_));
  std::error_code ec;
  fs::rename(entry, claimed, ec);
  if (ec) return std::optional<WarmRelease>();  // no entry (or another job took it)
  auto meta = ReadMeta(claimed);
  if (!meta || meta->expires_micros <= now) {
    fs::remove_all(claimed, ec);
    return std::optional<WarmRelease>();
  }
  Status s = Move(claimed / "code", code_dir);
  if (s.ok()) s = Move(claimed / "data", data_dir);
  fs::remove_all(claimed, ec);
  if (!s.ok()) return s;
  return std::optional<WarmRelease>(Released(key, *meta, now));
}

std::vector<WarmRelease> WarmPool::Expire() {
  std::vector<WarmRelease> out;
  int64_t now = clock_.NowMicros();
  std::error_code ec;
  std::vector<fs::path> entries;
  for (fs::directory_iterator it(dir_, ec), end; !ec && it != end; it.increment(ec)) {
    entries.push_back(it->path());
  }
  for (const fs::path& path : entries) {
    std::string name = path.filename().string();
    if (name.starts_with(".")) {
      // Leftovers of an interrupted retain/take, older than a minute.
      auto age = fs::file_time_type::clock::now() - fs::last_write_time(path, ec);
      if (!ec && age > std::chrono::minutes(1)) fs::remove_all(path, ec);
      continue;
    }
    auto meta = ReadMeta(path);
    if (meta && meta->expires_micros > now) continue;
    fs::path doomed = fs::path(dir_) / (".expired-" + NewUlid(clock_));
    if (!Move(path, doomed).ok()) continue;
    if (meta) out.push_back(Released(name, *meta, now));
    fs::remove_all(doomed, ec);
    LogInfo("warm pool entry expired", {{"key", name}});
  }
  return out;
}

}  // namespace tandem::compute::jobs
