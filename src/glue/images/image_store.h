// ImageStore: tandem's OCI image store — repositories of blobs (configs,
// layers) and manifests (image manifests, indexes), tags pointing at
// manifests, references `repo:tag` / `repo@sha256:...` resolved to digests.
// It is what the control plane's `/v2/` registry API serves and what nodes
// pull images from.
//
// Semantics are the OCI distribution spec's: a blob belongs to a repository
// once pushed there (or mounted from another repository); a manifest may be
// pushed only when every blob it names (config, layers — or, for an index,
// every child manifest) is in the repository; a tag points at one manifest
// digest and moves on re-push; deleting a manifest by digest removes its tags.
// Every digest is verified on write (PutBlob, PutManifest) and on read
// (OpenBlob's reader, GetManifest).
//
// Backends, chosen by URI in ImageStore::Open:
//   - `embedded` (or ""): inside tandem's ObjectStore (embedded_image_store.h);
//     blobs are ObjectStore blobs, so they dedupe with artifacts.
//   - `registry://host:port[/prefix]` (`registrys://` for https): an external
//     OCI distribution registry (registry_image_store.h).
// Every backend passes the conformance suite in
// testing/image_store_conformance.h.
//
// Errors: canonical Status codes, and each error a registry client should
// see as a specific distribution error code (BLOB_UNKNOWN, MANIFEST_UNKNOWN,
// NAME_UNKNOWN, DIGEST_INVALID, MANIFEST_INVALID, MANIFEST_BLOB_UNKNOWN, ...)
// carries that code (errors.h: DistributionCode(status)). NotFound messages
// name the repository and the tag or digest.
//
// Events: every tag written (PutManifest with a tag) publishes an "Image
// Action" PUSH event, every DeleteManifest / DeleteTag a DELETE event, on the
// bus given to Open (none when it is null), identically for every backend
// (glue/bus/event_types.h).
//
// Ownership: Open's `embedded` store, `bus` and `clock` are not owned and
// must outlive the ImageStore. Readers returned by OpenBlob are owned by the
// caller and must not outlive the ImageStore.
//
// Thread-safety: an ImageStore is safe to use from many threads at once, and
// several processes may open the same backing store. A BlobReader is used by
// one thread at a time.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "glue/images/reference.h"
#include "glue/store/object_store.h"

namespace tandem::bus {
class EventBus;
}

namespace tandem::images {

// A manifest as stored: the exact bytes pushed, their media type and digest.
struct ManifestData {
  std::string bytes;
  std::string media_type;
  std::string digest;  // sha256 of `bytes`
};

// One page of ListTags / ListRepositories, in lexical order. `more` is true
// when entries remain after the last one returned (pass it as `last`).
struct NamePage {
  std::vector<std::string> names;
  bool more = false;
};

// For a backend's listing: `names` sorted, cut to the first `n`, `more` when
// some were cut.
NamePage PageOfNames(std::vector<std::string> names, size_t n);

struct ImageGcResult {
  uint64_t blob_links_removed = 0;  // repository blobs no manifest referenced
  uint64_t blobs_deleted = 0;       // backing blobs freed (embedded: ObjectStore GC)
  uint64_t bytes_freed = 0;
};

// Default page size of ListTags/ListRepositories when n == 0, and the most a
// page may hold.
inline constexpr size_t kDefaultPageSize = 1000;
inline constexpr size_t kMaxPageSize = 10000;

class ImageStore {
 public:
  virtual ~ImageStore() = default;

  // Opens a backend by URI (see above). `embedded` is required for
  // `embedded`; `bus` may be null (no events); `clock` null = Clock::Real().
  // Unknown scheme -> InvalidArgument naming it.
  static StatusOr<std::unique_ptr<ImageStore>> Open(std::string_view uri,
                                                    store::ObjectStore* embedded,
                                                    bus::EventBus* bus, Clock* clock);

  // The URI this store was opened with.
  virtual std::string uri() const = 0;

  // ---- Blobs (configs, layers) --------------------------------------------

