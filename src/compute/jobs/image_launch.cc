#include "compute/jobs/image_launch.h"

#include "compute/jobs/contract.h"
#include "glue/images/image_store.h"
#include "glue/images/reference.h"

namespace tandem::compute::jobs {
namespace {

bool ContractOwned(const std::string& name) {
  return name.starts_with("SM_") || name.starts_with("TRAINING_JOB_") ||
         name == "SAGEMAKER_BASE_DIR";
}

std::string ReadAll(store::BlobReader& reader, Status* error) {
  std::string out;
  std::vector<char> buf(64 << 10);
  for (;;) {
    auto n = reader.Read(buf.data(), buf.size());
    if (!n.ok()) {
      *error = n.status();
      return "";
    }
    if (*n == 0) break;
    out.append(buf.data(), *n);
    if (out.size() > images::kMaxConfigBytes) {
      *error = ResourceExhaustedError("image config is larger than " +
                                      std::to_string(images::kMaxConfigBytes) + " bytes");
      return "";
    }
  }
  return out;
}

}  // namespace

Json JobImage::ToJson() const {
  return Json{{"reference", reference}, {"repository", repository}, {"digest", digest}};
}

StatusOr<JobImage> JobImage::FromJson(const Json& j) {
  if (!j.is_object()) return InvalidArgumentError("job image record is not an object");
  JobImage image;
  image.reference = j.value("reference", "");
  image.repository = j.value("repository", "");
  image.digest = j.value("digest", "");
  if (image.repository.empty() || image.digest.empty()) {
    return InvalidArgumentError("job image record lacks repository or digest");
  }
  return image;
}

StatusOr<JobImage> ResolveJobImage(images::ImageStore* store, const std::string& reference,
                                   bool sandboxed) {
  if (!sandboxed) {
    return FailedPreconditionError("image '" + reference +
                                   "': jobs in images need the sandbox (bubblewrap), and this "
                                   "substrate runs without one");
  }
  if (store == nullptr) {
    return FailedPreconditionError("image '" + reference +
                                   "': this control plane has no image store");
  }
  auto ref = images::ParseReference(reference);
  if (!ref.ok()) return InvalidArgumentError("image: " + std::string(ref.status().message()));
  auto digest = store->Resolve(*ref);
  if (!digest.ok()) {
    if (digest.status().code() == absl::StatusCode::kNotFound) {
      return NotFoundError("image '" + reference + "' not found in tandem's image store: " +
                           std::string(digest.status().message()));
    }
    return digest.status();
  }
  auto manifest = store->GetManifest(ref->repository, *digest);
  if (!manifest.ok()) return manifest.status();
  if (images::IsIndexMediaType(manifest->media_type)) {
    return InvalidArgumentError("image '" + reference +
                                "' is an image index; name one of its manifests by digest");
  }
  return JobImage{reference, ref->repository, *digest};
}

StatusOr<images::ImageConfig> LoadImageConfig(images::ImageStore& store, const JobImage& image) {
  ASSIGN_OR_RETURN(images::ManifestData data, store.GetManifest(image.repository, image.digest));
  ASSIGN_OR_RETURN(images::Manifest manifest, images::ParseManifest(data.bytes));
  ASSIGN_OR_RETURN(auto reader, store.OpenBlob(image.repository, manifest.config.digest));
  Status error;
  std::string bytes = ReadAll(*reader, &error);
  RETURN_IF_ERROR(error);
  return images::ParseImageConfig(bytes);
}

ImageCommand ImageJobCommand(const JobSpec& spec, const images::ImageConfig& config,
                             const std::map<std::string, std::string>& contract_env) {
  ImageCommand out;
  out.env = contract_env;
  for (const std::string& kv : config.env) {
    size_t eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) continue;
    std::string name = kv.substr(0, eq);
    if (!ContractOwned(name)) out.env[name] = kv.substr(eq + 1);
  }
  for (const auto& [k, v] : spec.environment) out.env[k] = v;
  const std::string base = kSandboxBase;
  if (spec.entry_point.empty()) {
    out.argv = config.entrypoint;
    out.argv.push_back("train");
    out.working_dir = config.working_dir.empty() ? "/" : config.working_dir;
  } else {
    out.argv = EntryPointCommand(spec, base);
    // python3 from the image's PATH, not the host's /usr/bin/python3.
    if (spec.entry_point.ends_with(".py") && !out.argv.empty()) out.argv[0] = "python3";
    out.working_dir = config.working_dir.empty() ? base + "/code" : config.working_dir;
  }
  return out;
}

Status ApplyJobImage(const JobSpec& spec, const Json& details, images::ImageStore* store,
                     LaunchRequest& req) {
  if (!details.contains("image")) return OkStatus();
  ASSIGN_OR_RETURN(JobImage image, JobImage::FromJson(details["image"]));
  if (store == nullptr) {
    return FailedPreconditionError("job runs in image " + image.Pinned() +
                                   " but this control plane has no image store");
  }
  ASSIGN_OR_RETURN(images::ImageConfig config, LoadImageConfig(*store, image));
  ImageCommand command = ImageJobCommand(spec, config, req.env);
  req.argv = std::move(command.argv);
  req.env = std::move(command.env);
  req.working_dir = std::move(command.working_dir);
  req.image_digest = image.digest;
  req.image_repository = image.repository;
  return OkStatus();
}

}  // namespace tandem::compute::jobs
