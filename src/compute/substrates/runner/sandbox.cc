#include "compute/substrates/runner/sandbox.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <sstream>
#include <string_view>

#include "compute/jobs/contract.h"

namespace tandem::compute::runner {

static_assert(std::string_view(jobs::kSandboxBase).starts_with("/opt/") &&
                  std::string_view(jobs::kHelperDir).starts_with("/opt/"),
              "the sandbox's mount points live in its /opt tmpfs");

std::string OwnDirectory() {
  char buf[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf));
  if (n <= 0 || static_cast<size_t>(n) >= sizeof(buf)) return "";
  std::string self(buf, static_cast<size_t>(n));
  size_t slash = self.rfind('/');
  if (slash == std::string::npos) return "";
  return slash == 0 ? "/" : self.substr(0, slash);
}

HostOpt InspectHostOpt(const std::string& opt_dir) {
  HostOpt h;
  h.dir = opt_dir;
  struct stat st;
  DIR* dir = opendir(opt_dir.c_str());
  if (dir == nullptr) return h;
  while (dirent* e = readdir(dir)) {
    std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    HostOptEntry entry{name, false, ""};
    std::string path = opt_dir + "/" + name;
    if (lstat(path.c_str(), &st) == 0 && S_ISLNK(st.st_mode)) {
      char buf[PATH_MAX];
      ssize_t n = readlink(path.c_str(), buf, sizeof(buf));
      if (n < 0) continue;
      entry.is_symlink = true;
      entry.symlink_target.assign(buf, static_cast<size_t>(n));
    }
    h.entries.push_back(std::move(entry));
  }
  closedir(dir);
  std::sort(h.entries.begin(), h.entries.end(),
            [](const HostOptEntry& a, const HostOptEntry& b) { return a.name < b.name; });
  return h;
}

std::vector<std::string> BwrapCommand(const SandboxSpec& spec, const HostOpt& host_opt) {
  std::vector<std::string> c = {spec.bwrap_path, "--die-with-parent", "--new-session",
                                "--unshare-pid", "--unshare-ipc",     "--unshare-uts",
                                "--hostname",    jobs::kCurrentHost};
  if (!spec.network) c.push_back("--unshare-net");
  const std::string root = spec.rootfs.empty() ? "/" : spec.rootfs;
  c.insert(c.end(), {"--ro-bind", root, "/"});
  for (const char* a : {"--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp"}) c.push_back(a);
  // A read-only / has no room for the mount points under /opt: put a tmpfs on
  // /opt and re-expose the host's /opt entries in it, but for the two the
  // job's own replace.
  c.insert(c.end(), {"--tmpfs", "/opt"});
  const std::string ml = std::string(jobs::kSandboxBase).substr(5);  // "ml"
  const std::string helpers = std::string(jobs::kHelperDir).substr(5);
  for (const HostOptEntry& e : host_opt.entries) {
    if (e.name == ml || e.name == helpers) continue;
    std::string path = "/opt/" + e.name;
    if (e.is_symlink) {
      c.insert(c.end(), {"--symlink", e.symlink_target, path});
    } else {
      // -try: an entry removed between the listing and bubblewrap's mount
      // (other software's scratch directories come and go) is skipped
      // instead of failing the job with bubblewrap's exit status 1.
      c.insert(c.end(), {"--ro-bind-try", host_opt.dir + "/" + e.name, path});
    }
  }
  // Bound from the host's view: a helper directory under /tmp or /opt is
  // still reachable although the sandbox replaced both.
  if (!spec.helper_dir.empty()) {
    c.insert(c.end(), {"--ro-bind", spec.helper_dir, jobs::kHelperDir});
  }
  c.insert(c.end(),
           {"--bind", spec.job_dir, jobs::kSandboxBase, "--chdir",
            spec.working_dir.empty() ? std::string(jobs::kSandboxBase) : spec.working_dir, "--"});
  c.insert(c.end(), spec.argv.begin(), spec.argv.end());
  return c;
}

}  // namespace tandem::compute::runner
