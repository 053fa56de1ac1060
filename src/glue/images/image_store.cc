#include "glue/images/image_store.h"

#include <algorithm>

#include <string>

#include "common/log.h"
#include "common/uri.h"
#include "glue/bus/event_bus.h"
#include "glue/bus/event_types.h"
#include "glue/images/embedded_image_store.h"
#include "glue/images/errors.h"
#include "glue/images/manifest.h"
#include "glue/store/fs_util.h"
#include "glue/images/registry_image_store.h"
#include "glue/store/sha256.h"

namespace tandem::images {
namespace {

Status CheckRepo(std::string_view repo) { return WithCode(ValidateRepository(repo), codes::kNameInvalid); }

Status CheckDigest(std::string_view digest) {
  return WithCode(ValidateImageDigest(digest), codes::kDigestInvalid);
}

Status CheckTagOrDigest(std::string_view ref) {
  if (LooksLikeDigest(ref)) return CheckDigest(ref);
  return WithCode(ValidateTag(ref), codes::kManifestInvalid);
}

StatusOr<size_t> CheckPage(size_t n) {
  if (n == 0) return kDefaultPageSize;
  if (n > kMaxPageSize) {
    return WithCode(InvalidArgumentError("page size " + std::to_string(n) + " is over the limit " +
                                         std::to_string(kMaxPageSize)),
                    codes::kUnsupported);
  }
  return n;
}

}  // namespace

ImageStore::ImageStore(bus::EventBus* bus, Clock* clock)
    : bus_(bus), clock_(clock != nullptr ? clock : &Clock::Real()) {}

StatusOr<std::unique_ptr<ImageStore>> ImageStore::Open(std::string_view uri,
                                                       store::ObjectStore* embedded,
                                                       bus::EventBus* bus, Clock* clock) {
  if (uri.empty() || uri == "embedded") {
    if (embedded == nullptr) {
      return InvalidArgumentError("image store 'embedded' needs the object store");
    }
    return std::unique_ptr<ImageStore>(
        std::make_unique<EmbeddedImageStore>(*embedded, bus, clock));
  }
  if (uri.starts_with("registry://") || uri.starts_with("registrys://")) {
    ASSIGN_OR_RETURN(auto store, RegistryImageStore::Open(uri, bus, clock));
    return std::unique_ptr<ImageStore>(std::move(store));
  }
  size_t colon = uri.find(':');
  return InvalidArgumentError("image store URI '" + std::string(uri) + "': unknown scheme '" +
                              std::string(uri.substr(0, colon)) +
                              "' (use 'embedded' or registry://host:port[/prefix])");
}

StatusOr<store::BlobInfo> ImageStore::PutBlob(std::string_view repo, const store::ReadFn& reader,
                                              std::string_view expected_digest) {
  RETURN_IF_ERROR(CheckRepo(repo));
  if (!expected_digest.empty()) RETURN_IF_ERROR(CheckDigest(expected_digest));
  return DoPutBlob(repo, reader, expected_digest);
}

StatusOr<store::BlobInfo> ImageStore::PutBlobFile(std::string_view repo, const std::string& path,
                                                  std::string_view expected_digest) {
  RETURN_IF_ERROR(CheckRepo(repo));
  if (!expected_digest.empty()) RETURN_IF_ERROR(CheckDigest(expected_digest));
  return DoPutBlobFile(repo, path, expected_digest);
}

StatusOr<store::BlobInfo> ImageStore::DoPutBlobFile(std::string_view repo, const std::string& path,
                                                    std::string_view expected_digest) {
  ASSIGN_OR_RETURN(store::UniqueFd fd, store::OpenRegularFileForReading(path));
  return DoPutBlob(
      repo, [&](char* buf, size_t n) { return store::ReadSome(fd.get(), buf, n, path); },
      expected_digest);
}

StatusOr<store::BlobInfo> ImageStore::PutHashedBlobFile(std::string_view repo,
                                                        const std::string& path,
                                                        const store::BlobInfo& hashed) {
  RETURN_IF_ERROR(CheckRepo(repo));
  RETURN_IF_ERROR(CheckDigest(hashed.digest));
  return DoPutHashedBlobFile(repo, path, hashed);
}

StatusOr<store::BlobInfo> ImageStore::DoPutHashedBlobFile(std::string_view repo,
                                                          const std::string& path,
                                                          const store::BlobInfo& hashed) {
  return DoPutBlobFile(repo, path, hashed.digest);
}

StatusOr<std::unique_ptr<store::BlobReader>> ImageStore::OpenBlob(std::string_view repo,
                                                                  std::string_view digest) {
  RETURN_IF_ERROR(CheckRepo(repo));
  RETURN_IF_ERROR(CheckDigest(digest));
  return DoOpenBlob(repo, digest);
}

StatusOr<store::BlobInfo> ImageStore::StatBlob(std::string_view repo, std::string_view digest) {
  RETURN_IF_ERROR(CheckRepo(repo));
  RETURN_IF_ERROR(CheckDigest(digest));
  return DoStatBlob(repo, digest);
}

StatusOr<store::BlobInfo> ImageStore::MountBlob(std::string_view from_repo,
                                                std::string_view to_repo,
                                                std::string_view digest) {
  RETURN_IF_ERROR(CheckRepo(from_repo));
  RETURN_IF_ERROR(CheckRepo(to_repo));
  RETURN_IF_ERROR(CheckDigest(digest));
  return DoMountBlob(from_repo, to_repo, digest);
}

Status ImageStore::DeleteBlob(std::string_view repo, std::string_view digest) {
  RETURN_IF_ERROR(CheckRepo(repo));
  RETURN_IF_ERROR(CheckDigest(digest));
  return DoDeleteBlob(repo, digest);
}

StatusOr<std::string> ImageStore::PutManifest(std::string_view repo,
                                              std::string_view tag_or_digest,
                                              std::string_view media_type,
                                              std::string_view bytes) {
  RETURN_IF_ERROR(CheckRepo(repo));
  RETURN_IF_ERROR(CheckTagOrDigest(tag_or_digest));
  if (bytes.size() > kMaxManifestBytes) {
    return ImageError(StatusCode::kResourceExhausted, codes::kSizeInvalid,
                      "manifest is " + std::to_string(bytes.size()) + " bytes; the limit is " +
                          std::to_string(kMaxManifestBytes));
  }
  auto parsed = ParseAnyManifest(bytes, media_type);
  if (!parsed.ok()) {
    return WithCode(parsed.status(), parsed.status().code() == StatusCode::kResourceExhausted
                                         ? codes::kSizeInvalid
                                         : codes::kManifestInvalid);
  }
  std::string digest = store::Sha256Digest(bytes);
  std::string tag;
  if (LooksLikeDigest(tag_or_digest)) {
    if (digest != tag_or_digest) {
      return ImageError(StatusCode::kInvalidArgument, codes::kDigestInvalid,
                        "manifest digest is " + digest + ", not " + std::string(tag_or_digest));
    }
  } else {
    tag = std::string(tag_or_digest);
  }
  std::vector<std::string> references;
  for (const Descriptor& d : parsed->references) references.push_back(d.digest);
  RETURN_IF_ERROR(DoPutManifest(repo, tag, digest, parsed->media_type, bytes,
                                parsed->kind == ManifestKind::kIndex, references));
  if (!tag.empty()) Publish("PUSH", repo, digest, tag);
  return digest;
}

StatusOr<ManifestData> ImageStore::GetManifest(std::string_view repo,
                                               std::string_view tag_or_digest) {
  RETURN_IF_ERROR(CheckRepo(repo));
  RETURN_IF_ERROR(CheckTagOrDigest(tag_or_digest));
  ASSIGN_OR_RETURN(ManifestData m, DoGetManifest(repo, tag_or_digest));
  // Verify what the backend returned, whatever it is.
  std::string actual = store::Sha256Digest(m.bytes);
  if (actual != m.digest || (LooksLikeDigest(tag_or_digest) && actual != tag_or_digest)) {
    return DataLossError("manifest " + std::string(repo) + "@" + m.digest + " read back as " +
                         actual);
  }
  return m;
}

StatusOr<std::string> ImageStore::Resolve(const Reference& ref) {
  ASSIGN_OR_RETURN(ManifestData m, GetManifest(ref.repository, ref.TagOrDigest()));
  return m.digest;
}

Status ImageStore::DeleteManifest(std::string_view repo, std::string_view tag_or_digest) {
  RETURN_IF_ERROR(CheckRepo(repo));
  RETURN_IF_ERROR(CheckTagOrDigest(tag_or_digest));
  if (!LooksLikeDigest(tag_or_digest)) return DeleteTag(repo, tag_or_digest);
  ASSIGN_OR_RETURN(std::vector<std::string> tags, DoDeleteManifest(repo, tag_or_digest));
  if (tags.empty()) Publish("DELETE", repo, tag_or_digest, "");
  for (const std::string& tag : tags) Publish("DELETE", repo, tag_or_digest, tag);
  return OkStatus();
}

Status ImageStore::DeleteTag(std::string_view repo, std::string_view tag) {
  RETURN_IF_ERROR(CheckRepo(repo));
  RETURN_IF_ERROR(WithCode(ValidateTag(tag), codes::kManifestInvalid));
  ASSIGN_OR_RETURN(std::string digest, DoDeleteTag(repo, tag));
  Publish("DELETE", repo, digest, tag);
  return OkStatus();
}

NamePage PageOfNames(std::vector<std::string> names, size_t n) {
  std::sort(names.begin(), names.end());
  NamePage page;
  page.more = names.size() > n;
  if (page.more) names.resize(n);
  page.names = std::move(names);
  return page;
}

StatusOr<NamePage> ImageStore::ListRepositories(std::string_view last, size_t n) {
  if (!last.empty()) RETURN_IF_ERROR(CheckRepo(last));
  ASSIGN_OR_RETURN(size_t page, CheckPage(n));
  return DoListRepositories(last, page);
}

StatusOr<NamePage> ImageStore::ListTags(std::string_view repo, std::string_view last, size_t n) {
  RETURN_IF_ERROR(CheckRepo(repo));
  if (!last.empty()) RETURN_IF_ERROR(WithCode(ValidateTag(last), codes::kUnsupported));
  ASSIGN_OR_RETURN(size_t page, CheckPage(n));
  return DoListTags(repo, last, page);
}

StatusOr<ImageGcResult> ImageStore::GarbageCollect(int64_t grace_micros) {
  if (grace_micros < 0) return InvalidArgumentError("GC grace period must be >= 0");
  return DoGarbageCollect(grace_micros);
}

void ImageStore::Publish(std::string_view action, std::string_view repo,
                         std::string_view digest, std::string_view tag) {
  if (bus_ == nullptr) return;
  Json detail = {{"action-type", std::string(action)},
                 {"repository-name", std::string(repo)},
                 {"image-digest", std::string(digest)},
                 {"image-tag", std::string(tag)},
                 {"result", "SUCCESS"}};
  auto published = bus_->Publish(bus::MakeEvent(*clock_, std::string(bus::events::kImagesSource),
                                                std::string(bus::events::kImageAction), detail,
                                                {"image/" + std::string(repo)}));
  if (!published.ok()) {
    LogWarn("image event not published", {{"repository", std::string(repo)},
                                           {"error", std::string(published.status().message())}});
  }
}

}  // namespace tandem::images
