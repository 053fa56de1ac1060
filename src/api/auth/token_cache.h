// A bounded cache of verified API tokens: SHA-256 of the token -> the
// principal it stood for (with its team roles), so that a request's
// authentication needs no database round trip while nothing changed.
//
// An entry is served only until the earliest of: its token's expiry, `ttl`
// after it was read from the database, or the next Clear() (the identity
// store clears on every change of tokens or roles, made here or -- through
// LISTEN/NOTIFY on PostgreSQL -- by another control plane). A lookup that
// started before a Clear() cannot store what it read (the generation check),
// so a revocation is never undone by a concurrent slow lookup.
//
// Thread-safety: thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "api/auth/identity_store.h"
#include "common/clock.h"

namespace tandem::api::auth {

class TokenCache {
 public:
  // `clock` must outlive the cache. `ttl_micros` > 0; `max_entries` > 0
  // (when full, the cache starts over: tokens in use come back at once).
  TokenCache(Clock& clock, int64_t ttl_micros, size_t max_entries)
      : clock_(clock), ttl_micros_(ttl_micros), max_entries_(max_entries) {}

  // Read before looking a token up in the database; pass to Put.
  uint64_t generation() const;
  // The cached principal for `hash`, if its entry is still valid now.
  std::optional<Principal> Get(const std::string& hash) const;
  // Keeps `p` for `hash` (token expiring at `expires_micros`, 0 = never),
  // unless the cache was cleared since `generation` was read.
  void Put(const std::string& hash, const Principal& p, int64_t expires_micros,
           uint64_t generation);
  // Drops every entry (and refuses Puts of lookups already under way).
  void Clear();
  size_t size() const;

 private:
  struct Entry {
    Principal principal;
    int64_t valid_until_micros;  // wall clock, like the tokens' expiry
  };
  Clock& clock_;
  const int64_t ttl_micros_;
  const size_t max_entries_;
  mutable absl::Mutex mu_;
  uint64_t generation_ ABSL_GUARDED_BY(mu_) = 0;
  std::unordered_map<std::string, Entry> entries_ ABSL_GUARDED_BY(mu_);
};

}  // namespace tandem::api::auth
