#include "glue/store/sha256.h"

#include <openssl/evp.h>

#include <cstdlib>

#include "common/hex.h"

namespace tandem::store {

void Sha256::CtxDeleter::operator()(evp_md_ctx_st* ctx) const { EVP_MD_CTX_free(ctx); }

Sha256::Sha256() : ctx_(EVP_MD_CTX_new()) {
  if (ctx_ == nullptr || EVP_DigestInit_ex(ctx_.get(), EVP_sha256(), nullptr) != 1) {
    std::abort();  // out of memory or a broken OpenSSL: nothing sensible to do
  }
}

Sha256::~Sha256() = default;

void Sha256::Update(const void* data, size_t n) {
  if (n > 0) EVP_DigestUpdate(ctx_.get(), data, n);
}

std::string Sha256::FinishHex() {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx_.get(), md, &len);
  return HexEncode(md, len);
}

std::string Sha256::FinishDigest() { return "sha256:" + FinishHex(); }

std::string Sha256Digest(std::string_view data) {
  Sha256 h;
  h.Update(data);
  return h.FinishDigest();
}

}  // namespace tandem::store
