// The s3:// ObjectStore backend: any S3-compatible service (AWS S3, MinIO,
// s3rver, ...). Configuration, auth and addressing: docs/backends/s3.md.
//
// Layout under `s3://bucket/prefix`:
//   <prefix>/blobs/sha256/<64 hex>  immutable blob content (content-addressed)
//   <prefix>/names/<key>            one small JSON record per named object
//                                   {"key","digest","size","created_micros"}
//   <prefix>/touch/sha256/<64 hex>  empty marker rewritten whenever a Put or
//                                   Link (re)uses the blob; its LastModified
//                                   is the blob's "last used" time for GC grace
//
// PutBlob reads the input once, hashing it: inputs up to part_size stay in
// memory, larger ones are spooled to an unlinked temp file (TMPDIR). Only
// then is the digest known, so the blob is written straight to its final key
// — and not uploaded at all if that key already holds the same size (dedup
// without transfer). Up to multipart_threshold (default 5 GiB, S3's limit)
// that is one PUT streamed from the file and signed with the digest; it is
// hashed again as it is sent and its last bytes go out only if they complete
// the same digest (a file changed under PutBlobFromFile is refused, and what
// a server kept of the cut-off body is deleted). Above it, a multipart upload
// of part_size parts by `concurrency` workers, aborted on any failure; for a
// caller's file every part must hash again to its slice's hash from the
// first pass. A failing input or upload leaves nothing visible under blobs/.
// (s3_upload.cc)
//
// Reads stream in ranged GETs (8 MiB each, `concurrency` in flight, If-Match
// on the ETag seen at open), hashing as the caller reads; a mismatch is
// DataLoss at the end. GetBlobToFile streams its ranges straight into the
// file and hashes them from there (s3_download.cc).
// List scans the keys under names/<prefix> and sorts them client-side (not
// every S3-compatible server lists in binary order); GC ages are measured on
// the server's clock.
//
// Thread-safety: as ObjectStore. Concurrent Puts of one key are last-writer-
// wins (S3 PUT is atomic per object).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/clock.h"
#include "glue/store/object_store.h"
#include "glue/store/s3_client.h"

namespace tandem::store {

struct S3StoreOptions {
  Clock* clock = nullptr;  // created_micros and GC age; nullptr = Clock::Real(). Not owned.
  // Checked at Open: the bucket exists and the credentials work.
  bool check_bucket = true;
};

class S3Store final : public ObjectStore {
 public:
  // Opens `s3://bucket/prefix?...` (see ParseS3Uri). NotFound naming the
  // bucket if it does not exist, PermissionDenied if the credentials are
  // refused, Unavailable if the endpoint cannot be reached.
  static StatusOr<std::unique_ptr<S3Store>> Open(std::string_view uri, S3StoreOptions options = {});

  std::string uri() const override { return uri_; }

  StatusOr<BlobInfo> PutBlobFromFile(const std::string& path) override;
  // Ranged GETs in parallel, each written in place into the temp file while
  // this thread hashes them in order (s3_download.cc); same guarantees as
  // ObjectStore::GetBlobToFile.
  Status GetBlobToFile(std::string_view digest, const std::string& path) override;

 protected:
  // Streams the file up once, without the first (hashing) pass: a single PUT
  // signed with `hashed.digest` and verified as it is sent, or a multipart
  // upload whose parts are hashed as they are sent.
  StatusOr<BlobInfo> DoAdoptHashedBlobFile(const std::string& path,
                                           const BlobInfo& hashed) override;
  StatusOr<BlobInfo> DoPutBlob(const ReadFn& reader) override;
  StatusOr<std::unique_ptr<BlobReader>> DoOpenBlob(std::string_view digest) override;
  StatusOr<BlobInfo> DoStatBlob(std::string_view digest) override;
  Status DoDeleteBlob(std::string_view digest) override;
  StatusOr<GcResult> DoGarbageCollect(int64_t grace_micros) override;

  StatusOr<ObjectInfo> DoLink(std::string_view key, std::string_view digest) override;
  StatusOr<ObjectInfo> DoStat(std::string_view key) override;
  StatusOr<ListResult> DoList(std::string_view prefix, std::string_view page_token,
                              size_t max_results) override;
  Status DoDelete(std::string_view key) override;

 public:
  // Full object keys in the bucket (for tests and tools).
  std::string BlobKey(std::string_view digest) const;
  std::string NameKey(std::string_view key) const;
  S3Client& client() { return *client_; }

 private:
  S3Store(std::string uri, std::unique_ptr<S3Client> client, S3StoreOptions options);

  // Uploads `size` bytes from fd (or `mem` when fd < 0) to the blob of
  // `digest`, re-hashing what is sent (each part must hash to its entry of
  // `part_hashes`, the first pass's hashes of each part_size slice); skips
  // if the blob is already there.
  StatusOr<BlobInfo> Upload(int fd, const std::string& mem, const std::string& digest,
                            uint64_t size, const std::vector<std::string>& part_hashes);
  // One PUT streamed from fd, hashed again as it goes (s3_upload.cc).
  StatusOr<BlobInfo> UploadStreamed(int fd, const std::string& key, const std::string& digest,
                                    uint64_t size);
  // `part_hashes` empty: the parts are only hashed to be signed (a private
  // spool file cannot change).
  StatusOr<BlobInfo> UploadMultipart(int fd, const std::string& key, const std::string& digest,
                                     uint64_t size, const std::vector<std::string>& part_hashes);
  Status Touch(std::string_view digest);
  StatusOr<bool> Exists(const std::string& full_key, uint64_t* size);

  std::string uri_;
  std::unique_ptr<S3Client> client_;
  S3StoreOptions options_;
  Clock* clock_;
  std::string root_;  // "prefix/" or ""
};

}  // namespace tandem::store
