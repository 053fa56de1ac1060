// An OCI image layout directory (image-spec v1.1 "image-layout"): the
// `oci-layout` marker, `index.json` naming the manifests (with their
// org.opencontainers.image.ref.name annotation, the tag) and
// `blobs/sha256/<hex>`. What `tandem images build --output oci:DIR`
// writes, `tandem images import` / `push` read, and skopeo/umoci use.
//
// Every blob is verified against its digest when read.
// Thread-safety: not thread-safe (one writer); readers of a finished layout
// may share it.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "glue/images/manifest.h"
#include "glue/imagefs/layer_cache.h"

namespace tandem::imagefs {

inline constexpr char kRefNameAnnotation[] = "org.opencontainers.image.ref.name";

class OciLayout {
 public:
  // Opens `dir`. With `create`, makes it (and the marker and an empty index)
  // if missing; without, NotFound/InvalidArgument when it is not a layout.
  static StatusOr<OciLayout> Open(const std::string& dir, bool create);

  const std::string& dir() const { return dir_; }
  std::string BlobPath(const std::string& digest) const;
  bool HasBlob(const std::string& digest) const;

  // Moves (or copies, across filesystems) the file into the layout as a blob,
  // verifying `digest` when given; returns the digest and size.
  StatusOr<store::BlobInfo> AddBlobFile(const std::string& path, const std::string& digest = "");
  StatusOr<store::BlobInfo> AddBlobBytes(std::string_view bytes);
  // The blob's bytes (at most `max_bytes`), verified. NotFound naming it.
  StatusOr<std::string> ReadBlob(const std::string& digest, size_t max_bytes) const;

  // index.json's manifests.
  StatusOr<std::vector<images::Descriptor>> Manifests() const;
  // Adds (or, for the same ref name, replaces) a manifest entry of the index.
  Status AddManifest(const images::Descriptor& manifest);

  // The manifest descriptor for `name`: the entry whose ref-name annotation
  // is `name`, or the only entry when `name` is "". NotFound naming it.
  StatusOr<images::Descriptor> FindManifest(const std::string& name) const;

 private:
  explicit OciLayout(std::string dir) : dir_(std::move(dir)) {}
  std::string dir_;
};

// An ImageSource over a layout (for the layer cache and tests).
std::unique_ptr<ImageSource> LayoutSource(const OciLayout& layout);

}  // namespace tandem::imagefs
