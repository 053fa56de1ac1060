// Path isolation for the control plane (docs/security.md "Isolation"):
//
//   # tandem.yaml
//   security:
//     allowed_local_paths: [/srv/datasets]   # default: none
//     hidden_paths: [/srv/keys]              # more host paths jobs must not see
//
// A job, tuning or transform spec sent over REST may name local paths
// (`source_dir`, an input channel, a transform's `input.uri`) that the control
// plane would read into a job the caller controls. LocalPathPolicy refuses
// every local path (absolute, or a file:// URI) unless its canonical form
// (symlinks and `..` resolved) lies under an allowed prefix; the CLI uploads
// local files to the object store instead. Object-store keys and digests are
// not local paths and pass.
//
// SandboxHiddenPaths lists the host paths every sandboxed job must not see:
// the control plane's home (database, file store, admin token, every job's
// and notebook's directories), the database file and store directory when
// they lie elsewhere, the CLI's credentials directory and `hidden_paths`.
//
// Thread-safety: immutable after construction; Check is thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/config.h"
#include "common/status.h"
#include "compute/jobs/spec.h"

namespace tandem::api {

struct SecurityConfig {
  std::vector<std::string> allowed_local_paths;  // absolute, canonical
  std::vector<std::string> hidden_paths;         // absolute
  // The `security:` section (absent: defaults). A path that is not absolute,
  // or an unknown key, is InvalidArgument naming it.
  static StatusOr<SecurityConfig> FromConfig(const Config& config);
};

class LocalPathPolicy {
 public:
  explicit LocalPathPolicy(std::vector<std::string> allowed_prefixes = {});

  // OK for a value that names no local path; for an absolute path or a
  // file:// URI, OK only when its canonical form is under an allowed prefix,
  // else PermissionDenied naming `what` and the path.
  Status Check(std::string_view value, std::string_view what) const;
  // source_dir and every input channel; `field` prefixes the names
  // ("training_job.").
  Status CheckJobSpec(const compute::jobs::JobSpec& spec, std::string_view field = "") const;

 private:
  std::vector<std::string> allowed_;
};

std::vector<std::string> SandboxHiddenPaths(const Config& config, const SecurityConfig& security,
                                            const EnvLookup& env);

}  // namespace tandem::api
