#include "glue/imagefs/testing/test_image.h"

#include <archive.h>
#include <archive_entry.h>
#include <sys/sysmacros.h>

#include <cstring>
#include <fstream>
#include <sstream>

#include "common/json.h"
#include "glue/images/image_store.h"
#include "glue/images/manifest.h"
#include "glue/store/sha256.h"

namespace tandem::imagefs::testing {
namespace {

la_ssize_t Append(struct archive*, void* out, const void* buf, size_t n) {
  static_cast<std::string*>(out)->append(static_cast<const char*>(buf), n);
  return static_cast<la_ssize_t>(n);
}

class StringReader : public store::BlobReader {
 public:
  StringReader(std::string digest, std::string data)
      : digest_(std::move(digest)), data_(std::move(data)) {}
  StatusOr<size_t> Read(char* buf, size_t n) override {
    size_t k = std::min(n, data_.size() - pos_);
    std::memcpy(buf, data_.data() + pos_, k);
    pos_ += k;
    return k;
  }
  const std::string& digest() const override { return digest_; }
  uint64_t size() const override { return data_.size(); }

 private:
  std::string digest_;
  std::string data_;
  size_t pos_ = 0;
};

}  // namespace

StatusOr<std::vector<TarEntry>> HostShellLayer() {
  std::vector<TarEntry> out;
  const std::pair<const char*, const char*> files[] = {
      {"/bin/dash", "bin/sh"},
      {"/lib/x86_64-linux-gnu/libc.so.6", "lib/x86_64-linux-gnu/libc.so.6"},
      {"/lib64/ld-linux-x86-64.so.2", "lib64/ld-linux-x86-64.so.2"},
  };
  for (const auto& [host, dest] : files) {
    std::ifstream in(host, std::ios::binary);
    if (!in) return NotFoundError(std::string("cannot read ") + host + " for the test image");
    std::stringstream ss;
    ss << in.rdbuf();
    out.push_back(TFile(dest, ss.str(), 0755));
  }
  out.push_back(TDir("usr"));
  out.push_back(TDir("usr/bin"));
  out.push_back(TSymlink("usr/bin/sh", "/bin/sh"));
  return out;
}

TarEntry TFile(std::string path, std::string data, mode_t perm) {
  return TarEntry{std::move(path), 'f', std::move(data), "", perm};
}
TarEntry TDir(std::string path) { return TarEntry{std::move(path), 'd', "", "", 0755}; }
TarEntry TSymlink(std::string path, std::string target) {
  return TarEntry{std::move(path), 'l', "", std::move(target), 0777};
}

std::string MakeTar(const std::vector<TarEntry>& entries, bool gzip) {
  std::string out;
  struct archive* a = archive_write_new();
  if (gzip) {
    archive_write_add_filter_gzip(a);
    archive_write_set_options(a, "gzip:!timestamp");
  }
  archive_write_set_format_pax_restricted(a);
  archive_write_set_bytes_in_last_block(a, 1);
  archive_write_open(a, &out, nullptr, Append, nullptr);
  for (const TarEntry& e : entries) {
    archive_entry* entry = archive_entry_new();
    archive_entry_set_pathname(entry, e.path.c_str());
    archive_entry_set_perm(entry, e.perm);
    archive_entry_set_mtime(entry, 0, 0);
    switch (e.type) {
      case 'd':
        archive_entry_set_filetype(entry, AE_IFDIR);
        break;
      case 'l':
        archive_entry_set_filetype(entry, AE_IFLNK);
        archive_entry_set_symlink(entry, e.target.c_str());
        break;
      case 'h':
        archive_entry_set_filetype(entry, AE_IFREG);
        archive_entry_set_hardlink(entry, e.target.c_str());
        break;
      case 'c':
        archive_entry_set_filetype(entry, AE_IFCHR);
        archive_entry_set_rdev(entry, makedev(1, 3));
        break;
      default:
        archive_entry_set_filetype(entry, AE_IFREG);
        archive_entry_set_size(entry, static_cast<la_int64_t>(e.data.size()));
    }
    archive_write_header(a, entry);
    if (e.type == 'f' && !e.data.empty()) archive_write_data(a, e.data.data(), e.data.size());
    archive_entry_free(entry);
  }
  archive_write_close(a);
  archive_write_free(a);
  return out;
}

void MemorySource::PutBlob(const std::string& digest, std::string bytes) {
  std::lock_guard<std::mutex> lock(mu_);
  blobs_[digest] = std::move(bytes);
}

BuiltImage BuildTestImage(const TestImageSpec& spec) {
  BuiltImage out;
  images::ImageConfig config;
  config.env = spec.env;
  config.entrypoint = spec.entrypoint;
  config.cmd = spec.cmd;
  config.working_dir = spec.working_dir;
  images::Manifest manifest;
  manifest.media_type = images::media_types::kOciManifest;
  for (size_t i = 0; i < spec.layers.size(); ++i) {
    std::string tar = MakeTar(spec.layers[i], false);
    std::string gz = MakeTar(spec.layers[i], true);
    config.diff_ids.push_back(spec.corrupt_diff_id && i == 0 ? store::Sha256Digest("lie")
                                                             : store::Sha256Digest(tar));
    images::Descriptor d;
    d.media_type = images::media_types::kOciLayerTarGzip;
    d.digest = store::Sha256Digest(gz);
    d.size = static_cast<int64_t>(gz.size());
    out.blobs[d.digest] = std::move(gz);
    manifest.layers.push_back(d);
  }
  std::string config_bytes = images::SerializeImageConfig(config);
  manifest.config.media_type = images::media_types::kOciConfig;
  manifest.config.digest = store::Sha256Digest(config_bytes);
  manifest.config.size = static_cast<int64_t>(config_bytes.size());
  out.blobs[manifest.config.digest] = std::move(config_bytes);
  out.manifest = images::SerializeManifest(manifest);
  out.manifest_digest = store::Sha256Digest(out.manifest);
  return out;
}

StatusOr<std::string> PushTestImage(images::ImageStore& store, const std::string& repo,
                                    const std::string& tag, const TestImageSpec& spec) {
  BuiltImage image = BuildTestImage(spec);
  for (const auto& [digest, bytes] : image.blobs) {
    size_t pos = 0;
    const std::string& data = bytes;
    store::ReadFn reader = [&data, &pos](char* buf, size_t n) -> StatusOr<size_t> {
      size_t k = std::min(n, data.size() - pos);
      std::memcpy(buf, data.data() + pos, k);
      pos += k;
      return k;
    };
    RETURN_IF_ERROR(store.PutBlob(repo, reader, digest).status());
  }
  return store.PutManifest(repo, tag, images::media_types::kOciManifest, image.manifest);
}

std::string MemorySource::Add(const TestImageSpec& spec) {
  BuiltImage image = BuildTestImage(spec);
  for (auto& [digest, bytes] : image.blobs) PutBlob(digest, std::move(bytes));
  std::lock_guard<std::mutex> lock(mu_);
  manifests_[image.manifest_digest] = image.manifest;
  return image.manifest_digest;
}

StatusOr<std::string> MemorySource::ManifestBytes(const std::string& digest) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = manifests_.find(digest);
  if (it == manifests_.end()) return NotFoundError("manifest " + digest + " not found");
  return it->second;
}

StatusOr<std::unique_ptr<store::BlobReader>> MemorySource::OpenBlob(const std::string& digest) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = blobs_.find(digest);
  if (it == blobs_.end()) return NotFoundError("blob " + digest + " not found");
  ++blob_fetches_;
  return std::unique_ptr<store::BlobReader>(new StringReader(digest, it->second));
}

}  // namespace tandem::imagefs::testing
