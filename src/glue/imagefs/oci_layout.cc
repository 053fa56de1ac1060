#include "glue/imagefs/oci_layout.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "common/json.h"
#include "glue/imagefs/fs_at.h"
#include "glue/store/sha256.h"

namespace tandem::imagefs {
namespace {

StatusOr<std::string> ReadText(const std::string& path, size_t max_bytes) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFoundError("cannot read '" + path + "'");
  std::string out;
  std::vector<char> buf(1 << 16);
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    out.append(buf.data(), static_cast<size_t>(in.gcount()));
    if (out.size() > max_bytes) {
      return ResourceExhaustedError("'" + path + "' is larger than " + std::to_string(max_bytes) +
                                    " bytes");
    }
  }
  return out;
}

Status WriteAtomic(const std::string& path, std::string_view data) {
  const std::string tmp = path + store::TempName();
  {
    UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
    if (!fd.valid()) return store::ErrnoStatus(errno, "create", tmp);
    RETURN_IF_ERROR(store::WriteAll(fd.get(), data.data(), data.size(), tmp));
    RETURN_IF_ERROR(fd.Close(tmp));
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    return store::ErrnoStatus(err, "rename to", path);
  }
  return OkStatus();
}

StatusOr<store::BlobInfo> HashFile(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return store::ErrnoStatus(errno, "open", path);
  store::Sha256 hash;
  std::vector<char> buf(1 << 20);
  uint64_t size = 0;
  for (;;) {
    ASSIGN_OR_RETURN(size_t n, store::ReadSome(fd.get(), buf.data(), buf.size(), path));
    if (n == 0) break;
    size += n;
    hash.Update(buf.data(), n);
  }
  return store::BlobInfo{hash.FinishDigest(), size};
}

bool ValidDigest(std::string_view d) {
  if (d.size() != 71 || !d.starts_with("sha256:")) return false;
  for (char c : d.substr(7)) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

class FileReader : public store::BlobReader {
 public:
  FileReader(std::string digest, UniqueFd fd, uint64_t size)
      : digest_(std::move(digest)), fd_(std::move(fd)), size_(size) {}
  StatusOr<size_t> Read(char* buf, size_t n) override {
    ASSIGN_OR_RETURN(size_t got, store::ReadSome(fd_.get(), buf, n, digest_));
    if (got > 0) {
      hash_.Update(buf, got);
      return got;
    }
    if (hash_.FinishDigest() != digest_) {
      return DataLossError("blob " + digest_ + " in the OCI layout does not match its digest");
    }
    return size_t{0};
  }
  const std::string& digest() const override { return digest_; }
  uint64_t size() const override { return size_; }

 private:
  std::string digest_;
  UniqueFd fd_;
  uint64_t size_;
  store::Sha256 hash_;
};

class LayoutImageSource : public ImageSource {
 public:
  explicit LayoutImageSource(const OciLayout& layout) : layout_(layout) {}
  StatusOr<std::string> ManifestBytes(const std::string& digest) override {
    return layout_.ReadBlob(digest, images::kMaxManifestBytes);
  }
  StatusOr<std::unique_ptr<store::BlobReader>> OpenBlob(const std::string& digest) override {
    if (!ValidDigest(digest)) return InvalidArgumentError("bad digest '" + digest + "'");
    const std::string path = layout_.BlobPath(digest);
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd.valid()) return NotFoundError("blob " + digest + " is not in " + layout_.dir());
    struct stat st;
    ::fstat(fd.get(), &st);
    return std::unique_ptr<store::BlobReader>(
        new FileReader(digest, std::move(fd), static_cast<uint64_t>(st.st_size)));
  }

 private:
  const OciLayout& layout_;
};

}  // namespace

StatusOr<OciLayout> OciLayout::Open(const std::string& dir, bool create) {
  struct stat st;
  const std::string marker = dir + "/oci-layout";
  if (::stat(marker.c_str(), &st) != 0) {
    if (!create) return NotFoundError("'" + dir + "' is not an OCI layout (no oci-layout file)");
    std::error_code ec;
    std::filesystem::create_directories(dir + "/blobs/sha256", ec);
    if (ec) return InternalError("cannot create '" + dir + "': " + ec.message());
    RETURN_IF_ERROR(WriteAtomic(marker, R"({"imageLayoutVersion":"1.0.0"})"));
    RETURN_IF_ERROR(WriteAtomic(dir + "/index.json",
                                R"({"schemaVersion":2,"mediaType":)"
                                R"("application/vnd.oci.image.index.v1+json","manifests":[]})"));
  }
  std::error_code ec;
  std::filesystem::create_directories(dir + "/blobs/sha256", ec);
  return OciLayout(dir);
}

