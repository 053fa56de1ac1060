#include "api/secrets/cipher.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <optional>

#include "common/hex.h"

namespace tandem::api::secrets {
namespace {

constexpr size_t kKeyBytes = 32, kNonceBytes = 12, kTagBytes = 16;
constexpr char kPrefix[] = "v1:";

Status Random(unsigned char* out, size_t n) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = ::getrandom(out + got, n - got, 0);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return InternalError(std::string("getrandom: ") + std::strerror(errno));
    got += static_cast<size_t>(r);
  }
  return OkStatus();
}

using Ctx = std::unique_ptr<EVP_CIPHER_CTX, decltype(&EVP_CIPHER_CTX_free)>;

}  // namespace

StatusOr<SecretCipher> SecretCipher::FromKey(std::string key) {
  if (key.size() != kKeyBytes) return InvalidArgumentError("a secrets key is 32 bytes");
  return SecretCipher(std::move(key));
}

StatusOr<SecretCipher> SecretCipher::OpenKeyFile(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0 && errno == ENOENT) {
    unsigned char key[kKeyBytes];
    RETURN_IF_ERROR(Random(key, sizeof(key)));
    int w = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (w >= 0) {
      bool ok = ::fchmod(w, 0600) == 0 &&
                ::write(w, key, sizeof(key)) == static_cast<ssize_t>(sizeof(key));
      ok = ::close(w) == 0 && ok;
      if (!ok) {
        ::unlink(path.c_str());
        return InternalError("cannot write " + path + ": " + std::strerror(errno));
      }
    } else if (errno != EEXIST) {  // EEXIST: another control plane made it meanwhile
      return InternalError("cannot create " + path + ": " + std::strerror(errno));
    }
    fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  }
  if (fd < 0) return InternalError("cannot open " + path + ": " + std::strerror(errno));
  struct stat st;
  std::string key(kKeyBytes + 1, '\0');
  ssize_t n = ::fstat(fd, &st) == 0 ? ::read(fd, key.data(), key.size()) : -1;
  ::close(fd);
  if (n < 0) return InternalError("cannot read " + path + ": " + std::strerror(errno));
  if ((st.st_mode & 077) != 0) {
    return FailedPreconditionError(path + " may be read by group or others: chmod 600 it");
  }
  if (static_cast<size_t>(n) != kKeyBytes) {
    return FailedPreconditionError(path + " is not a secrets key (32 bytes)");
  }
  key.resize(kKeyBytes);
  return SecretCipher(std::move(key));
}

StatusOr<std::string> SecretCipher::Seal(std::string_view plaintext, std::string_view aad) const {
  std::string buf(kNonceBytes + plaintext.size() + kTagBytes, '\0');
  auto* out = reinterpret_cast<unsigned char*>(buf.data());
  RETURN_IF_ERROR(Random(out, kNonceBytes));
  Ctx ctx(EVP_CIPHER_CTX_new(), EVP_CIPHER_CTX_free);
  int len = 0, fin = 0;
  bool ok = ctx != nullptr &&
            EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr,
                               reinterpret_cast<const unsigned char*>(key_.data()), out) == 1 &&
            EVP_EncryptUpdate(ctx.get(), nullptr, &len,
                              reinterpret_cast<const unsigned char*>(aad.data()),
                              static_cast<int>(aad.size())) == 1 &&
            EVP_EncryptUpdate(ctx.get(), out + kNonceBytes, &len,
                              reinterpret_cast<const unsigned char*>(plaintext.data()),
                              static_cast<int>(plaintext.size())) == 1 &&
            EVP_EncryptFinal_ex(ctx.get(), out + kNonceBytes + len, &fin) == 1 &&
            EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, kTagBytes,
                                out + kNonceBytes + plaintext.size()) == 1;
  if (!ok) return InternalError("AES-256-GCM encryption failed");
  return kPrefix + HexEncode(out, buf.size());
}

StatusOr<std::string> SecretCipher::Open(std::string_view sealed, std::string_view aad) const {
  std::optional<std::string> unhexed;
  if (sealed.starts_with(kPrefix)) unhexed = HexDecode(sealed.substr(3));
  if (!unhexed || unhexed->size() < kNonceBytes + kTagBytes) {
    return DataLossError("a stored secret is malformed");
  }
  const std::string& raw = *unhexed;
  const auto* in = reinterpret_cast<const unsigned char*>(raw.data());
  const size_t n = raw.size() - kNonceBytes - kTagBytes;
  std::string plain(n, '\0');
  Ctx ctx(EVP_CIPHER_CTX_new(), EVP_CIPHER_CTX_free);
  int len = 0, fin = 0;
  std::string tag(raw.substr(kNonceBytes + n));
  bool ok = ctx != nullptr &&
            EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr,
                               reinterpret_cast<const unsigned char*>(key_.data()), in) == 1 &&
            EVP_DecryptUpdate(ctx.get(), nullptr, &len,
                              reinterpret_cast<const unsigned char*>(aad.data()),
                              static_cast<int>(aad.size())) == 1 &&
            EVP_DecryptUpdate(ctx.get(), reinterpret_cast<unsigned char*>(plain.data()), &len,
                              in + kNonceBytes, static_cast<int>(n)) == 1 &&
            EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, kTagBytes, tag.data()) == 1 &&
            EVP_DecryptFinal_ex(ctx.get(), reinterpret_cast<unsigned char*>(plain.data()) + len,
                                &fin) == 1;
  if (!ok) {
    return DataLossError(
        "a stored secret does not open with this control plane's key (another secrets.key, or "
        "the value was altered)");
  }
  return plain;
}

}  // namespace tandem::api::secrets
