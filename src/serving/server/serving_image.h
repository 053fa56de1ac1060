// A replica serving from an image (docs/images.md, "Serving from an image"):
// the deployment's image, pinned as repository@sha256:..., is pulled from the
// image store into the node's layer cache (glue/imagefs, the same cache jobs
// use) and held (leased, so it is not evicted) while the replica lives; its
// Python handler workers then run inside it (runtime::WorkerSandbox).
//
// Thread-safety: PrepareServingImage is thread-safe (the cache is);
// ServingImage is immutable.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "common/status.h"
#include "glue/imagefs/layer_cache.h"
#include "runtime/flavor_registry.h"
#include "runtime/worker_sandbox.h"

namespace tandem::images {
class ImageStore;
}

namespace tandem::serving::server {

struct ServingImageOptions {
  std::string image;       // repository@sha256:<hex> (a pinned reference)
  std::string cache_dir;   // the node's layer cache (absolute)
  uint64_t cache_bytes = 20ULL << 30;
  std::string bwrap_path;  // "" = `bwrap` on $PATH
};

class ServingImage {
 public:
  ServingImage(imagefs::PreparedImage prepared, runtime::WorkerSandbox sandbox)
      : prepared_(std::move(prepared)), sandbox_(std::move(sandbox)) {}

  const runtime::WorkerSandbox& sandbox() const { return sandbox_; }
  const std::string& digest() const { return prepared_.digest(); }

 private:
  imagefs::PreparedImage prepared_;  // the lease
  runtime::WorkerSandbox sandbox_;
};

// Pulls (unless cached) and leases the image. InvalidArgument for a reference
// that is not repository@digest; FailedPrecondition without bubblewrap or an
// image store; the store's NotFound naming the image; the cache's errors
// (a digest mismatch is DataLoss) annotated with the image.
StatusOr<std::unique_ptr<ServingImage>> PrepareServingImage(const ServingImageOptions& options,
                                                            images::ImageStore* store,
                                                            Clock& clock);

// The replica's image, prepared on first need: flavors() loads Python
// handlers in it (the first such load pulls and leases the image, and keeps
// it until the replica goes; a failed preparation fails that load and is
// tried again at the next), while the native XGBoost flavor and plugins never
// touch it — a replica serving a forest from an image-trained model pulls
// nothing. `store` and `clock` are not owned and must outlive it.
class LazyServingImage {
 public:
  LazyServingImage(ServingImageOptions options, images::ImageStore* store, Clock& clock);
  LazyServingImage(const LazyServingImage&) = delete;
  LazyServingImage& operator=(const LazyServingImage&) = delete;

  const std::string& reference() const { return options_.image; }
  const runtime::FlavorRegistry& flavors() const { return flavors_; }
  // The sandbox, preparing the image if not done yet. Thread-safe.
  StatusOr<runtime::WorkerSandbox> Sandbox();
  bool prepared() const;

 private:
  const ServingImageOptions options_;
  images::ImageStore* const store_;
  Clock& clock_;
  mutable absl::Mutex mu_;
  std::unique_ptr<ServingImage> image_ ABSL_GUARDED_BY(mu_);
  runtime::FlavorRegistry flavors_;  // after the members its loader uses
};

}  // namespace tandem::serving::server
