// ObjectStore: tandem's artifact store. Two layers:
//
//  1. Immutable, content-addressed blobs named by digest
//     `sha256:<64 lowercase hex>`. Writing the same content twice stores it
//     once. Every read verifies the digest while streaming; content that does
//     not match its digest is reported as DataLoss and is never served as OK.
//  2. Named objects: a key (`jobs/<id>/model.tar.gz`) points at a blob digest.
//     Put/Link replace a name atomically (last writer wins). Delete removes
//     only the name; the blob stays until DeleteBlob or GarbageCollect.
//
// Backends are chosen by URI scheme in ObjectStore::Open: `file:///abs/dir`
// (file_store.h) and `s3://bucket/prefix?endpoint=...` (s3_store.h). Every backend
// must pass the conformance suite in object_store_conformance.h.
//
// Thread-safety: an ObjectStore is safe to use from many threads at once, and
// several processes may open the same store. A BlobReader is used by one
// thread at a time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace tandem::store {

inline constexpr std::string_view kDigestPrefix = "sha256:";
inline constexpr size_t kMaxKeyBytes = 1024;
inline constexpr size_t kMaxKeySegmentBytes = 250;

// A stored blob.
struct BlobInfo {
  std::string digest;  // "sha256:<hex>"
  uint64_t size = 0;   // bytes
};

// A named object.
struct ObjectInfo {
  std::string key;
  std::string digest;
  uint64_t size = 0;
  int64_t created_micros = 0;  // when this name was last written (Put/Link)
};

// One page of List results, sorted by key. `next_page_token` is empty on the
// last page; otherwise pass it back to List to get the next page.
struct ListResult {
  std::vector<ObjectInfo> objects;
  std::string next_page_token;
};

struct GcResult {
  uint64_t blobs_deleted = 0;
  uint64_t bytes_freed = 0;
  uint64_t blobs_kept = 0;
};

// Source of bytes for Put: fills `buf` with up to `n` bytes and returns how
// many; 0 means end of stream. An error aborts the Put (nothing is stored).
using ReadFn = std::function<StatusOr<size_t>(char* buf, size_t n)>;

// Streaming, verifying reader over one blob. Read() returns the number of
// bytes read; 0 only at the end once the digest has been verified. If the
// content does not match the digest (or the size is wrong), the final Read
// returns DataLoss instead of 0 — discard everything already read.
// Not thread-safe; owned by the caller.
class BlobReader {
 public:
  virtual ~BlobReader() = default;
  virtual StatusOr<size_t> Read(char* buf, size_t n) = 0;
  // The digest being read (and verified).
  virtual const std::string& digest() const = 0;
  // The size the backend reports for the blob (known before reading).
  virtual uint64_t size() const = 0;

  // Reads to the end into a string (for small objects); DataLoss as above.
  StatusOr<std::string> ReadAll();
};

class ObjectStore {
 public:
  virtual ~ObjectStore() = default;

  // Opens a store by URI. `file:///abs/dir` creates the directory if missing.
  // `s3://bucket/prefix?...` opens S3Store (docs/backends/s3.md). Unknown
  // schemes -> InvalidArgument naming the scheme. Owned by the caller.
  static StatusOr<std::unique_ptr<ObjectStore>> Open(std::string_view uri);

  // The URI this store was opened with.
  virtual std::string uri() const = 0;

  // ---- Blobs ---------------------------------------------------------------

