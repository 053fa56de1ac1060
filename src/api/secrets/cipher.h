// Encryption at rest of team secrets: AES-256-GCM (OpenSSL) under a key kept
// in a file of the control plane's home (`<home>/secrets.key`, 32 random
// bytes from getrandom(2), mode 0600, created on first use). Sealed values
// read "v1:<hex of 12-byte nonce | ciphertext | 16-byte tag>"; the associated
// data binds a value to its row (team and name), so a value copied to
// another row does not open. Control planes sharing one database must share
// the key file.
//
// Thread-safety: immutable after Open; Seal/Open are thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"

namespace tandem::api::secrets {

class SecretCipher {
 public:
  // Reads the key at `path`, creating it (0600) when absent. A key file that
  // is not 32 bytes, or that group or others may read, is FailedPrecondition
  // naming it.
  static StatusOr<SecretCipher> OpenKeyFile(const std::string& path);
  // A cipher over `key` (32 bytes) for tests.
  static StatusOr<SecretCipher> FromKey(std::string key);

  StatusOr<std::string> Seal(std::string_view plaintext, std::string_view aad) const;
  // DataLoss when `sealed` is malformed, was sealed under another key or
  // another `aad`, or was altered.
  StatusOr<std::string> Open(std::string_view sealed, std::string_view aad) const;

 private:
  explicit SecretCipher(std::string key) : key_(std::move(key)) {}
  std::string key_;
};

}  // namespace tandem::api::secrets
