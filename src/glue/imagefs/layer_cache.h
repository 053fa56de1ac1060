// A node's cache of unpacked images: given a manifest digest and where to
// pull blobs from, a read-only root filesystem to run the image in.
//
//   <dir>/layers/<hex>/root        one unpacked layer, keyed by its blob digest
//   <dir>/layers/<hex>/layer.json  its whiteouts, opaque dirs, diff_id, bytes
//   <dir>/images/<hex>/rootfs      the composed image (compose.h: hard links
//                                  into the layers)
//   <dir>/images/<hex>/image.json  its config digest, layers and runtime config
//   <dir>/images/<hex>/used        last use (micros, the cache's clock)
//   <dir>/images/<hex>/in-use.lock flock'ed shared by every user of the image
//   <dir>/locks/                   one lock file per image/layer being made
//   <dir>/tmp/                     staging; what a crash leaves is removed
//
// - Each layer is unpacked once (dedup across images) and checked: the blob
//   against its digest, the uncompressed stream against the config's diff_id.
// - Concurrent Prepare calls for one image (threads or processes) coalesce:
//   the first takes locks/<hex>.lock and builds, the others wait on it and
//   then find the result. The same for each layer.
// - Crash-safe: layers and images are built under tmp/ and renamed into
//   place; a directory in layers/ or images/ is always complete. tmp/ is
//   emptied when no Prepare holds the cache (the gc lock, exclusively).
// - Bounded: after each Prepare, while the layers' bytes exceed max_bytes,
//   layers no image uses and then the least recently used images whose
//   in-use lock is free are removed (an image whose lease is held — a
//   running job — is never evicted).
//
// Thread-safety: thread-safe, and several processes may share `dir`.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "glue/images/manifest.h"
#include "glue/store/archive.h"
#include "glue/store/object_store.h"

namespace tandem::images {
class ImageStore;
}

namespace tandem::imagefs {

// Where the cache pulls an image's manifest and blobs from. The cache
// verifies every digest itself.
class ImageSource {
 public:
  virtual ~ImageSource() = default;
  virtual StatusOr<std::string> ManifestBytes(const std::string& digest) = 0;
  virtual StatusOr<std::unique_ptr<store::BlobReader>> OpenBlob(const std::string& digest) = 0;
};

// An ImageSource over one repository of an ImageStore (not owned; must
// outlive the source).
std::unique_ptr<ImageSource> StoreSource(images::ImageStore& store, std::string repository);

struct LayerCacheOptions {
  std::string dir;                     // absolute; created if missing
  uint64_t max_bytes = 20ULL << 30;    // unpacked layer bytes kept
  store::UnpackLimits limits;          // per layer
};

// A prepared image. While it lives, the image is leased (its in-use lock is
// held shared) and will not be evicted.
class PreparedImage {
 public:
  PreparedImage(std::string digest, std::string dir, images::ImageConfig config, int lease_fd);
  ~PreparedImage();
  PreparedImage(PreparedImage&&) noexcept;
  PreparedImage& operator=(PreparedImage&&) noexcept;
  PreparedImage(const PreparedImage&) = delete;

  const std::string& digest() const { return digest_; }
  std::string rootfs() const { return dir_ + "/rootfs"; }
  // The file whose shared flock marks the image in use (a job runner takes
  // its own before this lease is released).
  std::string lock_path() const { return dir_ + "/in-use.lock"; }
  const images::ImageConfig& config() const { return config_; }

 private:
  std::string digest_;
  std::string dir_;
  images::ImageConfig config_;
  int lease_fd_ = -1;
};

struct CacheUsage {
  uint64_t layer_bytes = 0;
  size_t layers = 0;
  size_t images = 0;
};

class LayerCache {
 public:
  static StatusOr<std::unique_ptr<LayerCache>> Open(const LayerCacheOptions& options,
                                                    Clock& clock);

  // The root filesystem of the image manifest `manifest_digest`, pulled from
  // `source` unless cached. InvalidArgument for a malformed digest, an index,
  // a layer tandem cannot unpack or an unsafe layer (naming it); DataLoss when
  // a blob or a diff_id does not match; the source's NotFound as is.
  StatusOr<PreparedImage> Prepare(const std::string& manifest_digest, ImageSource& source);

  // Removes what exceeds max_bytes now (as Prepare does after building).
  Status Evict();

  StatusOr<CacheUsage> Usage() const;

 private:
  LayerCache(LayerCacheOptions options, Clock& clock);
  StatusOr<PreparedImage> Lease(const std::string& hex) const;
  Status EnsureLayer(const images::Descriptor& layer, const std::string& diff_id,
                     ImageSource& source);
  Status BuildImage(const std::string& hex, const std::string& manifest_bytes,
                    ImageSource& source);
  Status EvictLocked();
  std::string TempDir() const;

  const LayerCacheOptions options_;
  Clock& clock_;
};

}  // namespace tandem::imagefs
