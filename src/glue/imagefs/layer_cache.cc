#include "glue/imagefs/layer_cache.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "common/json.h"
#include "glue/images/image_store.h"
#include "glue/imagefs/compose.h"
#include "glue/imagefs/file_lock.h"
#include "glue/imagefs/fs_at.h"
#include "glue/imagefs/unpack.h"
#include "glue/store/sha256.h"

namespace tandem::imagefs {
namespace {

using Mode = FileLock::Mode;

bool ValidDigest(std::string_view d) {
  if (d.size() != 71 || !d.starts_with("sha256:")) return false;
  return std::all_of(d.begin() + 7, d.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

std::string Hex(std::string_view digest) { return std::string(digest.substr(7)); }

StatusOr<std::string> ReadSmall(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFoundError("cannot read '" + path + "'");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Status WriteFile(const std::string& path, std::string_view data) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!fd.valid()) return store::ErrnoStatus(errno, "create", path);
  RETURN_IF_ERROR(store::WriteAll(fd.get(), data.data(), data.size(), path));
  return fd.Close(path);
}

bool Exists(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;
}

Status MakeDir(const std::string& path) {
  if (::mkdir(path.c_str(), 0755) != 0 && errno != EEXIST) {
    return store::ErrnoStatus(errno, "mkdir", path);
  }
  return OkStatus();
}

std::string ContentsToJson(const LayerContents& c, const std::string& diff_id) {
  Json j = {{"whiteouts", c.whiteouts}, {"opaque_dirs", c.opaque_dirs}, {"entries", c.entries},
            {"bytes", c.bytes},         {"skipped", c.skipped},         {"diff_id", diff_id}};
  return j.dump();
}

struct LayerRecord {
  LayerContents contents;
  std::string diff_id;
};

StatusOr<LayerRecord> ReadLayerRecord(const std::string& layer_dir) {
  ASSIGN_OR_RETURN(std::string text, ReadSmall(layer_dir + "/layer.json"));
  auto j = ParseJson(text);
  if (!j.ok() || !j->is_object()) {
    return DataLossError("cached layer record '" + layer_dir + "/layer.json' is not JSON");
  }
  try {
    LayerRecord r;
    r.contents.whiteouts = j->at("whiteouts").get<std::vector<std::string>>();
    r.contents.opaque_dirs = j->at("opaque_dirs").get<std::vector<std::string>>();
    r.contents.entries = j->at("entries").get<uint64_t>();
    r.contents.bytes = j->at("bytes").get<uint64_t>();
    r.contents.skipped = j->at("skipped").get<uint64_t>();
    r.diff_id = j->at("diff_id").get<std::string>();
    return r;
  } catch (const Json::exception& e) {
    return DataLossError("cached layer record '" + layer_dir + "': " + e.what());
  }
}

struct ImageRecord {
  std::vector<std::string> layers;  // blob digests, bottom first
  images::ImageConfig config;
  int64_t used_micros = 0;
};

StatusOr<ImageRecord> ReadImageRecord(const std::string& image_dir) {
  ASSIGN_OR_RETURN(std::string text, ReadSmall(image_dir + "/image.json"));
  auto j = ParseJson(text);
  if (!j.ok() || !j->is_object() || !j->contains("layers") || !j->contains("config")) {
    return DataLossError("cached image record '" + image_dir + "/image.json' is malformed");
  }
  ImageRecord r;
  try {
    r.layers = j->at("layers").get<std::vector<std::string>>();
  } catch (const Json::exception& e) {
    return DataLossError("cached image record '" + image_dir + "': " + e.what());
  }
  ASSIGN_OR_RETURN(r.config, images::ParseImageConfig(j->at("config").get<std::string>()));
  auto used = ReadSmall(image_dir + "/used");
  if (used.ok()) r.used_micros = std::atoll(used->c_str());
  return r;
}

// Reads the whole blob through `reader`, writing it to `out_fd` (when >= 0)
// or appending to `out`, and checks its sha256 against `digest`.
Status ReadBlob(store::BlobReader& reader, const std::string& digest, int out_fd,
                std::string* out, uint64_t max_bytes) {
  store::Sha256 hash;
  std::vector<char> buf(1 << 20);
  uint64_t total = 0;
  for (;;) {
    ASSIGN_OR_RETURN(size_t n, reader.Read(buf.data(), buf.size()));
    if (n == 0) break;
    total += n;
    if (total > max_bytes) {
      return ResourceExhaustedError("blob " + digest + " is larger than " +
                                    std::to_string(max_bytes) + " bytes");
    }
    hash.Update(buf.data(), n);
    if (out_fd >= 0) {
      RETURN_IF_ERROR(store::WriteAll(out_fd, buf.data(), n, digest));
    } else {
      out->append(buf.data(), n);
    }
  }
  std::string got = hash.FinishDigest();
  if (got != digest) {
    return DataLossError("blob " + digest + " does not match its digest (got " + got + ")");
  }
  return OkStatus();
}

class StoreImageSource : public ImageSource {
 public:
  StoreImageSource(images::ImageStore& store, std::string repo)
      : store_(store), repo_(std::move(repo)) {}
  StatusOr<std::string> ManifestBytes(const std::string& digest) override {
    ASSIGN_OR_RETURN(images::ManifestData m, store_.GetManifest(repo_, digest));
    return std::move(m.bytes);
  }
  StatusOr<std::unique_ptr<store::BlobReader>> OpenBlob(const std::string& digest) override {
    return store_.OpenBlob(repo_, digest);
  }

 private:
  images::ImageStore& store_;
  const std::string repo_;
};

// Mount points bubblewrap needs in a read-only root (runc and podman make
// them the same way); an image that has them keeps its own. The WorkingDir
// too, which Docker creates when it is missing (never through a symlink:
// then it stays missing and the sandbox says so).
Status EnsureMountPoints(const std::string& rootfs, const std::string& working_dir) {
  ASSIGN_OR_RETURN(UniqueFd root, OpenDir(rootfs));
  for (const char* name : {"dev", "proc", "tmp", "opt", "sys", "etc", "run"}) {
    if (::mkdirat(root.get(), name, 0755) != 0 && errno != EEXIST) {
      return store::ErrnoStatus(errno, "mkdir", rootfs + "/" + name);
    }
  }
  auto parts = SplitRelative(working_dir.empty() ? "" : working_dir.substr(1), "WorkingDir");
  if (parts.ok() && !parts->empty()) (void)OpenDirAt(root.get(), *parts, /*create=*/true);
  return OkStatus();
}

}  // namespace

std::unique_ptr<ImageSource> StoreSource(images::ImageStore& store, std::string repository) {
  return std::make_unique<StoreImageSource>(store, std::move(repository));
}

// ---- PreparedImage ----------------------------------------------------------

PreparedImage::PreparedImage(std::string digest, std::string dir, images::ImageConfig config,
                             int lease_fd)
    : digest_(std::move(digest)),
      dir_(std::move(dir)),
      config_(std::move(config)),
      lease_fd_(lease_fd) {}

PreparedImage::~PreparedImage() {
  if (lease_fd_ >= 0) ::close(lease_fd_);
}

PreparedImage::PreparedImage(PreparedImage&& o) noexcept
    : digest_(std::move(o.digest_)),
      dir_(std::move(o.dir_)),
      config_(std::move(o.config_)),
      lease_fd_(std::exchange(o.lease_fd_, -1)) {}

PreparedImage& PreparedImage::operator=(PreparedImage&& o) noexcept {
  if (this != &o) {
    if (lease_fd_ >= 0) ::close(lease_fd_);
    digest_ = std::move(o.digest_);
    dir_ = std::move(o.dir_);
    config_ = std::move(o.config_);
    lease_fd_ = std::exchange(o.lease_fd_, -1);
  }
  return *this;
}

// ---- LayerCache -------------------------------------------------------------

LayerCache::LayerCache(LayerCacheOptions options, Clock& clock)
    : options_(std::move(options)), clock_(clock) {}

StatusOr<std::unique_ptr<LayerCache>> LayerCache::Open(const LayerCacheOptions& options,
                                                       Clock& clock) {
  if (options.dir.empty() || options.dir[0] != '/') {
    return InvalidArgumentError("image cache directory '" + options.dir + "' is not absolute");
  }
  if (options.max_bytes == 0) return InvalidArgumentError("image cache max_bytes must be > 0");
  std::string partial;
  for (size_t slash = options.dir.find('/', 1);; slash = options.dir.find('/', slash + 1)) {
    partial = options.dir.substr(0, slash);
    RETURN_IF_ERROR(MakeDir(partial));
    if (slash == std::string::npos) break;
  }
  for (const char* sub : {"/layers", "/images", "/locks", "/tmp"}) {
    RETURN_IF_ERROR(MakeDir(options.dir + sub));
  }
  {
    ASSIGN_OR_RETURN(FileLock created,
                     FileLock::Acquire(options.dir + "/locks/gc.lock", Mode::kShared));
  }
  std::unique_ptr<LayerCache> cache(new LayerCache(options, clock));
  RETURN_IF_ERROR(cache->Evict());  // also clears what a crash left in tmp/
  return cache;
}

std::string LayerCache::TempDir() const { return options_.dir + "/tmp/" + store::TempName(); }

StatusOr<PreparedImage> LayerCache::Lease(const std::string& hex) const {
  const std::string dir = options_.dir + "/images/" + hex;
  auto lock = FileLock::TryAcquireExisting(dir + "/in-use.lock", Mode::kShared);
  if (!lock.ok()) return lock.status();
  if (!lock->held()) return UnavailableError("image sha256:" + hex + " is being evicted");
  // An evictor may have removed it between our look and the lock.
  if (!Exists(dir + "/image.json")) return NotFoundError("image sha256:" + hex + " was evicted");
  ASSIGN_OR_RETURN(ImageRecord record, ReadImageRecord(dir));
  const std::string tmp = dir + "/.used" + store::TempName();
  if (WriteFile(tmp, std::to_string(clock_.NowMicros())).ok()) {
    ::rename(tmp.c_str(), (dir + "/used").c_str());
  }
  return PreparedImage("sha256:" + hex, dir, std::move(record.config), lock->Release());
}

StatusOr<PreparedImage> LayerCache::Prepare(const std::string& manifest_digest,
                                            ImageSource& source) {
  if (!ValidDigest(manifest_digest)) {
    return InvalidArgumentError("image digest '" + manifest_digest +
                                "' is not sha256:<64 lowercase hex>");
  }
  const std::string hex = Hex(manifest_digest);
  const std::string image_dir = options_.dir + "/images/" + hex;
  if (Exists(image_dir + "/image.json")) {
    auto leased = Lease(hex);
    if (leased.ok()) return leased;
  }
  StatusOr<PreparedImage> result = InternalError("unreachable");
  {
    ASSIGN_OR_RETURN(FileLock gc, FileLock::Acquire(options_.dir + "/locks/gc.lock", Mode::kShared));
    ASSIGN_OR_RETURN(FileLock mine, FileLock::Acquire(options_.dir + "/locks/image-" + hex + ".lock",
                                                      Mode::kExclusive));
    if (!Exists(image_dir + "/image.json")) {
      ASSIGN_OR_RETURN(std::string manifest, source.ManifestBytes(manifest_digest));
      if (store::Sha256Digest(manifest) != manifest_digest) {
        return DataLossError("manifest " + manifest_digest + " does not match its digest");
      }
      RETURN_IF_ERROR(BuildImage(hex, manifest, source));
    }
    result = Lease(hex);  // before the gc lock goes: nothing can evict it now
  }
  if (result.ok()) {
    Status evicted = Evict();
    if (!evicted.ok()) return evicted;
  }
  return result;
}

Status LayerCache::BuildImage(const std::string& hex, const std::string& manifest_bytes,
                              ImageSource& source) {
  ASSIGN_OR_RETURN(images::Manifest manifest, images::ParseManifest(manifest_bytes));
  for (const images::Descriptor& layer : manifest.layers) {
    ASSIGN_OR_RETURN(images::LayerCompression compression,
                     images::LayerCompressionOf(layer.media_type));
    if (compression == images::LayerCompression::kZstd) {
      return InvalidArgumentError("layer " + layer.digest + " is zstd-compressed (" +
                                  layer.media_type + "); tandem unpacks tar and tar+gzip layers");
    }
  }
  std::string config_bytes;
  {
    ASSIGN_OR_RETURN(auto reader, source.OpenBlob(manifest.config.digest));
    RETURN_IF_ERROR(ReadBlob(*reader, manifest.config.digest, -1, &config_bytes,
                             images::kMaxConfigBytes));
  }
  ASSIGN_OR_RETURN(images::ImageConfig config, images::ParseImageConfig(config_bytes));
  if (config.diff_ids.size() != manifest.layers.size()) {
    return InvalidArgumentError("image sha256:" + hex + " has " +
                                std::to_string(manifest.layers.size()) + " layers but its config " +
                                std::to_string(config.diff_ids.size()) + " diff_ids");
  }
  for (size_t i = 0; i < manifest.layers.size(); ++i) {
    RETURN_IF_ERROR(EnsureLayer(manifest.layers[i], config.diff_ids[i], source));
  }
  const std::string tmp = TempDir();
  Status s = [&]() -> Status {
    RETURN_IF_ERROR(MakeDir(tmp));
    RETURN_IF_ERROR(MakeDir(tmp + "/rootfs"));
    Json layers = Json::array();
    for (const images::Descriptor& layer : manifest.layers) {
      const std::string dir = options_.dir + "/layers/" + Hex(layer.digest);
      ASSIGN_OR_RETURN(LayerRecord record, ReadLayerRecord(dir));
      RETURN_IF_ERROR(ApplyLayer(tmp + "/rootfs", dir + "/root", record.contents));
      layers.push_back(layer.digest);
    }
    RETURN_IF_ERROR(EnsureMountPoints(tmp + "/rootfs", config.working_dir));
    Json record = {{"manifest", "sha256:" + hex},
                   {"layers", layers},
                   {"config", images::SerializeImageConfig(config)}};
    RETURN_IF_ERROR(WriteFile(tmp + "/in-use.lock", ""));
    RETURN_IF_ERROR(WriteFile(tmp + "/used", std::to_string(clock_.NowMicros())));
    RETURN_IF_ERROR(WriteFile(tmp + "/image.json", record.dump()));
    const std::string dest = options_.dir + "/images/" + hex;
    RETURN_IF_ERROR(RemoveTree(dest));  // a record-less leftover, if any
    if (::rename(tmp.c_str(), dest.c_str()) != 0) return store::ErrnoStatus(errno, "rename", dest);
    return store::FsyncDir(options_.dir + "/images");
  }();
  if (!s.ok()) (void)RemoveTree(tmp);
  return s;
}

Status LayerCache::EnsureLayer(const images::Descriptor& layer, const std::string& diff_id,
                               ImageSource& source) {
  const std::string hex = Hex(layer.digest);
  const std::string dir = options_.dir + "/layers/" + hex;
  auto check = [&](const LayerRecord& r) -> Status {
    if (r.diff_id != diff_id) {
      return DataLossError("layer " + layer.digest + " unpacks to " + r.diff_id +
                           " but the image config says " + diff_id);
    }
    return OkStatus();
  };
  if (Exists(dir + "/layer.json")) {
    ASSIGN_OR_RETURN(LayerRecord r, ReadLayerRecord(dir));
    return check(r);
  }
  ASSIGN_OR_RETURN(FileLock lock, FileLock::Acquire(options_.dir + "/locks/layer-" + hex + ".lock",
                                                    Mode::kExclusive));
  if (Exists(dir + "/layer.json")) {
    ASSIGN_OR_RETURN(LayerRecord r, ReadLayerRecord(dir));
    return check(r);
  }
  const std::string tmp = TempDir();
  const std::string blob = tmp + ".blob";
  Status s = [&]() -> Status {
    {
      ASSIGN_OR_RETURN(auto reader, source.OpenBlob(layer.digest));
      UniqueFd fd(::open(blob.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
      if (!fd.valid()) return store::ErrnoStatus(errno, "create", blob);
      RETURN_IF_ERROR(ReadBlob(*reader, layer.digest, fd.get(), nullptr, UINT64_MAX));
      RETURN_IF_ERROR(fd.Close(blob));
    }
    ASSIGN_OR_RETURN(std::string got, UncompressedDigest(blob));
    if (got != diff_id) {
      return DataLossError("layer " + layer.digest + " unpacks to " + got +
                           " but the image config says " + diff_id);
    }
    RETURN_IF_ERROR(MakeDir(tmp));
    RETURN_IF_ERROR(MakeDir(tmp + "/root"));
    ASSIGN_OR_RETURN(LayerContents contents, UnpackLayer(blob, tmp + "/root", options_.limits));
    RETURN_IF_ERROR(WriteFile(tmp + "/layer.json", ContentsToJson(contents, diff_id)));
    RETURN_IF_ERROR(RemoveTree(dir));
    if (::rename(tmp.c_str(), dir.c_str()) != 0) return store::ErrnoStatus(errno, "rename", dir);
    return store::FsyncDir(options_.dir + "/layers");
  }();
  ::unlink(blob.c_str());
  if (!s.ok()) (void)RemoveTree(tmp);
  return s;
}

Status LayerCache::Evict() {
  ASSIGN_OR_RETURN(FileLock gc, FileLock::TryAcquireExisting(options_.dir + "/locks/gc.lock",
                                                             Mode::kExclusive));
  if (!gc.held()) return OkStatus();  // a Prepare is under way; it evicts when done
  return EvictLocked();
}

Status LayerCache::EvictLocked() {
  // Nothing is being built: whatever is in tmp/ was left by a crash.
  {
    ASSIGN_OR_RETURN(UniqueFd tmp, OpenDir(options_.dir + "/tmp"));
    RETURN_IF_ERROR(ClearDir(tmp.get()));
  }
  ASSIGN_OR_RETURN(UniqueFd layers_dir, OpenDir(options_.dir + "/layers"));
  ASSIGN_OR_RETURN(UniqueFd images_dir, OpenDir(options_.dir + "/images"));
  std::map<std::string, uint64_t> layer_bytes;  // digest -> bytes
  ASSIGN_OR_RETURN(std::vector<std::string> layer_names, ListDir(layers_dir.get()));
  uint64_t total = 0;
  for (const std::string& n : layer_names) {
    auto r = ReadLayerRecord(options_.dir + "/layers/" + n);
    if (!r.ok()) {  // incomplete: not ours to keep
      RETURN_IF_ERROR(RemoveAt(layers_dir.get(), n));
      continue;
    }
    layer_bytes["sha256:" + n] = r->contents.bytes;
    total += r->contents.bytes;
  }
  if (total <= options_.max_bytes) return OkStatus();

  struct Candidate {
    std::string hex;
    ImageRecord record;
  };
  std::vector<Candidate> images;
  ASSIGN_OR_RETURN(std::vector<std::string> image_names, ListDir(images_dir.get()));
  for (const std::string& n : image_names) {
    auto r = ReadImageRecord(options_.dir + "/images/" + n);
    if (!r.ok()) {
      RETURN_IF_ERROR(RemoveAt(images_dir.get(), n));
      continue;
    }
    images.push_back({n, std::move(*r)});
  }
  auto drop_unreferenced = [&]() -> Status {
    std::set<std::string> used;
    for (const Candidate& c : images) used.insert(c.record.layers.begin(), c.record.layers.end());
    for (auto it = layer_bytes.begin(); it != layer_bytes.end() && total > options_.max_bytes;) {
      if (used.contains(it->first)) {
        ++it;
        continue;
      }
      RETURN_IF_ERROR(RemoveAt(layers_dir.get(), Hex(it->first)));
      total -= it->second;
      it = layer_bytes.erase(it);
    }
    return OkStatus();
  };
  RETURN_IF_ERROR(drop_unreferenced());
  std::sort(images.begin(), images.end(), [](const Candidate& a, const Candidate& b) {
    return a.record.used_micros < b.record.used_micros;
  });
  while (total > options_.max_bytes) {
    bool evicted = false;
    for (auto it = images.begin(); it != images.end(); ++it) {
      const std::string dir = options_.dir + "/images/" + it->hex;
      ASSIGN_OR_RETURN(FileLock in_use,
                       FileLock::TryAcquireExisting(dir + "/in-use.lock", Mode::kExclusive));
      if (!in_use.held()) continue;  // leased: a job runs in it
      // Out of images/ first (atomic), then removed.
      const std::string gone = TempDir();
      if (::rename(dir.c_str(), gone.c_str()) != 0) return store::ErrnoStatus(errno, "rename", dir);
      RETURN_IF_ERROR(RemoveTree(gone));
      images.erase(it);
      evicted = true;
      break;
    }
    if (!evicted) break;  // everything left is in use
    RETURN_IF_ERROR(drop_unreferenced());
  }
  return OkStatus();
}

StatusOr<CacheUsage> LayerCache::Usage() const {
  CacheUsage u;
  ASSIGN_OR_RETURN(UniqueFd layers_dir, OpenDir(options_.dir + "/layers"));
  ASSIGN_OR_RETURN(std::vector<std::string> layers, ListDir(layers_dir.get()));
  for (const std::string& n : layers) {
    auto r = ReadLayerRecord(options_.dir + "/layers/" + n);
    if (!r.ok()) continue;
    ++u.layers;
    u.layer_bytes += r->contents.bytes;
  }
  ASSIGN_OR_RETURN(UniqueFd images_dir, OpenDir(options_.dir + "/images"));
  ASSIGN_OR_RETURN(std::vector<std::string> images, ListDir(images_dir.get()));
  u.images = images.size();
  return u;
}

}  // namespace tandem::imagefs