  // Stores the bytes produced by `reader` (single pass: the digest is computed
  // while writing). Idempotent: storing existing content returns the same
  // digest and keeps one copy. Thread- and process-safe.
  StatusOr<BlobInfo> PutBlob(const ReadFn& reader) { return DoPutBlob(reader); }
  // Convenience overloads of PutBlob.
  StatusOr<BlobInfo> PutBlob(std::istream& in);
  virtual StatusOr<BlobInfo> PutBlobFromFile(const std::string& path);
  // As PutBlobFromFile, for a file the caller hands over (an upload's spool
  // file): a backend that can take the file itself does so instead of copying
  // it (the file store hashes it, then renames it into place when it is on
  // the store's filesystem), so on success `path` may be gone. The store
  // still computes the digest itself. Default: PutBlobFromFile.
  virtual StatusOr<BlobInfo> AdoptBlobFile(const std::string& path);
  // As AdoptBlobFile, for a file whose digest and size the caller computed
  // from exactly the bytes it wrote there (an upload's spool file, hashed as
  // the body arrived: api/upload_spool.h), so that a multi-GiB upload is not
  // read a second time just to hash it: the file store renames it into place
  // without reading it (a copy, hashed, across filesystems), the S3 store
  // streams it up once (a single PUT is hashed again as it is sent and
  // refused unless it completes `hashed.digest`; multipart parts are each
  // hashed and signed as they are sent); any other store adopts it as usual
  // (DoAdoptHashedBlobFile's default), hashing it. On success `path` may be
  // gone (the caller removes what is left).
  //
  // The caller vouches for the digest: every read still verifies it, so
  // content that does not match is never served (DataLoss), but it would
  // occupy the digest's name. InvalidArgument for a malformed digest,
  // FailedPrecondition when the file has another size than `hashed.size` or
  // (when the store hashed it) another digest; nothing named is stored then.
  StatusOr<BlobInfo> AdoptHashedBlobFile(const std::string& path, const BlobInfo& hashed);
  StatusOr<BlobInfo> PutBlobFromString(std::string_view data);

  // Opens a verifying reader. NotFound if absent; InvalidArgument if
  // `digest` is malformed. The reader is owned by the caller.
  StatusOr<std::unique_ptr<BlobReader>> OpenBlob(std::string_view digest);

  // Writes the blob to `path` via a temp file in the same directory, renamed
  // into place only once the digest is verified. On any error (DataLoss
  // included) nothing is left at `path` or in its directory; an existing file
  // at `path` is replaced only on success.
  virtual Status GetBlobToFile(std::string_view digest, const std::string& path);

  // Reads the whole blob and checks its digest: OK, NotFound or DataLoss.
  virtual Status VerifyBlob(std::string_view digest);

  // Makes `path` (which must not exist) a hard link to the blob's stored file,
  // reading nothing: the blob was verified when it was written. For staging a
  // job's inputs without a copy; the caller must keep whoever uses `path`
  // from writing to it or changing its mode (the file IS the blob: a job gets
  // it under a read-only mount). Unimplemented when the backend keeps no
  // local file or `path` is on another filesystem (then copy:
  // GetBlobToFile); NotFound if the blob is absent; AlreadyExists if `path`
  // does.
  Status LinkBlobToFile(std::string_view digest, const std::string& path);

  // Size of a blob without reading it (not verified). NotFound if absent.
  StatusOr<BlobInfo> StatBlob(std::string_view digest);
  // true/false, or an error for malformed digests / backend failures.
  StatusOr<bool> HasBlob(std::string_view digest);

  // Removes a blob even if names still point at it (those names then read as
  // NotFound). NotFound if absent.
  Status DeleteBlob(std::string_view digest);

  // Removes blobs no name points at and that were not written or linked in
  // the last `grace_micros` (protects a concurrent Put between its blob and
  // its name). Pass 0 to collect everything unreferenced.
  StatusOr<GcResult> GarbageCollect(int64_t grace_micros = 3600LL * 1'000'000);

  // ---- Named objects ------------------------------------------------------

  // Stores the content as a blob, then points `key` at it (replacing any
  // previous target atomically). InvalidArgument for bad keys (ValidateKey).
  virtual StatusOr<ObjectInfo> Put(std::string_view key, const ReadFn& reader);
  StatusOr<ObjectInfo> Put(std::string_view key, std::istream& in);
  StatusOr<ObjectInfo> PutFile(std::string_view key, const std::string& path);
  StatusOr<ObjectInfo> PutString(std::string_view key, std::string_view data);

  // Points `key` at an existing blob. NotFound if no such blob.
  StatusOr<ObjectInfo> Link(std::string_view key, std::string_view digest);

