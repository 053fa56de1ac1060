// Hand-made OCI images in memory for tests: layers from entry lists (any
// entry a test wants, malicious ones included), a config, a manifest, and an
// ImageSource serving them (counting fetches).
#pragma once

#include <sys/types.h>

#include <atomic>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "glue/imagefs/layer_cache.h"

namespace tandem::imagefs::testing {

struct TarEntry {
  std::string path;
  char type = 'f';  // 'f' file, 'd' dir, 'l' symlink, 'h' hard link, 'c' char device
  std::string data;    // file contents
  std::string target;  // symlink or hard link target
  mode_t perm = 0644;
};
TarEntry TFile(std::string path, std::string data, mode_t perm = 0644);
TarEntry TDir(std::string path);
TarEntry TSymlink(std::string path, std::string target);

// A layer with a working POSIX shell from the host: dash at bin/sh (and
// usr/bin/sh), the C library and the dynamic loader at their usual paths.
// Enough for shell-script `train` programs in tests (a few MB, no Python).
StatusOr<std::vector<TarEntry>> HostShellLayer();

// A tar (gzip'd when asked) of `entries`, in that order.
std::string MakeTar(const std::vector<TarEntry>& entries, bool gzip);

// An image: layers (tar+gzip), config with env/entrypoint/cmd/working dir.
struct TestImageSpec {
  std::vector<std::vector<TarEntry>> layers;
  std::vector<std::string> env;
  std::vector<std::string> entrypoint;
  std::vector<std::string> cmd;
  std::string working_dir;
  bool corrupt_diff_id = false;  // the config lies about the first layer
};

// An image built from a spec: its blobs (config, layers) and manifest.
struct BuiltImage {
  std::string manifest;
  std::string manifest_digest;
  std::map<std::string, std::string> blobs;  // digest -> bytes
};
BuiltImage BuildTestImage(const TestImageSpec& spec);

// Pushes it to `repo` of `store` under `tag`; returns the manifest digest.
StatusOr<std::string> PushTestImage(images::ImageStore& store, const std::string& repo,
                                    const std::string& tag, const TestImageSpec& spec);

// Blobs and manifests by digest.
class MemorySource : public ImageSource {
 public:
  // Adds the image's blobs and manifest; returns the manifest digest.
  std::string Add(const TestImageSpec& spec);
  void PutBlob(const std::string& digest, std::string bytes);

  StatusOr<std::string> ManifestBytes(const std::string& digest) override;
  StatusOr<std::unique_ptr<store::BlobReader>> OpenBlob(const std::string& digest) override;

  int blob_fetches() const { return blob_fetches_.load(); }

 private:
  std::mutex mu_;
  std::map<std::string, std::string> blobs_;
  std::map<std::string, std::string> manifests_;
  std::atomic<int> blob_fetches_{0};
};

}  // namespace tandem::imagefs::testing
