#include "api/auth/jwk.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include <set>

namespace tandem::api::auth {
namespace {

constexpr int kMinRsaBits = 2048;
constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int Sextet(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '-') return 62;
  if (c == '_') return 63;
  return -1;
}

struct BnFree {
  void operator()(BIGNUM* b) const { BN_free(b); }
};
struct BldFree {
  void operator()(OSSL_PARAM_BLD* b) const { OSSL_PARAM_BLD_free(b); }
};
struct ParamFree {
  void operator()(OSSL_PARAM* p) const { OSSL_PARAM_free(p); }
};
struct PkeyCtxFree {
  void operator()(EVP_PKEY_CTX* c) const { EVP_PKEY_CTX_free(c); }
};
struct MdCtxFree {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};
struct SigFree {
  void operator()(ECDSA_SIG* s) const { ECDSA_SIG_free(s); }
};

StatusOr<std::string> Field(const Json& jwk, const std::string& name, const std::string& kid) {
  auto it = jwk.find(name);
  if (it == jwk.end() || !it->is_string()) {
    return InvalidArgumentError("JWK '" + kid + "': '" + name + "' must be a string");
  }
  auto decoded = Base64UrlDecode(it->get<std::string>());
  if (!decoded.ok() || decoded->empty()) {
    return InvalidArgumentError("JWK '" + kid + "': '" + name + "' is not base64url");
  }
  return *decoded;
}

// Builds the public key of type `type` ("RSA" or "EC") from `bld`'s parameters.
StatusOr<EVP_PKEY*> FromParams(const char* type, OSSL_PARAM_BLD* bld, const std::string& kid) {
  std::unique_ptr<OSSL_PARAM, ParamFree> params(OSSL_PARAM_BLD_to_param(bld));
  std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree> ctx(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
  EVP_PKEY* key = nullptr;
  if (params == nullptr || ctx == nullptr || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &key, EVP_PKEY_PUBLIC_KEY, params.get()) != 1) {
    return InvalidArgumentError("JWK '" + kid + "': not a valid " + type + " public key");
  }
  return key;
}

StatusOr<EVP_PKEY*> RsaKey(const Json& jwk, const std::string& kid) {
  ASSIGN_OR_RETURN(std::string n, Field(jwk, "n", kid));
  ASSIGN_OR_RETURN(std::string e, Field(jwk, "e", kid));
  std::unique_ptr<BIGNUM, BnFree> bn_n(
      BN_bin2bn(reinterpret_cast<const unsigned char*>(n.data()), static_cast<int>(n.size()), nullptr));
  std::unique_ptr<BIGNUM, BnFree> bn_e(
      BN_bin2bn(reinterpret_cast<const unsigned char*>(e.data()), static_cast<int>(e.size()), nullptr));
  if (bn_n == nullptr || bn_e == nullptr) return InternalError("BN_bin2bn failed");
  if (BN_num_bits(bn_n.get()) < kMinRsaBits) {
    return InvalidArgumentError("JWK '" + kid + "': RSA modulus of " +
                                std::to_string(BN_num_bits(bn_n.get())) + " bits (at least " +
                                std::to_string(kMinRsaBits) + ")");
  }
  std::unique_ptr<OSSL_PARAM_BLD, BldFree> bld(OSSL_PARAM_BLD_new());
  if (bld == nullptr || OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, bn_n.get()) != 1 ||
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, bn_e.get()) != 1) {
    return InternalError("OSSL_PARAM_BLD failed");
  }
  return FromParams("RSA", bld.get(), kid);
}

StatusOr<EVP_PKEY*> EcKey(const Json& jwk, const std::string& kid) {
  if (jwk.value("crv", Json()) != Json("P-256")) {
    return InvalidArgumentError("JWK '" + kid + "': only the EC curve P-256 is supported");
  }
  ASSIGN_OR_RETURN(std::string x, Field(jwk, "x", kid));
  ASSIGN_OR_RETURN(std::string y, Field(jwk, "y", kid));
  if (x.size() != 32 || y.size() != 32) {
    return InvalidArgumentError("JWK '" + kid + "': P-256 coordinates must be 32 bytes each");
  }
  std::string point = "\x04" + x + y;  // uncompressed SEC1 point
  std::unique_ptr<OSSL_PARAM_BLD, BldFree> bld(OSSL_PARAM_BLD_new());
  if (bld == nullptr ||
      OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) != 1 ||
      OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(),
                                       point.size()) != 1) {
    return InternalError("OSSL_PARAM_BLD failed");
  }
  ASSIGN_OR_RETURN(EVP_PKEY * key, FromParams("EC", bld.get(), kid));
  // fromdata decodes the point; check it is on the curve and not infinity.
  std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree> check(EVP_PKEY_CTX_new_from_pkey(nullptr, key, nullptr));
  if (check == nullptr || EVP_PKEY_public_check(check.get()) != 1) {
    EVP_PKEY_free(key);
    return InvalidArgumentError("JWK '" + kid + "': the point is not on the P-256 curve");
  }
  return key;
}

