// Test-only: key pairs generated at test time (RSA 2048, EC P-256), their
// JWKS, and JWTs signed with them -- including forged ones (alg none, HS256
// keyed with the public key) for the attack tests.
//
// Thread-safety: a SigningKey is immutable after creation.
#pragma once

#include <memory>
#include <string>

#include "common/json.h"
#include "common/status.h"

struct evp_pkey_st;

namespace tandem::api::auth::testing {

class SigningKey {
 public:
  // kind "rsa" (2048 bits) or "ec" (P-256), named `kid`.
  static StatusOr<std::unique_ptr<SigningKey>> Generate(const std::string& kind,
                                                        const std::string& kid);
  // Reads a PEM private key written by Pem().
  static StatusOr<std::unique_ptr<SigningKey>> FromPem(const std::string& pem,
                                                       const std::string& kid);
  ~SigningKey();

  std::string Pem() const;           // the private key (PKCS#8 PEM)
  std::string PublicPem() const;     // the public key (SPKI PEM)
  Json Jwk() const;                  // the public JWK (kty, kid, n/e or crv/x/y, use, alg)
  const std::string& kid() const { return kid_; }
  std::string alg() const;           // RS256 or ES256

  // header.claims.signature with `alg` (default: the key's own) and `kid`
  // in the header. alg "none" gives an empty signature; "HS256" signs with
  // HMAC-SHA256 keyed by PublicPem() (the alg-confusion attack).
  std::string Sign(const Json& claims, const std::string& alg = "", bool with_kid = true) const;

 private:
  SigningKey() = default;
  std::string kid_;
  bool rsa_ = true;
  evp_pkey_st* key_ = nullptr;
};

// {"keys": [jwk...]}
std::string Jwks(std::initializer_list<const SigningKey*> keys);

}  // namespace tandem::api::auth::testing