  // Stores the bytes `reader` produces as a blob of `repo`. If
  // `expected_digest` is set and the content does not match it: InvalidArgument
  // (DIGEST_INVALID) and nothing becomes visible in the repository (bytes the
  // backend already wrote are unreferenced and collected by GC). Returns the
  // digest and size.
  StatusOr<store::BlobInfo> PutBlob(std::string_view repo, const store::ReadFn& reader,
                                    std::string_view expected_digest = "");
  // PutBlob of a file the caller hands over (a finished upload's spool file):
  // a backend over a local store may take the file instead of copying it, so
  // on success `path` may be gone.
  StatusOr<store::BlobInfo> PutBlobFile(std::string_view repo, const std::string& path,
                                        std::string_view expected_digest = "");
  // PutBlobFile of a file whose digest and size the caller computed from
  // exactly the bytes it wrote there (a finished upload, hashed as its chunks
  // arrived): a backend over a local store adopts it without reading it again
  // (store::ObjectStore::AdoptHashedBlobFile); others hash it as PutBlobFile.
  StatusOr<store::BlobInfo> PutHashedBlobFile(std::string_view repo, const std::string& path,
                                              const store::BlobInfo& hashed);
  // A verifying reader over a blob of `repo` (the final Read fails with
  // DataLoss if the bytes do not match the digest). NotFound (BLOB_UNKNOWN)
  // naming repo and digest if `repo` does not have it.
  StatusOr<std::unique_ptr<store::BlobReader>> OpenBlob(std::string_view repo,
                                                        std::string_view digest);
  // Size of a blob of `repo` without reading it. NotFound as OpenBlob.
  StatusOr<store::BlobInfo> StatBlob(std::string_view repo, std::string_view digest);
  // Makes a blob of `from_repo` a blob of `to_repo` without copying.
  // NotFound (BLOB_UNKNOWN) if `from_repo` does not have it.
  StatusOr<store::BlobInfo> MountBlob(std::string_view from_repo, std::string_view to_repo,
                                      std::string_view digest);
  // Removes a blob from `repo` (the bytes go at GC). NotFound if absent.
  Status DeleteBlob(std::string_view repo, std::string_view digest);

  // ---- Manifests and tags ---------------------------------------------------

  // Stores a manifest under `tag_or_digest`. With a digest, the bytes must
  // hash to it (DIGEST_INVALID). With a tag, the tag is written (moved) to the
  // manifest's digest and a PUSH event is published. `media_type` is the
  // client's Content-Type ("" if none; must agree with the body's mediaType).
  // Refused with nothing stored: invalid JSON or shape (MANIFEST_INVALID),
  // over kMaxManifestBytes (ResourceExhausted, SIZE_INVALID), a config or
  // layer blob — or, for an index, a child manifest — missing from `repo`
  // (MANIFEST_BLOB_UNKNOWN naming the digest). Returns the manifest digest.
  StatusOr<std::string> PutManifest(std::string_view repo, std::string_view tag_or_digest,
                                    std::string_view media_type, std::string_view bytes);
  // The manifest a tag points at or with that digest, verified. NotFound:
  // NAME_UNKNOWN if the repository does not exist, else MANIFEST_UNKNOWN,
  // naming what was asked for.
  StatusOr<ManifestData> GetManifest(std::string_view repo, std::string_view tag_or_digest);
  // The manifest digest a reference names (its digest, if it has one, after
  // checking the repository has that manifest). Ignores ref.registry.
  StatusOr<std::string> Resolve(const Reference& ref);
  // With a digest: removes the manifest and every tag pointing at it. With a
  // tag: removes only the tag. Publishes a DELETE event per tag removed (or one
  // without a tag for an untagged manifest). NotFound as GetManifest.
  Status DeleteManifest(std::string_view repo, std::string_view tag_or_digest);
  // Removes a tag (the manifest stays). NotFound (MANIFEST_UNKNOWN) if absent.
  Status DeleteTag(std::string_view repo, std::string_view tag);

  // ---- Listing --------------------------------------------------------------

