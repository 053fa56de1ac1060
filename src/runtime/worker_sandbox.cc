#include "runtime/worker_sandbox.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <filesystem>

namespace tandem::runtime {
namespace {

namespace fs = std::filesystem;

// "ml" and "tandem-handler": the sandbox's own entries of /opt.
bool Reserved(const std::string& name) {
  return name == std::string(kWorkerModelDir).substr(5, 2) ||
         name == std::string(kWorkerHandlerDir).substr(5);
}

// The handler's path relative to the package directory, "" when it lies
// outside it.
std::string InsidePackage(const std::string& handler_path, const std::string& model_dir) {
  fs::path rel =
      fs::path(handler_path).lexically_normal().lexically_relative(fs::path(model_dir).lexically_normal());
  std::string r = rel.string();
  if (r.empty() || r == "." || r.starts_with("..") || rel.is_absolute()) return "";
  return r;
}

}  // namespace

WorkerPaths SandboxedPaths(const std::string& handler_path, const std::string& model_dir) {
  std::string rel = InsidePackage(handler_path, model_dir);
  if (!rel.empty()) return {kWorkerModelDir, std::string(kWorkerModelDir) + "/" + rel};
  return {kWorkerModelDir,
          std::string(kWorkerHandlerDir) + "/" + fs::path(handler_path).filename().string()};
}

std::vector<OptEntry> ImageOptEntries(const std::string& rootfs) {
  std::vector<OptEntry> out;
  const std::string opt = rootfs + "/opt";
  DIR* dir = ::opendir(opt.c_str());
  if (dir == nullptr) return out;
  while (dirent* e = ::readdir(dir)) {
    std::string name = e->d_name;
    if (name == "." || name == ".." || Reserved(name)) continue;
    OptEntry entry{name, ""};
    struct stat st;
    const std::string path = opt + "/" + name;
    if (::lstat(path.c_str(), &st) != 0) continue;
    if (S_ISLNK(st.st_mode)) {
      char buf[PATH_MAX];
      ssize_t n = ::readlink(path.c_str(), buf, sizeof(buf));
      if (n <= 0) continue;
      entry.symlink_target.assign(buf, static_cast<size_t>(n));
    }
    out.push_back(std::move(entry));
  }
  ::closedir(dir);
  std::sort(out.begin(), out.end(),
            [](const OptEntry& a, const OptEntry& b) { return a.name < b.name; });
  return out;
}

std::vector<std::string> WorkerBwrapCommand(const WorkerSandbox& sandbox,
                                            const std::string& handler_path,
                                            const std::string& model_dir,
                                            const std::vector<OptEntry>& opt_entries,
                                            const std::vector<std::string>& command) {
  std::vector<std::string> c = {sandbox.bwrap_path, "--die-with-parent", "--unshare-pid",
                                "--unshare-ipc",    "--unshare-uts",     "--ro-bind",
                                sandbox.rootfs,     "/",                 "--dev",
                                "/dev",             "--proc",            "/proc",
                                "--tmpfs",          "/tmp",              "--tmpfs",
                                "/opt"};
  for (const OptEntry& e : opt_entries) {
    if (Reserved(e.name)) continue;
    const std::string path = "/opt/" + e.name;
    if (!e.symlink_target.empty()) {
      c.insert(c.end(), {"--symlink", e.symlink_target, path});
    } else {
      c.insert(c.end(), {"--ro-bind-try", sandbox.rootfs + "/opt/" + e.name, path});
    }
  }
  c.insert(c.end(), {"--ro-bind", model_dir, kWorkerModelDir});
  if (InsidePackage(handler_path, model_dir).empty()) {
    c.insert(c.end(),
             {"--ro-bind", handler_path, SandboxedPaths(handler_path, model_dir).handler});
  }
  c.insert(c.end(), {"--chdir", sandbox.working_dir.empty() ? "/" : sandbox.working_dir, "--"});
  c.insert(c.end(), command.begin(), command.end());
  return c;
}

std::vector<std::string> WorkerEnvironment(const WorkerSandbox& sandbox,
                                           const std::map<std::string, std::string>& extra) {
  std::map<std::string, std::string> env;
  for (const std::string& kv : sandbox.image_env) {
    size_t eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) continue;
    env[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  for (const auto& [k, v] : extra) env[k] = v;
  env.try_emplace("OMP_NUM_THREADS", "1");
  env.try_emplace("HOME", "/tmp");
  std::vector<std::string> out;
  out.reserve(env.size());
  for (const auto& [k, v] : env) out.push_back(k + "=" + v);
  return out;
}

}  // namespace tandem::runtime
