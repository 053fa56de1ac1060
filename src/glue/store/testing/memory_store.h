// An ObjectStore kept entirely in memory, for unit tests (the way LevelDB's
// memenv stands in for a filesystem): no files, no temp directories, nothing
// to clean up. It passes the same conformance suite as file:// and s3://.
// Blobs are verified on read like any backend's; CorruptBlobForTest lets a
// test check how its code handles DataLoss.
//
// Thread-safe. Test-only (target tandem_store_testing).
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "common/clock.h"
#include "glue/store/object_store.h"

namespace tandem::store {

class MemoryStore final : public ObjectStore {
 public:
  // `clock` (not owned; nullptr = Clock::Real()) stamps created_micros and
  // drives GarbageCollect's grace window.
  explicit MemoryStore(Clock* clock = nullptr);
  static std::unique_ptr<MemoryStore> Create(Clock* clock = nullptr) {
    return std::make_unique<MemoryStore>(clock);
  }

  std::string uri() const override;

 protected:
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
  // Replaces a stored blob's bytes (keeping its digest), so that reads of it
  // end in DataLoss. NotFound if absent.
  Status CorruptBlobForTest(std::string_view digest, std::string bytes);

 private:
  struct Blob {
    std::shared_ptr<const std::string> bytes;  // shared with open readers
    int64_t touched_micros = 0;                // written or linked
  };

  Clock* const clock_;
  const int id_;
  mutable std::mutex mu_;
  std::map<std::string, Blob, std::less<>> blobs_;        // digest -> blob
  std::map<std::string, ObjectInfo, std::less<>> names_;  // key -> object
};

}  // namespace tandem::store
