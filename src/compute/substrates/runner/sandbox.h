// The bubblewrap command line that sandboxes a job: the host filesystem (or
// an image's root filesystem) read-only, the job directory writable at the literal /opt/ml, tandem's
// helper programs read-only at /opt/tandem-libexec (jobs::kHelperDir),
// private /tmp, /dev and /proc, new pid/ipc/uts namespaces (hostname algo-1),
// and no network unless asked. Pure functions; thread-safe.
#pragma once

#include <string>
#include <vector>

namespace tandem::compute::runner {

// An entry of the host's /opt, re-exposed read-only inside the sandbox, whose
// /opt is a tmpfs holding the /opt/ml and /opt/tandem-libexec mount points.
// Host entries with those two names are not re-exposed (the job's own take
// their place).
struct HostOptEntry {
  std::string name;
  bool is_symlink = false;
  std::string symlink_target;
};

// The entries of an /opt directory, sorted by name (none if it is
// unreadable): the host's, or an image's (`opt_dir` = <rootfs>/opt). `dir` is
// where they are on the host (the bind sources).
struct HostOpt {
  std::vector<HostOptEntry> entries;
  std::string dir = "/opt";
};
HostOpt InspectHostOpt(const std::string& opt_dir = "/opt");

// The directory of the running executable (/proc/self/exe); "" if unknown.
std::string OwnDirectory();

struct SandboxSpec {
  std::string bwrap_path;
  std::string job_dir;      // host directory mounted at /opt/ml
  std::string working_dir;  // as the job sees it; empty = /opt/ml
  bool network = false;
  std::vector<std::string> argv;  // the job's command as it sees it
  std::string helper_dir;  // host directory bound at /opt/tandem-libexec; "" = none
  // An image's root filesystem (host path) bound read-only at / instead of
  // the host's; it must have dev, proc, tmp and opt directories (the layer
  // cache makes them). Its /opt entries are re-exposed like the host's.
  std::string rootfs = {};
};

// The full argv to exec: bwrap, its options, "--", then spec.argv.
std::vector<std::string> BwrapCommand(const SandboxSpec& spec, const HostOpt& host_opt);

}  // namespace tandem::compute::runner
