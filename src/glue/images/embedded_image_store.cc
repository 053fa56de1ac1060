#include "glue/images/embedded_image_store.h"

#include <algorithm>
#include <set>
#include <string>

#include "glue/images/errors.h"
#include "glue/images/manifest.h"

namespace tandem::images {
namespace {

constexpr std::string_view kReposPrefix = "images/repos/";
constexpr std::string_view kCatalogPrefix = "images/catalog/";
constexpr std::string_view kCatalogSuffix = "/_repo";

std::string_view Hex(std::string_view digest) { return digest.substr(digest.find(':') + 1); }

std::string RepoPrefix(std::string_view repo) {
  return std::string(kReposPrefix) + std::string(repo) + "/_";
}
std::string BlobKey(std::string_view repo, std::string_view digest) {
  return std::string(kReposPrefix) + std::string(repo) + "/_blobs/" + std::string(Hex(digest));
}
std::string ManifestPrefix(std::string_view repo) {
  return std::string(kReposPrefix) + std::string(repo) + "/_manifests/";
}
std::string ManifestKey(std::string_view repo, std::string_view digest) {
  return ManifestPrefix(repo) + std::string(Hex(digest));
}
std::string TagPrefix(std::string_view repo) {
  return std::string(kReposPrefix) + std::string(repo) + "/_tags/";
}
std::string TagKey(std::string_view repo, std::string_view tag) {
  return TagPrefix(repo) + std::string(tag);
}
std::string CatalogKey(std::string_view repo) {
  return std::string(kCatalogPrefix) + std::string(repo) + std::string(kCatalogSuffix);
}

std::string BlobName(std::string_view repo, std::string_view digest) {
  return "blob " + std::string(digest) + " in repository '" + std::string(repo) + "'";
}

}  // namespace

EmbeddedImageStore::EmbeddedImageStore(store::ObjectStore& store, bus::EventBus* bus,
                                       Clock* clock)
    : ImageStore(bus, clock), store_(store) {}

StatusOr<std::vector<store::ObjectInfo>> EmbeddedImageStore::ListAll(const std::string& prefix) {
  std::vector<store::ObjectInfo> out;
  std::string token;
  do {
    ASSIGN_OR_RETURN(store::ListResult page, store_.List(prefix, token));
    for (store::ObjectInfo& o : page.objects) out.push_back(std::move(o));
    token = std::move(page.next_page_token);
  } while (!token.empty());
  return out;
}

StatusOr<bool> EmbeddedImageStore::RepoExists(std::string_view repo) {
  ASSIGN_OR_RETURN(store::ListResult page, store_.List(RepoPrefix(repo), "", 1));
  return !page.objects.empty();
}

Status EmbeddedImageStore::Missing(std::string_view repo, Status missing) {
  ASSIGN_OR_RETURN(bool exists, RepoExists(repo));
  if (!exists) {
    return ImageError(StatusCode::kNotFound, codes::kNameUnknown,
                      "repository '" + std::string(repo) + "' not found");
  }
  return missing;
}

Status EmbeddedImageStore::EnsureCatalog(std::string_view repo) {
  auto st = store_.Stat(CatalogKey(repo));
  if (st.ok()) return OkStatus();
  if (st.status().code() != StatusCode::kNotFound) return st.status();
  return store_.PutString(CatalogKey(repo), repo).status();
}

StatusOr<store::BlobInfo> EmbeddedImageStore::DoPutBlob(std::string_view repo,
                                                        const store::ReadFn& reader,
                                                        std::string_view expected_digest) {
  ASSIGN_OR_RETURN(store::BlobInfo info, store_.PutBlob(reader));
  return NameBlob(repo, info, expected_digest);
}

StatusOr<store::BlobInfo> EmbeddedImageStore::DoPutBlobFile(std::string_view repo,
                                                            const std::string& path,
                                                            std::string_view expected_digest) {
  ASSIGN_OR_RETURN(store::BlobInfo info, store_.AdoptBlobFile(path));
  return NameBlob(repo, info, expected_digest);
}

StatusOr<store::BlobInfo> EmbeddedImageStore::DoPutHashedBlobFile(std::string_view repo,
                                                                  const std::string& path,
                                                                  const store::BlobInfo& hashed) {
  ASSIGN_OR_RETURN(store::BlobInfo info, store_.AdoptHashedBlobFile(path, hashed));
  return NameBlob(repo, info, hashed.digest);
}

StatusOr<store::BlobInfo> EmbeddedImageStore::NameBlob(std::string_view repo,
                                                       const store::BlobInfo& info,
                                                       std::string_view expected_digest) {
  if (!expected_digest.empty() && info.digest != expected_digest) {
    // The bytes stay in the object store unnamed, so its GC frees them after
    // the grace period; nothing is visible in the repository.
    return ImageError(StatusCode::kInvalidArgument, codes::kDigestInvalid,
                      "uploaded content has digest " + info.digest + ", not " +
                          std::string(expected_digest));
  }
  RETURN_IF_ERROR(EnsureCatalog(repo));
  RETURN_IF_ERROR(store_.Link(BlobKey(repo, info.digest), info.digest).status());
  return info;
}

StatusOr<store::BlobInfo> EmbeddedImageStore::DoStatBlob(std::string_view repo,
                                                         std::string_view digest) {
  auto st = store_.Stat(BlobKey(repo, digest));
  if (!st.ok()) {
    if (st.status().code() == StatusCode::kNotFound) {
      return ImageError(StatusCode::kNotFound, codes::kBlobUnknown,
                        BlobName(repo, digest) + " not found");
    }
    return st.status();
  }
  if (st->digest != digest) {
    return DataLossError(BlobName(repo, digest) + " is linked to " + st->digest);
  }
  return store::BlobInfo{st->digest, st->size};
}

StatusOr<std::unique_ptr<store::BlobReader>> EmbeddedImageStore::DoOpenBlob(
    std::string_view repo, std::string_view digest) {
  RETURN_IF_ERROR(DoStatBlob(repo, digest).status());
  auto reader = store_.OpenBlob(digest);
  if (!reader.ok() && reader.status().code() == StatusCode::kNotFound) {
    return ImageError(StatusCode::kNotFound, codes::kBlobUnknown,
                      BlobName(repo, digest) + ": its bytes are gone from the object store");
  }
  return reader;
}

StatusOr<store::BlobInfo> EmbeddedImageStore::DoMountBlob(std::string_view from_repo,
                                                          std::string_view to_repo,
                                                          std::string_view digest) {
  ASSIGN_OR_RETURN(store::BlobInfo info, DoStatBlob(from_repo, digest));
  RETURN_IF_ERROR(EnsureCatalog(to_repo));
  RETURN_IF_ERROR(store_.Link(BlobKey(to_repo, digest), digest).status());
  return info;
}

Status EmbeddedImageStore::DoDeleteBlob(std::string_view repo, std::string_view digest) {
  Status s = store_.Delete(BlobKey(repo, digest));
  if (s.code() == StatusCode::kNotFound) {
    return ImageError(StatusCode::kNotFound, codes::kBlobUnknown,
                      BlobName(repo, digest) + " not found");
  }
  return s;
}

Status EmbeddedImageStore::DoPutManifest(std::string_view repo, std::string_view tag,
                                         std::string_view digest, std::string_view media_type,
                                         std::string_view bytes, bool is_index,
                                         const std::vector<std::string>& references) {
  std::set<std::string> seen;
  for (const std::string& ref : references) {
    if (!seen.insert(ref).second) continue;
    std::string key = is_index ? ManifestKey(repo, ref) : BlobKey(repo, ref);
    auto st = store_.Stat(key);
    if (st.ok()) continue;
    if (st.status().code() != StatusCode::kNotFound) return st.status();
    return ImageError(StatusCode::kNotFound, codes::kManifestBlobUnknown,
                      "manifest references " + std::string(is_index ? "manifest " : "blob ") +
                          ref + ", which is not in repository '" + std::string(repo) + "'");
  }
  ASSIGN_OR_RETURN(store::BlobInfo info, store_.PutBlobFromString(bytes));
  if (info.digest != digest) {
    return InternalError("manifest stored as " + info.digest + ", expected " +
                         std::string(digest));
  }
  RETURN_IF_ERROR(EnsureCatalog(repo));
  RETURN_IF_ERROR(store_.Link(ManifestKey(repo, digest), digest).status());
  if (!tag.empty()) RETURN_IF_ERROR(store_.Link(TagKey(repo, tag), digest).status());
  return OkStatus();
}

StatusOr<ManifestData> EmbeddedImageStore::DoGetManifest(std::string_view repo,
                                                         std::string_view tag_or_digest) {
  std::string digest;
  if (LooksLikeDigest(tag_or_digest)) {
    digest = std::string(tag_or_digest);
  } else {
    auto st = store_.Stat(TagKey(repo, tag_or_digest));
    if (!st.ok()) {
      if (st.status().code() != StatusCode::kNotFound) return st.status();
      return Missing(repo, ImageError(StatusCode::kNotFound, codes::kManifestUnknown,
                                      "tag '" + std::string(tag_or_digest) +
                                          "' not found in repository '" + std::string(repo) +
                                          "'"));
    }
    digest = st->digest;
  }
  auto bytes = store_.GetString(ManifestKey(repo, digest));
  if (!bytes.ok()) {
    if (bytes.status().code() != StatusCode::kNotFound) return bytes.status();
    return Missing(repo, ImageError(StatusCode::kNotFound, codes::kManifestUnknown,
                                    "manifest " + digest + " not found in repository '" +
                                        std::string(repo) + "'"));
  }
  ManifestData m;
  ASSIGN_OR_RETURN(m.media_type, ManifestMediaType(*bytes));
  m.bytes = *std::move(bytes);
  m.digest = std::move(digest);
  return m;
}

StatusOr<std::vector<std::string>> EmbeddedImageStore::DoDeleteManifest(
    std::string_view repo, std::string_view digest) {
  auto st = store_.Stat(ManifestKey(repo, digest));
  if (!st.ok()) {
    if (st.status().code() != StatusCode::kNotFound) return st.status();
    return Missing(repo, ImageError(StatusCode::kNotFound, codes::kManifestUnknown,
                                    "manifest " + std::string(digest) +
                                        " not found in repository '" + std::string(repo) + "'"));
  }
  std::vector<std::string> removed;
  std::string prefix = TagPrefix(repo);
  ASSIGN_OR_RETURN(std::vector<store::ObjectInfo> tags, ListAll(prefix));
  for (const store::ObjectInfo& t : tags) {
    if (t.digest != digest) continue;
    Status s = store_.Delete(t.key);
    if (!s.ok() && s.code() != StatusCode::kNotFound) return s;
    removed.push_back(t.key.substr(prefix.size()));
  }
  Status s = store_.Delete(ManifestKey(repo, digest));
  if (!s.ok() && s.code() != StatusCode::kNotFound) return s;
  return removed;
}

StatusOr<std::string> EmbeddedImageStore::DoDeleteTag(std::string_view repo,
                                                      std::string_view tag) {
  auto st = store_.Stat(TagKey(repo, tag));
  if (!st.ok()) {
    if (st.status().code() != StatusCode::kNotFound) return st.status();
    return Missing(repo, ImageError(StatusCode::kNotFound, codes::kManifestUnknown,
                                    "tag '" + std::string(tag) + "' not found in repository '" +
                                        std::string(repo) + "'"));
  }
  Status s = store_.Delete(TagKey(repo, tag));
  if (!s.ok() && s.code() != StatusCode::kNotFound) return s;
  return st->digest;
}

StatusOr<NamePage> EmbeddedImageStore::DoListRepositories(std::string_view last, size_t n) {
  // Catalog keys sort differently from names ('/' ends a nested name's
  // component), so the names are sorted here.
  ASSIGN_OR_RETURN(std::vector<store::ObjectInfo> keys, ListAll(std::string(kCatalogPrefix)));
  std::vector<std::string> names;
  for (const store::ObjectInfo& o : keys) {
    std::string_view k = o.key;
    if (!k.ends_with(kCatalogSuffix)) continue;
    k.remove_prefix(kCatalogPrefix.size());
    k.remove_suffix(kCatalogSuffix.size());
    if (k > last) names.emplace_back(k);
  }
  return PageOfNames(std::move(names), n);
}

StatusOr<NamePage> EmbeddedImageStore::DoListTags(std::string_view repo, std::string_view last,
                                                  size_t n) {
  ASSIGN_OR_RETURN(bool exists, RepoExists(repo));
  if (!exists) {
    return ImageError(StatusCode::kNotFound, codes::kNameUnknown,
                      "repository '" + std::string(repo) + "' not found");
  }
  std::string prefix = TagPrefix(repo);
  NamePage page;
  std::string token = last.empty() ? "" : prefix + std::string(last);
  while (page.names.size() <= n) {
    ASSIGN_OR_RETURN(store::ListResult result,
                     store_.List(prefix, token, std::min<size_t>(n + 1 - page.names.size(), 1000)));
    for (const store::ObjectInfo& o : result.objects) page.names.push_back(o.key.substr(prefix.size()));
    if (result.next_page_token.empty()) break;
    token = std::move(result.next_page_token);
  }
  page.more = page.names.size() > n;
  if (page.more) page.names.resize(n);
  return page;
}

StatusOr<ImageGcResult> EmbeddedImageStore::DoGarbageCollect(int64_t grace_micros) {
  ImageGcResult result;
  int64_t cutoff = clock().NowMicros() - grace_micros;
  ASSIGN_OR_RETURN(NamePage repos, DoListRepositories("", static_cast<size_t>(-1) / 2));
  for (const std::string& repo : repos.names) {
    // Every blob any manifest of the repository names is live.
    std::set<std::string> live;
    ASSIGN_OR_RETURN(std::vector<store::ObjectInfo> manifests, ListAll(ManifestPrefix(repo)));
    for (const store::ObjectInfo& m : manifests) {
      auto bytes = store_.GetString(m.key);
      if (!bytes.ok()) {
        if (bytes.status().code() == StatusCode::kNotFound) continue;
        return Annotate(bytes.status(), "GC reading " + m.key);
      }
      auto parsed = ParseAnyManifest(*bytes, "");
      if (!parsed.ok()) continue;  // stored manifests were valid when pushed
      if (parsed->kind == ManifestKind::kImage) {
        for (const Descriptor& d : parsed->references) live.insert(d.digest);
      }
    }
    std::string blob_prefix = std::string(kReposPrefix) + repo + "/_blobs/";
    ASSIGN_OR_RETURN(std::vector<store::ObjectInfo> blobs, ListAll(blob_prefix));
    for (const store::ObjectInfo& b : blobs) {
      if (live.count(b.digest) || b.created_micros > cutoff) continue;
      Status s = store_.Delete(b.key);
      if (!s.ok() && s.code() != StatusCode::kNotFound) return s;
      ++result.blob_links_removed;
    }
    ASSIGN_OR_RETURN(bool exists, RepoExists(repo));
    if (!exists) {
      Status s = store_.Delete(CatalogKey(repo));
      if (!s.ok() && s.code() != StatusCode::kNotFound) return s;
    }
  }
  ASSIGN_OR_RETURN(store::GcResult gc, store_.GarbageCollect(grace_micros));
  result.blobs_deleted = gc.blobs_deleted;
  result.bytes_freed = gc.bytes_freed;
  return result;
}

}  // namespace tandem::images
