#include "serving/server/endpoint_auth.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include <cctype>

namespace tandem::serving::server {
namespace {

int Nibble(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

StatusOr<EndpointAuth> EndpointAuth::FromHexDigests(const std::vector<std::string>& hex) {
  EndpointAuth auth;
  for (const std::string& h : hex) {
    std::array<unsigned char, 32> d{};
    bool ok = h.size() == 64;
    for (size_t i = 0; ok && i < 32; ++i) {
      int hi = Nibble(h[2 * i]), lo = Nibble(h[2 * i + 1]);
      ok = hi >= 0 && lo >= 0;
      d[i] = static_cast<unsigned char>(hi << 4 | lo);
    }
    if (!ok) {
      return InvalidArgumentError("token digest '" + h.substr(0, 80) +
                                  "' is not a SHA-256 in hex (64 digits)");
    }
    auth.digests_.push_back(d);
  }
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
  SHA256(reinterpret_cast<const unsigned char*>(token.data()), token.size(), got);
  int match = 0;  // every digest is compared: the time does not say which matched
  for (const auto& d : digests_) match |= CRYPTO_memcmp(got, d.data(), d.size()) == 0;
  return match != 0;
}

std::string TokenSha256Hex(std::string_view token) {
  unsigned char d[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(token.data()), token.size(), d);
  static const char* kDigits = "0123456789abcdef";
  std::string out;
  for (unsigned char c : d) {
    out += kDigits[c >> 4];
    out += kDigits[c & 15];
  }
  return out;
}

}  // namespace tandem::serving::server
