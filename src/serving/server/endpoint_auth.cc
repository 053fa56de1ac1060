#include "serving/server/endpoint_auth.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <memory>
#include <optional>

#include "common/hex.h"

namespace tandem::serving::server {
namespace {

// SHA-256 fetched from the default provider once per process (never freed:
// it lives as long as OpenSSL); null if the fetch failed (then Sha256 takes
// the one-shot path).
const EVP_MD* Sha256Md() {
  static const EVP_MD* md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  return md;
}

struct CtxFree {
  void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
};

// SHA-256 of `data` into `out` through the fetched digest and this thread's
// context (reinitialized per call, freed when the thread ends): OpenSSL 3's
// one-shot SHA256() fetches the algorithm and allocates a context on every
// call. Returns false only if OpenSSL fails both ways.
bool Sha256(std::string_view data, unsigned char out[SHA256_DIGEST_LENGTH]) {
  thread_local std::unique_ptr<EVP_MD_CTX, CtxFree> ctx(EVP_MD_CTX_new());
  const EVP_MD* md = Sha256Md();
  unsigned int n = 0;
  if (md != nullptr && ctx != nullptr && EVP_DigestInit_ex2(ctx.get(), md, nullptr) == 1 &&
      EVP_DigestUpdate(ctx.get(), data.data(), data.size()) == 1 &&
      EVP_DigestFinal_ex(ctx.get(), out, &n) == 1 && n == SHA256_DIGEST_LENGTH) {
    return true;
  }
  return SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), out) != nullptr;
}

std::atomic<uint64_t> next_auth_id{1};

}  // namespace

StatusOr<EndpointAuth> EndpointAuth::FromHexDigests(const std::vector<std::string>& hex) {
  EndpointAuth auth;
  for (const std::string& h : hex) {
    std::optional<std::string> bytes = HexDecode(h);
    if (!bytes || bytes->size() != 32) {
      return InvalidArgumentError("token digest '" + h.substr(0, 80) +
                                  "' is not a SHA-256 in hex (64 digits)");
    }
    std::array<unsigned char, 32> d{};
    std::copy(bytes->begin(), bytes->end(), d.begin());
    auth.digests_.push_back(d);
  }
  auth.id_ = next_auth_id.fetch_add(1);
  return auth;
}

bool EndpointAuth::Allows(std::string_view authorization) const {
  if (digests_.empty()) return true;
  constexpr std::string_view kScheme = "bearer ";
  if (authorization.size() <= kScheme.size()) return false;
  for (size_t i = 0; i < kScheme.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(authorization[i])) != kScheme[i]) return false;
  }
  std::string_view token = authorization.substr(kScheme.size());
  while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
  while (!token.empty() && token.back() == ' ') token.remove_suffix(1);
  if (token.empty()) return false;
  unsigned char got[SHA256_DIGEST_LENGTH];
  if (!Sha256(token, got)) return false;
  int match = 0;  // every digest is compared: the time does not say which matched
  for (const auto& d : digests_) match |= CRYPTO_memcmp(got, d.data(), d.size()) == 0;
  return match != 0;
}

bool EndpointAuth::Allows(std::string_view authorization, AcceptedToken& accepted) const {
  if (digests_.empty()) return true;
  // Constant time in the bytes (the length is the format's, not a secret):
  // a proxy may send several clients' requests over one connection.
  if (accepted.auth_id_ == id_ && !accepted.value_.empty() &&
      accepted.value_.size() == authorization.size() &&
      CRYPTO_memcmp(accepted.value_.data(), authorization.data(), authorization.size()) == 0) {
    return true;
  }
  if (!Allows(authorization)) {
    accepted.auth_id_ = 0;
    accepted.value_.clear();
    return false;
  }
  accepted.auth_id_ = id_;
  accepted.value_.assign(authorization.data(), authorization.size());
  return true;
}

std::string TokenSha256Hex(std::string_view token) {
  unsigned char d[SHA256_DIGEST_LENGTH] = {};
  Sha256(token, d);
  return HexEncode(d, sizeof(d));
}

}  // namespace tandem::serving::server