std::string OciLayout::BlobPath(const std::string& digest) const {
  return dir_ + "/blobs/sha256/" + (digest.size() > 7 ? digest.substr(7) : digest);
}

bool OciLayout::HasBlob(const std::string& digest) const {
  struct stat st;
  return ValidDigest(digest) && ::stat(BlobPath(digest).c_str(), &st) == 0;
}

StatusOr<store::BlobInfo> OciLayout::AddBlobFile(const std::string& path,
                                                 const std::string& digest) {
  ASSIGN_OR_RETURN(store::BlobInfo info, HashFile(path));
  if (!digest.empty() && info.digest != digest) {
    return DataLossError("'" + path + "' is " + info.digest + ", expected " + digest);
  }
  const std::string dest = BlobPath(info.digest);
  if (::rename(path.c_str(), dest.c_str()) == 0) return info;
  if (errno != EXDEV) return store::ErrnoStatus(errno, "rename to", dest);
  std::error_code ec;
  std::filesystem::copy_file(path, dest, std::filesystem::copy_options::overwrite_existing, ec);
  if (ec) return InternalError("cannot copy '" + path + "' to '" + dest + "': " + ec.message());
  return info;
}

StatusOr<store::BlobInfo> OciLayout::AddBlobBytes(std::string_view bytes) {
  store::BlobInfo info{store::Sha256Digest(bytes), bytes.size()};
  RETURN_IF_ERROR(WriteAtomic(BlobPath(info.digest), bytes));
  return info;
}

StatusOr<std::string> OciLayout::ReadBlob(const std::string& digest, size_t max_bytes) const {
  if (!ValidDigest(digest)) return InvalidArgumentError("bad digest '" + digest + "'");
  auto bytes = ReadText(BlobPath(digest), max_bytes);
  if (!bytes.ok()) {
    if (bytes.status().code() == absl::StatusCode::kNotFound) {
      return NotFoundError("blob " + digest + " is not in the OCI layout " + dir_);
    }
    return bytes.status();
  }
  if (store::Sha256Digest(*bytes) != digest) {
    return DataLossError("blob " + digest + " in " + dir_ + " does not match its digest");
  }
  return bytes;
}

StatusOr<std::vector<images::Descriptor>> OciLayout::Manifests() const {
  ASSIGN_OR_RETURN(std::string text, ReadText(dir_ + "/index.json", images::kMaxManifestBytes));
  ASSIGN_OR_RETURN(images::Index index, images::ParseIndex(text));
  return index.manifests;
}

Status OciLayout::AddManifest(const images::Descriptor& manifest) {
  ASSIGN_OR_RETURN(std::string text, ReadText(dir_ + "/index.json", images::kMaxManifestBytes));
  ASSIGN_OR_RETURN(images::Index index, images::ParseIndex(text));
  auto name_of = [](const images::Descriptor& d) {
    auto it = d.annotations.find(kRefNameAnnotation);
    return it == d.annotations.end() ? std::string() : it->second;
  };
  const std::string name = name_of(manifest);
  std::vector<images::Descriptor> kept;
  for (auto& d : index.manifests) {
    if (d.digest == manifest.digest || (!name.empty() && name_of(d) == name)) continue;
    kept.push_back(std::move(d));
  }
  kept.push_back(manifest);
  index.manifests = std::move(kept);
  if (index.media_type.empty()) index.media_type = images::media_types::kOciIndex;
  return WriteAtomic(dir_ + "/index.json", images::SerializeIndex(index));
}

StatusOr<images::Descriptor> OciLayout::FindManifest(const std::string& name) const {
  ASSIGN_OR_RETURN(std::vector<images::Descriptor> manifests, Manifests());
  if (name.empty()) {
    if (manifests.size() == 1) return manifests[0];
    return InvalidArgumentError("the OCI layout " + dir_ + " holds " +
                                std::to_string(manifests.size()) +
                                " manifests; name one (oci:DIR:NAME)");
  }
  for (const auto& d : manifests) {
    auto it = d.annotations.find(kRefNameAnnotation);
    if ((it != d.annotations.end() && it->second == name) || d.digest == name) return d;
  }
  return NotFoundError("no manifest named '" + name + "' in the OCI layout " + dir_);
}

std::unique_ptr<ImageSource> LayoutSource(const OciLayout& layout) {
  return std::make_unique<LayoutImageSource>(layout);
}

}  // namespace tandem::imagefs
