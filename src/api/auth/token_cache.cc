#include "api/auth/token_cache.h"

#include <algorithm>

namespace tandem::api::auth {

uint64_t TokenCache::generation() const {
  absl::MutexLock lock(&mu_);
  return generation_;
}

std::optional<Principal> TokenCache::Get(const std::string& hash) const {
  int64_t now = clock_.NowMicros();
  absl::MutexLock lock(&mu_);
  auto it = entries_.find(hash);
  if (it == entries_.end() || now >= it->second.valid_until_micros) return std::nullopt;
  return it->second.principal;
}

void TokenCache::Put(const std::string& hash, const Principal& p, int64_t expires_micros,
                     uint64_t generation) {
  int64_t valid_until = clock_.NowMicros() + ttl_micros_;
  if (expires_micros != 0) valid_until = std::min(valid_until, expires_micros);
  absl::MutexLock lock(&mu_);
  if (generation != generation_) return;
  if (entries_.size() >= max_entries_ && !entries_.contains(hash)) entries_.clear();
  entries_[hash] = Entry{p, valid_until};
}

void TokenCache::Clear() {
  absl::MutexLock lock(&mu_);
  ++generation_;
  entries_.clear();
}

size_t TokenCache::size() const {
  absl::MutexLock lock(&mu_);
  return entries_.size();
}

}  // namespace tandem::api::auth
