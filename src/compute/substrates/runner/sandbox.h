// The bubblewrap command line that sandboxes a job: the host filesystem (or
// an image's root filesystem) read-only, the job directory writable at the
// literal /opt/ml but for its input channels (/opt/ml/input/data, read-only:
// they may be hard links to store blobs), tandem's helper programs
// read-only at /opt/tandem-libexec (jobs::kHelperDir),
// private /tmp, /dev and /proc, new pid/ipc/uts namespaces (hostname algo-1),
// no network unless asked, and the host paths the job must not read (the
// control plane's home with its database, store, credentials and every other
// job's directories) hidden: an empty tmpfs over each hidden directory,
// /dev/null over each hidden file. Pure functions; thread-safe.
#pragma once

#include <string>
#include <utility>
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
// The same for another host directory (/run, when the job gets file secrets).
HostOpt InspectHostDir(const std::string& dir);

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
  // Host paths hidden from the job (absolute; "/" is never hidden). The job
  // directory and helper directory are bound from the host's view, so they
  // stay visible even when they lie under a hidden directory.
  std::vector<std::string> hidden_dirs = {};
  std::vector<std::string> hidden_files = {};
  // File secrets: {descriptor the bubblewrap process inherits, file name}.
  // Each becomes /run/secrets/<name> (read-only, 0400), copied by bubblewrap
  // from the descriptor into the sandbox's memory; /run is then a tmpfs
  // re-exposing `host_run`'s entries read-only.
  std::vector<std::pair<int, std::string>> secret_files = {};
  HostOpt host_run = {};
};

// Sorts `paths` into existing directories and existing other files (by
// stat, following links; absent or relative paths, "/" and paths under
// another of the directories are dropped), for SandboxSpec::hidden_dirs /
// hidden_files.
void ClassifyHiddenPaths(const std::vector<std::string>& paths, std::vector<std::string>* dirs,
                         std::vector<std::string>* files);

// The full argv to exec: bwrap, its options, "--", then spec.argv.
std::vector<std::string> BwrapCommand(const SandboxSpec& spec, const HostOpt& host_opt);

}  // namespace tandem::compute::runner
