#include "glue/store/testing/memory_store.h"

#include <atomic>
#include <cstring>
#include <vector>

#include "glue/store/sha256.h"

namespace tandem::store {
namespace {

constexpr size_t kDefaultListMax = 1000;

std::atomic<int> next_id{1};

// Streams a blob's bytes and checks them against its digest at the end.
class MemoryBlobReader final : public BlobReader {
 public:
  MemoryBlobReader(std::shared_ptr<const std::string> bytes, std::string digest)
      : bytes_(std::move(bytes)), digest_(std::move(digest)) {}

  StatusOr<size_t> Read(char* buf, size_t n) override {
    if (done_) {
      if (!final_.ok()) return final_;
      return size_t{0};
    }
    if (n == 0) return size_t{0};
    size_t got = std::min(n, bytes_->size() - offset_);
    if (got > 0) {
      std::memcpy(buf, bytes_->data() + offset_, got);
      hash_.Update(buf, got);
      offset_ += got;
      return got;
    }
    done_ = true;
    const std::string actual = hash_.FinishDigest();
    if (actual != digest_) {
      final_ = DataLossError("blob " + digest_ + " in memory is corrupt: its " +
                             std::to_string(offset_) + " bytes hash to " + actual);
      return final_;
    }
    return size_t{0};
  }
  const std::string& digest() const override { return digest_; }
  uint64_t size() const override { return bytes_->size(); }

 private:
  std::shared_ptr<const std::string> bytes_;
  std::string digest_;
  size_t offset_ = 0;
  Sha256 hash_;
  bool done_ = false;
  Status final_;
};

}  // namespace

MemoryStore::MemoryStore(Clock* clock)
    : clock_(clock != nullptr ? clock : &Clock::Real()), id_(next_id.fetch_add(1)) {}

std::string MemoryStore::uri() const { return "memory://" + std::to_string(id_); }

StatusOr<BlobInfo> MemoryStore::DoPutBlob(const ReadFn& reader) {
  auto bytes = std::make_shared<std::string>();
  ASSIGN_OR_RETURN(BlobInfo info, ReadHashed(reader, [&](const char* data, size_t n) {
                     bytes->append(data, n);
                     return OkStatus();
                   }));
  std::lock_guard<std::mutex> lock(mu_);
  Blob& blob = blobs_[info.digest];
  if (blob.bytes == nullptr) blob.bytes = std::move(bytes);
  blob.touched_micros = clock_->NowMicros();
  return info;
}

StatusOr<std::unique_ptr<BlobReader>> MemoryStore::DoOpenBlob(std::string_view digest) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = blobs_.find(digest);
  if (it == blobs_.end()) return NotFoundError("blob " + std::string(digest) + " not found");
  return std::unique_ptr<BlobReader>(
      std::make_unique<MemoryBlobReader>(it->second.bytes, std::string(digest)));
}

StatusOr<BlobInfo> MemoryStore::DoStatBlob(std::string_view digest) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = blobs_.find(digest);
  if (it == blobs_.end()) return NotFoundError("blob " + std::string(digest) + " not found");
  return BlobInfo{std::string(digest), it->second.bytes->size()};
}

Status MemoryStore::DoDeleteBlob(std::string_view digest) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = blobs_.find(digest);
  if (it == blobs_.end()) return NotFoundError("blob " + std::string(digest) + " not found");
  blobs_.erase(it);
  return OkStatus();
}

StatusOr<GcResult> MemoryStore::DoGarbageCollect(int64_t grace_micros) {
  std::lock_guard<std::mutex> lock(mu_);
  std::map<std::string, bool, std::less<>> live;
  for (const auto& [key, object] : names_) live[object.digest] = true;
  const int64_t now = clock_->NowMicros();
  GcResult result;
  for (auto it = blobs_.begin(); it != blobs_.end();) {
    bool young = grace_micros > 0 && now - it->second.touched_micros < grace_micros;
    if (live.contains(it->first) || young) {
      ++result.blobs_kept;
      ++it;
      continue;
    }
    ++result.blobs_deleted;
    result.bytes_freed += it->second.bytes->size();
    it = blobs_.erase(it);
  }
  return result;
}

StatusOr<ObjectInfo> MemoryStore::DoLink(std::string_view key, std::string_view digest) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = blobs_.find(digest);
  if (it == blobs_.end()) {
    return NotFoundError("cannot link '" + std::string(key) + "': blob " + std::string(digest) +
                         " not found");
  }
  it->second.touched_micros = clock_->NowMicros();
  ObjectInfo info{std::string(key), std::string(digest), it->second.bytes->size(),
                  clock_->NowMicros()};
  names_[info.key] = info;
  return info;
}

StatusOr<ObjectInfo> MemoryStore::DoStat(std::string_view key) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = names_.find(key);
  if (it == names_.end()) return NotFoundError("object '" + std::string(key) + "' not found");
  return it->second;
}

StatusOr<ListResult> MemoryStore::DoList(std::string_view prefix, std::string_view page_token,
                                         size_t max_results) {
  if (max_results == 0) max_results = kDefaultListMax;
  std::lock_guard<std::mutex> lock(mu_);
  ListResult result;
  auto it = page_token.empty() ? names_.lower_bound(prefix) : names_.upper_bound(page_token);
  for (; it != names_.end(); ++it) {
    if (!it->first.starts_with(prefix)) {
      if (it->first > prefix) break;
      continue;
    }
    if (result.objects.size() == max_results) {
      result.next_page_token = result.objects.back().key;
      break;
    }
    result.objects.push_back(it->second);
  }
  return result;
}

Status MemoryStore::DoDelete(std::string_view key) {
  std::lock_guard<std::mutex> lock(mu_);
  if (names_.erase(std::string(key)) == 0) {
    return NotFoundError("object '" + std::string(key) + "' not found");
  }
  return OkStatus();
}

Status MemoryStore::CorruptBlobForTest(std::string_view digest, std::string bytes) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = blobs_.find(digest);
  if (it == blobs_.end()) return NotFoundError("blob " + std::string(digest) + " not found");
  it->second.bytes = std::make_shared<const std::string>(std::move(bytes));
  return OkStatus();
}

}  // namespace tandem::store
