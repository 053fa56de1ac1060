// JSON Web Keys (RFC 7517) for verifying OIDC ID/access tokens: RSA keys
// (RS256, at least 2048 bits) and EC P-256 keys (ES256), read from a JWKS
// document `{"keys": [...]}` into OpenSSL EVP_PKEYs, and the two signature
// checks. Keys of other types (oct, OKP, other curves) and encryption keys
// (`use: enc`) are skipped: they can never verify a token.
//
// Thread-safety: a PublicKey is immutable after parsing and may be shared.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/json.h"
#include "common/status.h"

struct evp_pkey_st;

namespace tandem::api::auth {

// The only algorithms accepted; each pinned to its key type.
enum class JwtAlg { kRS256, kES256 };
std::string_view JwtAlgName(JwtAlg alg);

class PublicKey {
 public:
  // One JWK; InvalidArgument naming what is wrong (unsupported kty/crv, a
  // short RSA modulus, a point not on the curve, `alg` not matching the kty).
  static StatusOr<std::shared_ptr<const PublicKey>> FromJwk(const Json& jwk);

  const std::string& kid() const { return kid_; }
  // The one algorithm this key verifies (its type decides, not the token).
  JwtAlg alg() const { return alg_; }
  // True if `signature` (JWS form: PKCS#1 v1.5 for RS256, raw R||S for
  // ES256) signs `data` with SHA-256 under this key.
  bool Verify(std::string_view data, std::string_view signature) const;

  ~PublicKey();

 private:
  PublicKey() = default;
  std::string kid_;
  JwtAlg alg_ = JwtAlg::kRS256;
  evp_pkey_st* key_ = nullptr;
};

using KeySet = std::vector<std::shared_ptr<const PublicKey>>;

// A JWKS document: the usable keys (RSA/EC P-256 signing keys); the others
// are skipped. InvalidArgument if it is not `{"keys": [...]}`, if a usable
// key is malformed, or if two keys share a kid.
StatusOr<KeySet> ParseJwks(std::string_view text);

// base64url (RFC 4648 section 5) without padding, strictly: any '=', '+',
// '/', whitespace or a dangling bit group is InvalidArgument.
StatusOr<std::string> Base64UrlDecode(std::string_view in);
std::string Base64UrlEncode(std::string_view in);

}  // namespace tandem::api::auth
