// API tokens: high-entropy secrets shown once and stored only as SHA-256
// hashes. A token reads `tdm_<token id>_<secret>`: the id (public, used to
// list and revoke) and 32 random bytes from getrandom(2), both hex.
//
// Thread-safety: free functions, no state.
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"

namespace tandem::api::auth {

struct TokenSecret {
  std::string id;     // "t" + 16 hex digits: names the token in lists and revocation
  std::string token;  // the full bearer token, shown once
};

// A fresh token from the kernel's CSPRNG; Internal if getrandom fails.
StatusOr<TokenSecret> NewToken();
// Lowercase hex SHA-256 of `token` (OpenSSL).
std::string HashToken(std::string_view token);
// The id part of a well-formed token, or "" if `token` is not one.
std::string TokenId(std::string_view token);

}  // namespace tandem::api::auth
