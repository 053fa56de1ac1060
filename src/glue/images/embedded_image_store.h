// The embedded image store (URI `embedded`, the default): images live in
// tandem's own ObjectStore, so image blobs are ObjectStore blobs and dedupe
// with artifacts, and a file:// or s3:// store holds images as it holds
// everything else, with no extra server or database table.
//
// Layout (named objects, each pointing at a blob; the layout CNCF
// distribution uses on its own filesystem driver):
//   images/repos/<repo>/_blobs/<hex>      -> the blob sha256:<hex> (repo has it)
//   images/repos/<repo>/_manifests/<hex>  -> the manifest's bytes (a blob)
//   images/repos/<repo>/_tags/<tag>       -> the manifest's bytes
//   images/catalog/<repo>/_repo           -> the repository's name (catalog)
// Path components of repository names match [a-z0-9]..., so `_blobs`,
// `_manifests`, `_tags` and `_repo` can never collide with a nested
// repository. A repository exists while it has any key under
// images/repos/<repo>/_. Manifest media types are read from the manifest
// bytes (manifest.h: ManifestMediaType).
//
// Why named objects and not SQL tables: a serving replica or a Slurm node
// that can read the store can pull an image without the database; the
// object store's GC already knows that a named blob is live; and file:// and
// s3:// stores need no migration.
//
// Thread-safety: as ImageStore. Writes are last-writer-wins per key, like
// the object store's names (two pushes of one tag: the later one wins).
#pragma once

#include "glue/images/image_store.h"

namespace tandem::images {

class EmbeddedImageStore final : public ImageStore {
 public:
  // `store`, `bus` (may be null) and `clock` (null = real) must outlive this.
  EmbeddedImageStore(store::ObjectStore& store, bus::EventBus* bus, Clock* clock);

  std::string uri() const override { return "embedded"; }

 protected:
  StatusOr<store::BlobInfo> DoPutBlob(std::string_view repo, const store::ReadFn& reader,
                                      std::string_view expected_digest) override;
  StatusOr<std::unique_ptr<store::BlobReader>> DoOpenBlob(std::string_view repo,
                                                          std::string_view digest) override;
  // The object store adopts the file (AdoptBlobFile: no copy on a file store).
  StatusOr<store::BlobInfo> DoPutBlobFile(std::string_view repo, const std::string& path,
                                          std::string_view expected_digest) override;
  // The object store adopts the file with the caller's digest (not read again).
  StatusOr<store::BlobInfo> DoPutHashedBlobFile(std::string_view repo, const std::string& path,
                                                const store::BlobInfo& hashed) override;
  StatusOr<store::BlobInfo> DoStatBlob(std::string_view repo, std::string_view digest) override;
  StatusOr<store::BlobInfo> DoMountBlob(std::string_view from_repo, std::string_view to_repo,
                                        std::string_view digest) override;
  Status DoDeleteBlob(std::string_view repo, std::string_view digest) override;
  Status DoPutManifest(std::string_view repo, std::string_view tag, std::string_view digest,
                       std::string_view media_type, std::string_view bytes, bool is_index,
                       const std::vector<std::string>& references) override;
  StatusOr<ManifestData> DoGetManifest(std::string_view repo,
                                       std::string_view tag_or_digest) override;
  StatusOr<std::vector<std::string>> DoDeleteManifest(std::string_view repo,
                                                      std::string_view digest) override;
  StatusOr<std::string> DoDeleteTag(std::string_view repo, std::string_view tag) override;
  StatusOr<NamePage> DoListRepositories(std::string_view last, size_t n) override;
  StatusOr<NamePage> DoListTags(std::string_view repo, std::string_view last, size_t n) override;
  StatusOr<ImageGcResult> DoGarbageCollect(int64_t grace_micros) override;

 private:
  // Names a stored blob in `repo` once its digest is the expected one.
  StatusOr<store::BlobInfo> NameBlob(std::string_view repo, const store::BlobInfo& info,
                                     std::string_view expected_digest);
  StatusOr<bool> RepoExists(std::string_view repo);
  // NotFound with NAME_UNKNOWN if the repository does not exist, else `missing`.
  Status Missing(std::string_view repo, Status missing);
  Status EnsureCatalog(std::string_view repo);
  // Every key under `prefix`, all pages.
  StatusOr<std::vector<store::ObjectInfo>> ListAll(const std::string& prefix);

  store::ObjectStore& store_;
};

}  // namespace tandem::images
