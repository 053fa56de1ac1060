// Small OCI images for tests (tests only, target tandem_images_testing):
// a config and N random layers, pushed blob by blob, and the manifest that
// names them.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"
#include "glue/images/image_store.h"
#include "glue/images/manifest.h"

namespace tandem::images::testing {

struct TestBlob {
  std::string digest;
  std::string bytes;
};

struct TestImage {
  TestBlob config;
  std::vector<TestBlob> layers;
  Manifest manifest;
  std::string manifest_bytes;   // SerializeManifest(manifest)
  std::string manifest_digest;  // sha256 of manifest_bytes
};

// An image of `layers` random layers of `layer_bytes` each (seeded, so the
// same arguments give the same digests). `media_type` is the manifest's
// (OCI or Docker schema 2).
TestImage MakeTestImage(uint32_t seed, int layers = 2, size_t layer_bytes = 1000,
                        std::string_view media_type = media_types::kOciManifest);

// A blob as a ReadFn over `bytes` (which must outlive it), read in chunks of
// at most `chunk` bytes.
store::ReadFn ReaderOf(const std::string& bytes, size_t chunk = 4096);

// Pushes the config and layers of `image` to `repo` (not the manifest).
Status PushBlobs(ImageStore& store, std::string_view repo, const TestImage& image);
// PushBlobs, then the manifest under `tag_or_digest`.
StatusOr<std::string> PushImage(ImageStore& store, std::string_view repo,
                                std::string_view tag_or_digest, const TestImage& image);

}  // namespace tandem::images::testing
