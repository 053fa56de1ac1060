// The bubblewrap command line that sandboxes a job: the host filesystem
// read-only, the job directory writable at the literal /opt/ml, private
// /tmp, /dev and /proc, new pid/ipc/uts namespaces (hostname algo-1), and no
// network unless asked. Pure functions; thread-safe.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace tandem::compute::runner {

// Finds an executable `bwrap` in the colon-separated `path_env`; nullopt if none.
std::optional<std::string> FindBwrap(const std::string& path_env);

// An entry of the host's /opt, re-exposed read-only inside the sandbox when
// /opt has to be replaced by a tmpfs to hold the /opt/ml mount point.
struct HostOptEntry {
  std::string name;
  bool is_symlink = false;
  std::string symlink_target;
};

// What the host's /opt looks like: whether /opt/ml already exists (then it is
// simply bind-mounted over) and the entries of /opt otherwise.
struct HostOpt {
  bool opt_ml_exists = false;
  std::vector<HostOptEntry> entries;
};
HostOpt InspectHostOpt();

struct SandboxSpec {
  std::string bwrap_path;
  std::string job_dir;      // host directory mounted at /opt/ml
  std::string working_dir;  // as the job sees it; empty = /opt/ml
  bool network = false;
  std::vector<std::string> argv;  // the job's command as it sees it
};

// The full argv to exec: bwrap, its options, "--", then spec.argv.
std::vector<std::string> BwrapCommand(const SandboxSpec& spec, const HostOpt& host_opt);

}  // namespace tandem::compute::runner
