#include "serving/server/serving_image.h"

#include <cstdlib>

#include "common/log.h"
#include "common/subprocess_core.h"
#include "glue/images/image_store.h"
#include "glue/images/reference.h"

namespace tandem::serving::server {

StatusOr<std::unique_ptr<ServingImage>> PrepareServingImage(const ServingImageOptions& options,
                                                            images::ImageStore* store,
                                                            Clock& clock) {
  const std::string& image = options.image;
  auto ref = images::ParseReference(image);
  if (!ref.ok()) {
    return InvalidArgumentError("serving image '" + image +
                                "': " + std::string(ref.status().message()));
  }
  if (ref->digest.empty()) {
    return InvalidArgumentError("serving image '" + image +
                                "' must be pinned as repository@sha256:<digest>");
  }
  std::string bwrap = options.bwrap_path;
  if (bwrap.empty()) {
    const char* path = std::getenv("PATH");
    bwrap =
        subprocess::FindOnPath("bwrap", path ? path : "/usr/local/bin:/usr/bin:/bin").value_or("");
  } else if (!subprocess::IsExecutableFile(bwrap)) {
    bwrap.clear();
  }
  if (bwrap.empty()) {
    return FailedPreconditionError("serving image '" + image +
                                   "': handler workers in an image need bubblewrap (bwrap), "
                                   "which was not found");
  }
  if (store == nullptr) {
    return FailedPreconditionError("serving image '" + image + "': no image store is configured");
  }
  if (options.cache_dir.empty() || options.cache_dir[0] != '/') {
    return InvalidArgumentError("serving image '" + image +
                                "': the layer cache directory must be absolute");
  }
  imagefs::LayerCacheOptions co;
  co.dir = options.cache_dir;
  co.max_bytes = options.cache_bytes;
  ASSIGN_OR_RETURN(auto cache, imagefs::LayerCache::Open(co, clock));
  std::unique_ptr<imagefs::ImageSource> source = imagefs::StoreSource(*store, ref->repository);
  auto prepared = cache->Prepare(ref->digest, *source);
  if (!prepared.ok()) return Annotate(prepared.status(), "preparing serving image " + image);
  runtime::WorkerSandbox sandbox;
  sandbox.bwrap_path = bwrap;
  sandbox.rootfs = prepared->rootfs();
  sandbox.image_env = prepared->config().env;
  sandbox.working_dir = prepared->config().working_dir;
  sandbox.image = ref->repository + "@" + ref->digest;
  return std::make_unique<ServingImage>(std::move(*prepared), std::move(sandbox));
}

LazyServingImage::LazyServingImage(ServingImageOptions options, images::ImageStore* store,
                                   Clock& clock)
    : options_(std::move(options)),
      store_(store),
      clock_(clock),
      flavors_(runtime::ImageFlavors([this] { return Sandbox(); })) {}

StatusOr<runtime::WorkerSandbox> LazyServingImage::Sandbox() {
  absl::MutexLock lock(&mu_);
  if (image_ == nullptr) {
    ASSIGN_OR_RETURN(image_, PrepareServingImage(options_, store_, clock_));
    LogInfo("Python handler workers run in an image",
            {{"image", image_->sandbox().image}, {"rootfs", image_->sandbox().rootfs}});
  }
  return image_->sandbox();
}

bool LazyServingImage::prepared() const {
  absl::MutexLock lock(&mu_);
  return image_ != nullptr;
}

}  // namespace tandem::serving::server