  // Repositories that have content (a repository emptied by deletes may stay
  // listed until the next GarbageCollect), lexically after `last`
  // ("" = from the start), at most `n` (0 = kDefaultPageSize).
  StatusOr<NamePage> ListRepositories(std::string_view last = "", size_t n = 0);
  // Tags of `repo`, lexically after `last`, at most `n`. NotFound
  // (NAME_UNKNOWN) for a repository that does not exist.
  StatusOr<NamePage> ListTags(std::string_view repo, std::string_view last = "", size_t n = 0);

  // ---- Maintenance ----------------------------------------------------------

  // Removes from each repository the blobs no manifest of it references and
  // that were pushed more than `grace_micros` ago (an upload in progress has
  // its blobs before its manifest), then frees unreferenced backing bytes
  // with the same grace (the embedded store runs ObjectStore::GarbageCollect,
  // so this also collects unreferenced artifact blobs past the grace period).
  StatusOr<ImageGcResult> GarbageCollect(int64_t grace_micros = 3600LL * 1'000'000);

 protected:
  ImageStore(bus::EventBus* bus, Clock* clock);

  // What a backend implements; arguments are already validated (repository
  // names, tags, digests, page sizes, manifest parsed and size-checked).
  virtual StatusOr<store::BlobInfo> DoPutBlob(std::string_view repo, const store::ReadFn& reader,
                                              std::string_view expected_digest) = 0;
  virtual StatusOr<std::unique_ptr<store::BlobReader>> DoOpenBlob(std::string_view repo,
                                                                  std::string_view digest) = 0;
  // Default: DoPutBlob reading the file.
  virtual StatusOr<store::BlobInfo> DoPutBlobFile(std::string_view repo, const std::string& path,
                                                  std::string_view expected_digest);
  // Default: DoPutBlobFile expecting `hashed.digest` (the file is hashed).
  virtual StatusOr<store::BlobInfo> DoPutHashedBlobFile(std::string_view repo,
                                                        const std::string& path,
                                                        const store::BlobInfo& hashed);
  virtual StatusOr<store::BlobInfo> DoStatBlob(std::string_view repo,
                                               std::string_view digest) = 0;
  virtual StatusOr<store::BlobInfo> DoMountBlob(std::string_view from_repo,
                                                std::string_view to_repo,
                                                std::string_view digest) = 0;
  virtual Status DoDeleteBlob(std::string_view repo, std::string_view digest) = 0;
  // `digest` is sha256(bytes), already computed and (for a digest reference)
  // checked; `media_type` is the effective one; `references` the descriptors
  // that must exist (blobs for an image, manifests for an index: `is_index`).
  // `tag` is "" when pushed by digest.
  virtual Status DoPutManifest(std::string_view repo, std::string_view tag,
                               std::string_view digest, std::string_view media_type,
                               std::string_view bytes, bool is_index,
                               const std::vector<std::string>& references) = 0;
  virtual StatusOr<ManifestData> DoGetManifest(std::string_view repo,
                                               std::string_view tag_or_digest) = 0;
  // Removes the manifest `digest` and its tags; returns the tags removed.
  virtual StatusOr<std::vector<std::string>> DoDeleteManifest(std::string_view repo,
                                                              std::string_view digest) = 0;
  // Removes a tag; returns the digest it pointed at.
  virtual StatusOr<std::string> DoDeleteTag(std::string_view repo, std::string_view tag) = 0;
  virtual StatusOr<NamePage> DoListRepositories(std::string_view last, size_t n) = 0;
  virtual StatusOr<NamePage> DoListTags(std::string_view repo, std::string_view last,
                                        size_t n) = 0;
  virtual StatusOr<ImageGcResult> DoGarbageCollect(int64_t grace_micros) = 0;

  Clock& clock() const { return *clock_; }

 private:
  void Publish(std::string_view action, std::string_view repo, std::string_view digest,
               std::string_view tag);

  bus::EventBus* bus_;
  Clock* clock_;
};

}  // namespace tandem::images
