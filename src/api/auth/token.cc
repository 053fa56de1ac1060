#include "api/auth/token.h"

#include <openssl/evp.h>
#include <sys/random.h>

#include <array>
#include <cerrno>
#include <cstring>

#include "common/hex.h"

namespace tandem::api::auth {
namespace {

constexpr std::string_view kPrefix = "tdm_";
constexpr size_t kIdBytes = 8;
constexpr size_t kSecretBytes = 32;

Status Random(unsigned char* out, size_t n) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = ::getrandom(out + got, n - got, 0);
    if (r < 0) {
      if (errno == EINTR) continue;
      return InternalError(std::string("getrandom: ") + std::strerror(errno));
    }
    got += static_cast<size_t>(r);
  }
  return OkStatus();
}

bool IsHex(std::string_view s) {
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

}  // namespace

StatusOr<TokenSecret> NewToken() {
  std::array<unsigned char, kIdBytes + kSecretBytes> bytes{};
  RETURN_IF_ERROR(Random(bytes.data(), bytes.size()));
  TokenSecret t;
  t.id = "t" + HexEncode(bytes.data(), kIdBytes);
  t.token = std::string(kPrefix) + t.id + "_" + HexEncode(bytes.data() + kIdBytes, kSecretBytes);
  return t;
}

std::string HashToken(std::string_view token) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
  unsigned int len = 0;
  EVP_Digest(token.data(), token.size(), md.data(), &len, EVP_sha256(), nullptr);
  return HexEncode(md.data(), len);
}

std::string TokenId(std::string_view token) {
  if (!token.starts_with(kPrefix)) return "";
  token.remove_prefix(kPrefix.size());
  size_t us = token.find('_');
  if (us != 1 + kIdBytes * 2 || token[0] != 't') return "";
  std::string_view id = token.substr(0, us), secret = token.substr(us + 1);
  if (secret.size() != kSecretBytes * 2 || !IsHex(id.substr(1)) || !IsHex(secret)) return "";
  return std::string(id);
}

}  // namespace tandem::api::auth
