// Incremental SHA-256 (OpenSSL EVP underneath; no OpenSSL in this header).
// Not thread-safe: one hasher per stream.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

struct evp_md_ctx_st;

namespace tandem::store {

class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void Update(const void* data, size_t n);
  void Update(std::string_view data) { Update(data.data(), data.size()); }
  // 64 lowercase hex digits. The hasher must not be used afterwards.
  std::string FinishHex();
  // "sha256:<hex>". The hasher must not be used afterwards.
  std::string FinishDigest();

 private:
  struct CtxDeleter {
    void operator()(evp_md_ctx_st* ctx) const;
  };
  std::unique_ptr<evp_md_ctx_st, CtxDeleter> ctx_;
};

// "sha256:<hex>" of `data`.
std::string Sha256Digest(std::string_view data);

}  // namespace tandem::store
