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

HostOpt InspectHostOpt(const std::string& opt_dir) { return InspectHostDir(opt_dir); }

HostOpt InspectHostDir(const std::string& root) {
  HostOpt h;
  h.dir = root;
  struct stat st;
  DIR* dir = opendir(root.c_str());
  if (dir == nullptr) return h;
  while (dirent* e = readdir(dir)) {
    std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    HostOptEntry entry{name, false, ""};
    std::string path = root + "/" + name;
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

void ClassifyHiddenPaths(const std::vector<std::string>& paths, std::vector<std::string>* dirs,
                         std::vector<std::string>* files) {
  for (const std::string& p : paths) {
    if (p.empty() || p[0] != '/' || p.find_first_not_of('/') == std::string::npos) continue;
    struct stat st;
    if (stat(p.c_str(), &st) != 0) continue;
    (S_ISDIR(st.st_mode) ? dirs : files)->push_back(p);
  }
  // A path under a hidden directory is hidden already; mounting over it would
  // only leave an empty mount point naming it in the hidden directory.
  auto covered = [&](const std::string& p) {
    for (const std::string& d : *dirs) {
      std::string prefix = d.back() == '/' ? d : d + "/";
      if (p != d && p.starts_with(prefix)) return true;
    }
    return false;
  };
  std::vector<std::string> kept_dirs;
  for (const std::string& d : *dirs) {
    if (!covered(d)) kept_dirs.push_back(d);
  }
  std::erase_if(*files, covered);
  *dirs = std::move(kept_dirs);
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
  if (!spec.secret_files.empty()) {
    c.insert(c.end(), {"--tmpfs", "/run"});
    for (const HostOptEntry& e : spec.host_run.entries) {
      if (e.name == "secrets") continue;
      std::string path = "/run/" + e.name;
      if (e.is_symlink) {
        c.insert(c.end(), {"--symlink", e.symlink_target, path});
      } else {
        c.insert(c.end(), {"--ro-bind-try", spec.host_run.dir + "/" + e.name, path});
      }
    }
    for (const auto& [fd, name] : spec.secret_files) {
      c.insert(c.end(), {"--perms", "0400", "--ro-bind-data", std::to_string(fd),
                         std::string(jobs::kSecretsDir) + "/" + name});
    }
  }
  // Hidden before anything is bound from the host's view (bind sources are
  // looked up on the host, so the job's own directory under a hidden home
  // still appears at /opt/ml).
  // An image's root shows nothing of the host but what is bound below (and
  // has no mount points for host paths): nothing to hide there.
  if (spec.rootfs.empty()) {
    for (const std::string& d : spec.hidden_dirs) c.insert(c.end(), {"--tmpfs", d});
    for (const std::string& f : spec.hidden_files) {
      c.insert(c.end(), {"--ro-bind", "/dev/null", f});
    }
  }
  // Bound from the host's view: a helper directory under /tmp or /opt is
  // still reachable although the sandbox replaced both.
  if (!spec.helper_dir.empty()) {
    c.insert(c.end(), {"--ro-bind", spec.helper_dir, jobs::kHelperDir});
  }
  // The job's tree is writable but for its input channels: read-only, so a
  // store blob the job service hard-linked there (jobs::Substrate::
  // inputs_read_only) cannot be written, chmod'ed, removed or renamed.
  c.insert(c.end(), {"--bind", spec.job_dir, jobs::kSandboxBase, "--ro-bind-try",
                     spec.job_dir + "/input/data", std::string(jobs::kSandboxBase) + "/input/data"});
  c.insert(c.end(),
           {"--chdir",
            spec.working_dir.empty() ? std::string(jobs::kSandboxBase) : spec.working_dir, "--"});
  c.insert(c.end(), spec.argv.begin(), spec.argv.end());
  return c;
}

}  // namespace tandem::compute::runner