  // The name's metadata. NotFound if no such key.
  StatusOr<ObjectInfo> Stat(std::string_view key);

  // Verifying reader over the object's blob (see BlobReader). NotFound if the
  // key (or its blob) is missing. (Named Get, not Open: Open is the factory.)
  virtual StatusOr<std::unique_ptr<BlobReader>> Get(std::string_view key);
  // Whole object as a string (small objects), digest verified.
  StatusOr<std::string> GetString(std::string_view key);
  // Object to a file; same guarantees as GetBlobToFile.
  Status GetToFile(std::string_view key, const std::string& path);

  // Keys starting with `prefix` (plain string prefix, "" = all), sorted,
  // strictly after `page_token` (""= from the start), at most `max_results`
  // (0 = backend default, 1000).
  StatusOr<ListResult> List(std::string_view prefix, std::string_view page_token = "",
                            size_t max_results = 0);

  // Removes the name (not the blob). NotFound if no such key.
  Status Delete(std::string_view key);

 protected:
  // What a backend implements. The public methods above check their
  // arguments first (ValidateKey, ValidateDigest, grace_micros >= 0), so these
  // receive only valid keys and digests.
  virtual StatusOr<BlobInfo> DoPutBlob(const ReadFn& reader) = 0;
  virtual StatusOr<std::unique_ptr<BlobReader>> DoOpenBlob(std::string_view digest) = 0;
  virtual StatusOr<BlobInfo> DoStatBlob(std::string_view digest) = 0;
  virtual Status DoDeleteBlob(std::string_view digest) = 0;
  virtual StatusOr<GcResult> DoGarbageCollect(int64_t grace_micros) = 0;
  virtual StatusOr<ObjectInfo> DoLink(std::string_view key, std::string_view digest) = 0;
  virtual StatusOr<ObjectInfo> DoStat(std::string_view key) = 0;
  virtual StatusOr<ListResult> DoList(std::string_view prefix, std::string_view page_token,
                                      size_t max_results) = 0;
  virtual Status DoDelete(std::string_view key) = 0;
  // Default: Unimplemented (no local file to link).
  virtual Status DoLinkBlobToFile(std::string_view digest, const std::string& path);
  // AdoptHashedBlobFile once the digest's form and the file's size are
  // checked. A backend that can trust `hashed` stores the file without
  // reading it first; what it returns must still be `hashed` (checked).
  // Default: AdoptBlobFile (the store hashes the file itself).
  virtual StatusOr<BlobInfo> DoAdoptHashedBlobFile(const std::string& path, const BlobInfo& hashed);
};

// For a backend's DoPutBlob: reads `reader` to its end in 1 MiB chunks,
// hashing each chunk and passing it to `sink` (when set); the digest and size
// of all of it. The reader's errors come back annotated "PutBlob input", the
// sink's as they are; a reader that returns more than it was asked for is
// Internal.
using ChunkSink = std::function<Status(const char* data, size_t n)>;
StatusOr<BlobInfo> ReadHashed(const ReadFn& reader, const ChunkSink& sink);

// For a backend's DoList: the page of `keys` (the candidate names after the
// page token; sorted and deduplicated here) holding up to `max_results`
// objects that `stat` still finds (a name deleted meanwhile is skipped), with
// the last key examined as next_page_token when keys remain.
StatusOr<ListResult> PageOfKeys(
    std::vector<std::string> keys, size_t max_results,
    const std::function<StatusOr<ObjectInfo>(const std::string&)>& stat);

// Key rules shared by every backend: non-empty, <= 1024 bytes, relative (no
// leading '/'), no empty segments ("a//b", trailing '/'), no "." or ".."
// segments, no backslash, no NUL or control characters, segments <= 250
// bytes. InvalidArgument naming the key and the reason.
Status ValidateKey(std::string_view key);

// `sha256:` followed by exactly 64 lowercase hex digits, else InvalidArgument.
Status ValidateDigest(std::string_view digest);

}  // namespace tandem::store