// A raw JWS ES256 signature (R||S, 32 bytes each) as the DER OpenSSL verifies.
std::string EcdsaDer(std::string_view raw) {
  if (raw.size() != 64) return "";
  const auto* p = reinterpret_cast<const unsigned char*>(raw.data());
  std::unique_ptr<ECDSA_SIG, SigFree> sig(ECDSA_SIG_new());
  BIGNUM* r = BN_bin2bn(p, 32, nullptr);
  BIGNUM* s = BN_bin2bn(p + 32, 32, nullptr);
  if (sig == nullptr || r == nullptr || s == nullptr || ECDSA_SIG_set0(sig.get(), r, s) != 1) {
    BN_free(r);
    BN_free(s);
    return "";
  }
  int len = i2d_ECDSA_SIG(sig.get(), nullptr);
  if (len <= 0) return "";
  std::string der(static_cast<size_t>(len), '\0');
  auto* out = reinterpret_cast<unsigned char*>(der.data());
  i2d_ECDSA_SIG(sig.get(), &out);
  return der;
}

}  // namespace

std::string_view JwtAlgName(JwtAlg alg) { return alg == JwtAlg::kRS256 ? "RS256" : "ES256"; }

StatusOr<std::string> Base64UrlDecode(std::string_view in) {
  if (in.size() % 4 == 1) return InvalidArgumentError("base64url: truncated");
  std::string out;
  out.reserve(in.size() * 3 / 4);
  uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    int v = Sextet(c);
    if (v < 0) return InvalidArgumentError("base64url: invalid character");
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  // The bits left over must be zero (one canonical encoding per value).
  if ((acc & ((1u << bits) - 1)) != 0) return InvalidArgumentError("base64url: non-canonical");
  return out;
}

std::string Base64UrlEncode(std::string_view in) {
  std::string out;
  out.reserve((in.size() * 4 + 2) / 3);
  uint32_t acc = 0;
  int bits = 0;
  for (unsigned char c : in) {
    acc = (acc << 8) | c;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out.push_back(kAlphabet[(acc >> bits) & 63]);
    }
  }
  if (bits > 0) out.push_back(kAlphabet[(acc << (6 - bits)) & 63]);
  return out;
}

StatusOr<std::shared_ptr<const PublicKey>> PublicKey::FromJwk(const Json& jwk) {
  if (!jwk.is_object()) return InvalidArgumentError("a JWK must be an object");
  std::string kid = jwk.value("kid", Json("")).is_string() ? jwk.value("kid", "") : "";
  const Json kty = jwk.value("kty", Json());
  std::shared_ptr<PublicKey> key(new PublicKey());
  key->kid_ = kid;
  if (kty == Json("RSA")) {
    key->alg_ = JwtAlg::kRS256;
    ASSIGN_OR_RETURN(key->key_, RsaKey(jwk, kid));
  } else if (kty == Json("EC")) {
    key->alg_ = JwtAlg::kES256;
    ASSIGN_OR_RETURN(key->key_, EcKey(jwk, kid));
  } else {
    return InvalidArgumentError("JWK '" + kid + "': kty must be RSA or EC");
  }
  // A key that names its algorithm must name the one its type verifies.
  if (jwk.contains("alg") && jwk["alg"] != Json(std::string(JwtAlgName(key->alg_)))) {
    return InvalidArgumentError("JWK '" + kid + "': alg " + jwk["alg"].dump() + " does not fit kty " +
                                kty.dump() + " (RSA: RS256, EC P-256: ES256)");
  }
  return std::shared_ptr<const PublicKey>(std::move(key));
}

PublicKey::~PublicKey() { EVP_PKEY_free(key_); }

bool PublicKey::Verify(std::string_view data, std::string_view signature) const {
  std::string der;
  if (alg_ == JwtAlg::kES256) {
    der = EcdsaDer(signature);
    if (der.empty()) return false;
    signature = der;
  }
  std::unique_ptr<EVP_MD_CTX, MdCtxFree> md(EVP_MD_CTX_new());
  if (md == nullptr || EVP_DigestVerifyInit(md.get(), nullptr, EVP_sha256(), nullptr, key_) != 1) {
    return false;
  }
  return EVP_DigestVerify(md.get(), reinterpret_cast<const unsigned char*>(signature.data()),
                          signature.size(), reinterpret_cast<const unsigned char*>(data.data()),
                          data.size()) == 1;
}

StatusOr<KeySet> ParseJwks(std::string_view text) {
  ASSIGN_OR_RETURN(Json doc, ParseJson(text));
  if (!doc.is_object() || !doc.contains("keys") || !doc["keys"].is_array()) {
    return InvalidArgumentError("a JWKS must be {\"keys\": [...]}");
  }
  KeySet out;
  std::set<std::string> kids;
  for (const Json& jwk : doc["keys"]) {
    if (!jwk.is_object()) return InvalidArgumentError("a JWKS key must be an object");
    const Json kty = jwk.value("kty", Json());
    const bool usable = (kty == Json("RSA") || (kty == Json("EC") && jwk.value("crv", Json()) ==
                                                                         Json("P-256"))) &&
                        jwk.value("use", Json("sig")) == Json("sig");
    if (!usable) continue;
    ASSIGN_OR_RETURN(auto key, PublicKey::FromJwk(jwk));
    if (!kids.insert(key->kid()).second) {
      return InvalidArgumentError("JWKS: two keys have kid '" + key->kid() + "'");
    }
    out.push_back(std::move(key));
  }
  return out;
}

}  // namespace tandem::api::auth
