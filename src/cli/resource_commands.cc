#include "cli/resource_commands.h"

#include <algorithm>
#include <chrono>
#include <iostream>
#include <memory>
#include <thread>

#include "common/clock.h"
#include "common/ids.h"
#include "common/uri.h"
#include "common/yaml.h"
#include "glue/store/archive.h"

namespace tandem::cli {

namespace fs = std::filesystem;

bool IsTerminalState(std::string_view state) {
  return state == "Completed" || state == "Failed" || state == "Stopped";
}

std::string ResolveLocal(const std::string& value, const fs::path& spec_dir) {
  if (value.empty() || value.starts_with("sha256:") || value.find("://") != std::string::npos ||
      value.starts_with("/")) {
    return value;
  }
  std::error_code ec;
  fs::path candidate = fs::weakly_canonical(spec_dir / value, ec);
  if (!ec && fs::exists(candidate, ec)) return candidate.string();
  return value;  // not local: an object-store key
}

StatusOr<Json> ReadSpecFile(const std::string& file, std::string_view kind) {
  std::error_code ec;
  if (!fs::is_regular_file(file, ec)) return NotFoundError("no such spec file: " + file);
  auto spec = ReadYamlFile(file);
  if (!spec.ok()) return spec.status();  // names the file already
  if (!spec->is_object()) {
    return InvalidArgumentError(file + ": a " + std::string(kind) + " must be a mapping");
  }
  return spec;
}

namespace {

Status UploadFile(ApiClient& client, const std::string& key, const std::string& file) {
  auto up = client.Upload("/api/v1/artifacts/" + PercentEncode(key), file);
  if (!up.ok()) return Annotate(up.status(), "uploading " + file + " to " + key);
  return OkStatus();
}

}  // namespace

StatusOr<std::string> UploadLocal(ApiClient& client, const std::string& path,
                                  const std::string& prefix, std::string_view what) {
  std::error_code ec;
  auto st = fs::status(path, ec);
  if (ec || !fs::exists(st)) {
    return NotFoundError(std::string(what) + ": no such file or directory: " + path);
  }
  if (fs::is_regular_file(st)) {
    const std::string key = prefix + "/" + fs::path(path).filename().string();
    RETURN_IF_ERROR(UploadFile(client, key, path));
    return key;
  }
  if (!fs::is_directory(st)) {
    return InvalidArgumentError(std::string(what) + ": " + path +
                                " is neither a file nor a directory");
  }
  const fs::path root = fs::canonical(path, ec);
  if (ec) return InvalidArgumentError(std::string(what) + ": cannot resolve " + path);
  std::vector<fs::path> files;
  for (auto it = fs::recursive_directory_iterator(root, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (it->is_symlink()) {  // in-tree links are uploaded as copies; none may leave the tree
      fs::path target = fs::weakly_canonical(it->path(), ec);
      auto rel = target.lexically_relative(root);
      if (ec || rel.empty() || *rel.begin() == "..") {
        return InvalidArgumentError(std::string(what) + ": symlink " + it->path().string() +
                                    " points outside " + path);
      }
      if (fs::is_regular_file(target, ec)) files.push_back(it->path());
      continue;
    }
    if (it->is_regular_file()) files.push_back(it->path());
  }
  if (ec) return InternalError(std::string(what) + ": listing " + path + ": " + ec.message());
  if (files.empty()) return InvalidArgumentError(std::string(what) + ": " + path + " has no files");
  std::sort(files.begin(), files.end());
  for (const fs::path& f : files) {
    RETURN_IF_ERROR(
        UploadFile(client, prefix + "/" + f.lexically_relative(root).generic_string(), f.string()));
  }
  return prefix;
}

std::string UploadPrefix(const Json& spec, std::string_view what) {
  std::string team = spec.contains("team") && spec["team"].is_string()
                         ? spec["team"].get<std::string>()
                         : std::string("default");
  return "teams/" + team + "/uploads/" + NewUlid(Clock::Real()) + "/" + std::string(what);
}

Status PrepareJobFields(ApiClient& client, Json& job, const fs::path& spec_dir,
                        std::string_view field) {
  if (job.contains("inputs") && job["inputs"].is_object()) {
    for (auto& [channel, value] : job["inputs"].items()) {
      if (!value.is_string()) continue;
      std::string v = ResolveLocal(value.get<std::string>(), spec_dir);
      if (v.starts_with("file://")) v = v.substr(7);
      if (v.starts_with("/")) {  // the control plane reads no local paths: upload them
        ASSIGN_OR_RETURN(v, UploadLocal(client, v, UploadPrefix(job, "inputs/" + channel),
                                        std::string(field) + "inputs." + channel));
      }
      value = v;
    }
  }
  if (!job.contains("source_dir") || !job["source_dir"].is_string()) return OkStatus();
  std::string src = ResolveLocal(job["source_dir"].get<std::string>(), spec_dir);
  if (src.starts_with("file://")) src = src.substr(7);
  if (src.starts_with("/")) {
    std::error_code ec;
    if (!fs::is_directory(src, ec)) {
      return InvalidArgumentError(std::string(field) + "source_dir " + src + " is not a directory");
    }
    // Ship the code: the control plane may not see this filesystem.
    fs::path tmp =
        fs::temp_directory_path() / ("tandem-source-" + NewUlid(Clock::Real()) + ".tar.gz");
    Status packed = store::PackDirectory(src, tmp.string());
    if (!packed.ok()) return Annotate(packed, "packing source_dir " + src);
    std::string key = "jobs/uploads/" + NewUlid(Clock::Real()) + "/source.tar.gz";
    auto up = client.Upload("/api/v1/artifacts/" + PercentEncode(key), tmp.string());
    fs::remove(tmp, ec);
    if (!up.ok()) return Annotate(up.status(), "uploading source_dir");
    src = key;
  }
  job["source_dir"] = src;
  return OkStatus();
}

void PrintCreated(std::ostream& out, Format format, const Json& created, const std::string& key) {
  if (format == Format::kTable) {
    out << created.value(key, "") << std::endl;
  } else {
    PrintObject(out, format, created);
  }
}

Status SubmitSpec(ApiClient& client, Format format, const std::string& path, const Json& spec,
                  bool wait, const std::function<Status(const std::string& id)>& wait_for) {
  ASSIGN_OR_RETURN(Json created, client.Call("POST", path, spec));
  const std::string id = created.value("id", "");
  if (!wait) {
    PrintCreated(std::cout, format, created, "id");
    return OkStatus();
  }
  std::cerr << "==> submitted " << id << std::endl;
  return wait_for(id);
}

namespace {
constexpr int64_t kLongPollMs = 10'000;
}  // namespace

std::string LongPollQuery(const std::string& state) {
  if (state.empty()) return "";
  return "state=" + PercentEncode(state, "-._~") + "&wait_ms=" + std::to_string(kLongPollMs);
}

bool AnsweredWithoutWaiting(int64_t elapsed_ms) { return elapsed_ms < 100; }

StatusOr<Json> PollUntilEnded(ApiClient& client, const std::string& path, Progress& progress,
                              const std::function<std::string(const Json&)>& summary,
                              bool long_poll) {
  std::string state;
  while (true) {
    std::string query = long_poll ? LongPollQuery(state) : "";
    const auto asked = std::chrono::steady_clock::now();
    ASSIGN_OR_RETURN(Json object, client.Call("GET", query.empty() ? path : path + "?" + query));
    const int64_t elapsed_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::steady_clock::now() - asked)
                                   .count();
    std::string now = object.value("state", "");
    progress.Update(summary(object));
    if (IsTerminalState(now)) {
      progress.Done(now);
      return object;
    }
    progress.Tick();
    // Not waiting: polling, or an unchanged answer that came at once (a
    // control plane without long polls, or all of its long polls taken).
    const bool sleep = !long_poll || (!query.empty() && now == state &&
                                      AnsweredWithoutWaiting(elapsed_ms));
    if (sleep) std::this_thread::sleep_for(std::chrono::milliseconds(250));
    state = now;
  }
}

Status Outcome(std::string_view what, const std::string& id, const Json& object) {
  std::string state = object.value("state", "");
  if (state == "Completed") return OkStatus();
  return FailedPreconditionError(std::string(what) + " " + id + " " + state +
                                 (object.contains("failure_reason")
                                      ? ": " + object["failure_reason"].get<std::string>()
                                      : std::string()));
}

void AddObjectCommand(CLI::App* parent, Context& ctx, const std::string& name,
                      const std::string& help, const std::string& method,
                      const std::string& arg_help, const std::string& footer,
                      std::function<std::string(const std::string&)> path,
                      std::function<void(const std::string& id, const Json&)> table) {
  CLI::App* cmd = parent->add_subcommand(name, help);
  auto id = std::make_shared<std::string>();
  cmd->add_option("ID", *id, arg_help)->required();
  cmd->footer(footer);
  cmd->callback([&ctx, id, method, path, table] {
    Run(ctx, [&](Format f) -> Status {
      ASSIGN_OR_RETURN(Json object, ctx.Client().Call(method, path(*id)));
      if (f == Format::kTable && table) {
        table(*id, object);
      } else {
        PrintObject(std::cout, f, object);
      }
      return OkStatus();
    });
  });
}

}  // namespace tandem::cli
