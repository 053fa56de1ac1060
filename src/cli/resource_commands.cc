#include "cli/resource_commands.h"

#include <chrono>
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

Status PrepareJobFields(ApiClient& client, Json& job, const fs::path& spec_dir,
                        std::string_view field) {
  if (job.contains("inputs") && job["inputs"].is_object()) {
    for (auto& [channel, value] : job["inputs"].items()) {
      if (value.is_string()) value = ResolveLocal(value.get<std::string>(), spec_dir);
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

StatusOr<Json> PollUntilEnded(ApiClient& client, const std::string& path, Progress& progress,
                              const std::function<std::string(const Json&)>& summary) {
  while (true) {
    ASSIGN_OR_RETURN(Json object, client.Call("GET", path));
    progress.Update(summary(object));
    if (IsTerminalState(object.value("state", ""))) {
      progress.Done(object.value("state", ""));
      return object;
    }
    progress.Tick();
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
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
