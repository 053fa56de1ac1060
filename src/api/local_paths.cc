#include "api/local_paths.h"

#include <algorithm>
#include <filesystem>

#include "common/spec_fields.h"

namespace tandem::api {
namespace {

namespace fs = std::filesystem;

bool Under(const fs::path& prefix, const fs::path& p) {
  auto [a, b] = std::mismatch(prefix.begin(), prefix.end(), p.begin(), p.end());
  return a == prefix.end() || (std::next(a) == prefix.end() && a->empty());
}

std::string Canonical(const std::string& path) {
  std::error_code ec;
  fs::path c = fs::weakly_canonical(path, ec);
  return (ec ? fs::path(path).lexically_normal() : c).string();
}

// The path of a sqlite:// database or a file:// store, "" for others.
std::string LocalPathOf(const std::string& uri) {
  for (std::string_view scheme : {"sqlite://", "file://"}) {
    if (!uri.starts_with(scheme)) continue;
    std::string path = uri.substr(scheme.size());
    if (size_t q = path.find('?'); q != std::string::npos) path.resize(q);
    if (path.empty() || path[0] != '/') return "";
    return path;
  }
  return "";
}

}  // namespace

StatusOr<SecurityConfig> SecurityConfig::FromConfig(const Config& config) {
  SecurityConfig out;
  ASSIGN_OR_RETURN(Json section, spec::Section(config.raw, "security"));
  RETURN_IF_ERROR(spec::CheckKnown(section, "security.", {"allowed_local_paths", "hidden_paths"}));
  for (auto [key, list] : {std::pair{"allowed_local_paths", &out.allowed_local_paths},
                           std::pair{"hidden_paths", &out.hidden_paths}}) {
    if (!section.contains(key)) continue;
    const std::string field = std::string("security.") + key;
    if (!section[key].is_array()) return InvalidArgumentError(field + " must be a list of paths");
    for (size_t i = 0; i < section[key].size(); ++i) {
      const Json& v = section[key][i];
      std::string name = field + "[" + std::to_string(i) + "]";
      if (!v.is_string() || v.get<std::string>().empty() || v.get<std::string>()[0] != '/') {
        return InvalidArgumentError(name + " must be an absolute path");
      }
      std::string p = v.get<std::string>();
      if (fs::path(p).lexically_normal() == "/") {
        return InvalidArgumentError(name + " may not be /");
      }
      list->push_back(list == &out.allowed_local_paths ? Canonical(p) : p);
    }
  }
  return out;
}

LocalPathPolicy::LocalPathPolicy(std::vector<std::string> allowed_prefixes)
    : allowed_(std::move(allowed_prefixes)) {}

Status LocalPathPolicy::Check(std::string_view value, std::string_view what) const {
  std::string path(value);
  if (path.starts_with("file://")) path = path.substr(7);
  if (!path.starts_with("/")) return OkStatus();  // a store key or digest
  const std::string canonical = Canonical(path);
  for (const std::string& prefix : allowed_) {
    if (Under(prefix, canonical)) return OkStatus();
  }
  std::string allowed = "none is allowed";
  if (!allowed_.empty()) {
    allowed = "allowed: ";
    for (size_t i = 0; i < allowed_.size(); ++i) allowed += (i ? ", " : "") + allowed_[i];
  }
  return PermissionDeniedError(
      std::string(what) + ": the local path " + std::string(value) +
      " is refused: the control plane reads local paths only under "
      "security.allowed_local_paths (" + allowed +
      "); upload the files (the tandem CLI does) and name their object-store key");
}

Status LocalPathPolicy::CheckJobSpec(const compute::jobs::JobSpec& spec,
                                     std::string_view field) const {
  RETURN_IF_ERROR(Check(spec.source_dir, std::string(field) + "source_dir"));
  for (const auto& [channel, value] : spec.inputs) {
    RETURN_IF_ERROR(Check(value, std::string(field) + "inputs." + channel));
  }
  return OkStatus();
}

std::vector<std::string> SandboxHiddenPaths(const Config& config, const SecurityConfig& security,
                                            const EnvLookup& env) {
  std::vector<std::string> out;
  auto add = [&](const std::string& p) {
    if (p.empty() || p[0] != '/' || fs::path(p).lexically_normal() == "/") return;
    if (std::find(out.begin(), out.end(), p) == out.end()) out.push_back(p);
  };
  add(config.home);
  for (const std::string& uri : {config.database_uri, config.bus_uri}) {
    std::string db = LocalPathOf(uri);  // SQLite: the file and its WAL and shared memory
    if (db.empty()) continue;
    for (const char* suffix : {"", "-wal", "-shm", "-journal"}) add(db + suffix);
  }
  add(LocalPathOf(config.store_uri));
  // The CLI's credentials (src/cli/credentials.h).
  if (auto xdg = env.find("XDG_CONFIG_HOME"); xdg != env.end() && !xdg->second.empty()) {
    add(xdg->second + "/tandem");
  } else if (auto home = env.find("HOME"); home != env.end() && !home->second.empty()) {
    add(home->second + "/.config/tandem");
  }
  for (const std::string& p : security.hidden_paths) add(p);
  return out;
}

}  // namespace tandem::api
