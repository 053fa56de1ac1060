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

  StatusOr<BlobInfo> PutBlob(const ReadFn& reader) override;
  using ObjectStore::PutBlob;
  StatusOr<std::unique_ptr<BlobReader>> OpenBlob(std::string_view digest) override;
  StatusOr<BlobInfo> StatBlob(std::string_view digest) override;
  Status DeleteBlob(std::string_view digest) override;
  StatusOr<GcResult> GarbageCollect(int64_t grace_micros = 3600LL * 1'000'000) override;

  StatusOr<ObjectInfo> Link(std::string_view key, std::string_view digest) override;
  StatusOr<ObjectInfo> Stat(std::string_view key) override;
  StatusOr<ListResult> List(std::string_view prefix, std::string_view page_token = "",
                            size_t max_results = 0) override;
  Status Delete(std::string_view key) override;

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
