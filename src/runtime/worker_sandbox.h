// Python handler workers inside an OCI image (docs/images.md, "Serving from
// an image"): the bubblewrap command line that runs a worker with the image's
// unpacked root filesystem read-only at `/`, the model package read-only at
// /opt/ml/model (SageMaker's serving path), the handler at its place inside
// the package (or at /opt/tandem-handler/<file> when it lies outside), a
// private /tmp, /dev and /proc, and the image's environment instead of the
// host's. The worker keeps the host network (as host workers do) and the
// socket the pool passes it as an inherited descriptor.
//
// This is the serving tier's own launch (src/compute's job sandbox is not
// linked here; tests/layering). Pure functions; thread-safe.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace tandem::runtime {

inline constexpr char kWorkerModelDir[] = "/opt/ml/model";
inline constexpr char kWorkerHandlerDir[] = "/opt/tandem-handler";

struct WorkerSandbox {
  std::string bwrap_path;  // bubblewrap (absolute)
  std::string rootfs;      // the image's root filesystem on the host
  // The image config's Env (KEY=value; PATH among them) and WorkingDir.
  std::vector<std::string> image_env;
  std::string working_dir;
  // The image's digest, for messages and Describe().
  std::string image;
};

// Where the worker sees the package directory and the handler file.
struct WorkerPaths {
  std::string model_dir;
  std::string handler;
};
WorkerPaths SandboxedPaths(const std::string& handler_path, const std::string& model_dir);

// An entry of the image's /opt: re-exposed read-only over the sandbox's /opt
// tmpfs (which holds the mount points); a symlink is recreated as a symlink
// (never bound: its target would be looked up on the host).
struct OptEntry {
  std::string name;
  std::string symlink_target;  // "" = not a symlink
};

// The entries of <rootfs>/opt, sorted by name (none when it is missing).
std::vector<OptEntry> ImageOptEntries(const std::string& rootfs);

// The full argv: bwrap, its options, "--", then `command` (whose paths are
// the worker's, SandboxedPaths()).
std::vector<std::string> WorkerBwrapCommand(const WorkerSandbox& sandbox,
                                            const std::string& handler_path,
                                            const std::string& model_dir,
                                            const std::vector<OptEntry>& opt_entries,
                                            const std::vector<std::string>& command);

// The worker's environment: the image's Env, then `extra` over it (the
// package's python.env), then OMP_NUM_THREADS=1 unless set, and HOME=/tmp
// unless set. Nothing of the host's environment.
std::vector<std::string> WorkerEnvironment(const WorkerSandbox& sandbox,
                                           const std::map<std::string, std::string>& extra);

}  // namespace tandem::runtime
