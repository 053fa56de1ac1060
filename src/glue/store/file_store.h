// The file:// ObjectStore backend: a local directory, content-addressed.
//
// Layout under the root:
//   blobs/sha256/<aa>/<64 hex>   immutable blob files (aa = first 2 hex digits)
//   names/<seg>.d/.../<last>.obj one small JSON record per key
//                                {"key","digest","size","created_micros"}
//   tmp/                         temp files of in-flight blob writes
// Directory segments carry a ".d" suffix and leaf records an ".obj" suffix so
// that keys "a/b" and "a/b/c" can both exist (S3 semantics).
//
// Every write is a temp file in the same filesystem + fsync + rename + fsync
// of the directory, so readers never see partial files and concurrent writers
// (threads or processes) are safe: equal content lands on the same blob name
// (the second writer discards its temp), and concurrent Puts of one key are
// last-writer-wins. Names are resolved with openat(O_NOFOLLOW) one segment at
// a time, so a symlink planted under names/ is refused (PermissionDenied) and
// a key never resolves outside the root. Deleting a key leaves its blob; empty
// name directories are left in place (harmless; avoids racing a concurrent
// Put into the same directory).
#pragma once

#include <memory>
#include <string>

#include "common/clock.h"
#include "glue/store/object_store.h"

namespace tandem::store {

struct FileStoreOptions {
  Clock* clock = nullptr;  // for created_micros; nullptr = Clock::Real(). Not owned.
  bool fsync = true;       // fsync files and directories (turn off only in tests)
};

class FileStore final : public ObjectStore {
 public:
  // Opens (creating if needed) the store rooted at the absolute path `root`.
  static StatusOr<std::unique_ptr<FileStore>> Open(const std::string& root,
                                                   FileStoreOptions options = {});

  std::string uri() const override { return "file://" + root_; }
  // Hashes the file, fsyncs it and renames it into place (no copy); a file
  // on another filesystem is copied (PutBlobFromFile).
  StatusOr<BlobInfo> AdoptBlobFile(const std::string& path) override;

 protected:
  // Renames the file into place without reading it (a copy, hashed, across
  // filesystems).
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
  // link(2) from the blob file; EXDEV -> Unimplemented.
  Status DoLinkBlobToFile(std::string_view digest, const std::string& path) override;

 public:
  // Where a blob lives on disk (for tests and tools); `digest` must be valid.
  std::string BlobPath(std::string_view digest) const;
  const std::string& root() const { return root_; }

 private:
  // Renames the complete, durable file `from` (content `info`) to its blob
  // path. kStored: `from` is gone; kAlreadyStored: the blob exists with that
  // size and `from` is left to the caller; an error leaves `from` too.
  // kCrossDevice: `from` is on another mount than the store (a bind mount of
  // the same filesystem has the same st_dev but rename() still fails EXDEV).
  enum class Placed { kStored, kAlreadyStored, kCrossDevice };
  StatusOr<Placed> MoveIntoPlace(const std::string& from, const BlobInfo& info);
  // AdoptBlobFile's work once the file is open: `hashed` is its content, or
  // null to hash it here.
  StatusOr<BlobInfo> Adopt(const std::string& path, const BlobInfo* hashed);

  FileStore(std::string root, FileStoreOptions options);

  std::string root_;
  FileStoreOptions options_;
  Clock* clock_;
};

}  // namespace tandem::store
