// Jobs in images (docs/images.md): resolving a spec's `image:` at submit, and
// turning the image's config into the job's command, environment and
// working directory with SageMaker's bring-your-own-container semantics:
//
//   - no entry_point: the image's `train` program runs as `docker run IMAGE
//     train` would run it — ENTRYPOINT + ["train"] when the image has an
//     ENTRYPOINT, else `train` found on the image's PATH (CMD is replaced by
//     "train", as SageMaker does). No hyperparameter arguments: a BYOC
//     program reads /opt/ml/input/config/hyperparameters.json.
//   - with entry_point: the script runs inside the image (`python3` from the
//     image's PATH for .py), with the script-mode arguments.
//   - environment: the contract's (SM_*, ...), then the image's Env
//     overriding everything but the contract's own names (SM_*,
//     TRAINING_JOB_*, SAGEMAKER_BASE_DIR), then the spec's `environment`.
//   - working directory: the image's WorkingDir, else /opt/ml/code with an
//     entry_point and / without (Docker's default).
//
// Thread-safety: free functions; the ImageStore is thread-safe.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "common/json.h"
#include "common/status.h"
#include "compute/jobs/spec.h"
#include "compute/jobs/substrate.h"
#include "glue/images/manifest.h"

namespace tandem::images {
class ImageStore;
}

namespace tandem::compute::jobs {

struct JobImage {
  std::string reference;   // as the spec wrote it
  std::string repository;  // in tandem's image store
  std::string digest;      // the manifest digest it resolved to

  Json ToJson() const;  // {"reference", "repository", "digest"}
  static StatusOr<JobImage> FromJson(const Json& j);
  // repository@digest: the exact image, whatever its tags do later.
  std::string Pinned() const { return repository + "@" + digest; }
};

// Resolves `reference` in `store`: InvalidArgument for a malformed reference,
// NotFound naming it when the repository, tag or digest does not exist,
// FailedPrecondition when there is no image store (null) or no sandbox
// (`sandboxed` false: an image needs bubblewrap). The manifest must be an
// image manifest tandem can run.
StatusOr<JobImage> ResolveJobImage(images::ImageStore* store, const std::string& reference,
                                   bool sandboxed = true);

// The image's config, read (and verified) from the store.
StatusOr<images::ImageConfig> LoadImageConfig(images::ImageStore& store, const JobImage& image);

struct ImageCommand {
  std::vector<std::string> argv;
  std::map<std::string, std::string> env;
  std::string working_dir;
};

// The command, environment and working directory of `spec` in an image with
// `config`, given the contract's environment (ContractEnvironment with
// base = /opt/ml). See the header comment.
ImageCommand ImageJobCommand(const JobSpec& spec, const images::ImageConfig& config,
                             const std::map<std::string, std::string>& contract_env);

// When the job record's `details` name an image (Submit put it there): reads
// its config from `store` and sets `req`'s argv, env and working directory
// (ImageJobCommand over req.env, the contract's) and its image fields. No
// image: nothing changes.
Status ApplyJobImage(const JobSpec& spec, const Json& details, images::ImageStore* store,
                     LaunchRequest& req);

}  // namespace tandem::compute::jobs
