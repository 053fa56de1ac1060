#include "api/auth/testing/jwt_signer.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#include "api/auth/jwk.h"

namespace tandem::api::auth::testing {
namespace {

std::string BioText(BIO* bio) {
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<size_t>(n));
  BIO_free(bio);
  return out;
}

std::string BnBytes(const EVP_PKEY* key, const char* name) {
  BIGNUM* bn = nullptr;
  if (EVP_PKEY_get_bn_param(key, name, &bn) != 1) return "";
  std::string out(static_cast<size_t>(BN_num_bytes(bn)), '\0');
  BN_bn2bin(bn, reinterpret_cast<unsigned char*>(out.data()));
  BN_free(bn);
  return out;
}

}  // namespace

StatusOr<std::unique_ptr<SigningKey>> SigningKey::Generate(const std::string& kind,
                                                           const std::string& kid) {
  std::unique_ptr<SigningKey> k(new SigningKey());
  k->kid_ = kid;
  if (kind == "rsa") {
    k->key_ = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(2048));
  } else if (kind == "ec") {
    k->rsa_ = false;
    k->key_ = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
  } else {
    return InvalidArgumentError("kind must be rsa or ec");
  }
  if (k->key_ == nullptr) return InternalError("key generation failed");
  return k;
}

StatusOr<std::unique_ptr<SigningKey>> SigningKey::FromPem(const std::string& pem,
                                                          const std::string& kid) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  std::unique_ptr<SigningKey> k(new SigningKey());
  k->kid_ = kid;
  k->key_ = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  if (k->key_ == nullptr) return InvalidArgumentError("not a PEM private key");
  k->rsa_ = EVP_PKEY_is_a(k->key_, "RSA") == 1;
  return k;
}

SigningKey::~SigningKey() { EVP_PKEY_free(key_); }

std::string SigningKey::Pem() const {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(bio, key_, nullptr, nullptr, 0, nullptr, nullptr);
  return BioText(bio);
}

std::string SigningKey::PublicPem() const {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PUBKEY(bio, key_);
  return BioText(bio);
}

std::string SigningKey::alg() const { return rsa_ ? "RS256" : "ES256"; }

Json SigningKey::Jwk() const {
  if (rsa_) {
    return {{"kty", "RSA"}, {"kid", kid_}, {"use", "sig"}, {"alg", "RS256"},
            {"n", Base64UrlEncode(BnBytes(key_, OSSL_PKEY_PARAM_RSA_N))},
            {"e", Base64UrlEncode(BnBytes(key_, OSSL_PKEY_PARAM_RSA_E))}};
  }
  auto pad = [](std::string s) { return std::string(32 - std::min<size_t>(32, s.size()), '\0') + s; };
  return {{"kty", "EC"}, {"kid", kid_}, {"use", "sig"}, {"alg", "ES256"}, {"crv", "P-256"},
          {"x", Base64UrlEncode(pad(BnBytes(key_, OSSL_PKEY_PARAM_EC_PUB_X)))},
          {"y", Base64UrlEncode(pad(BnBytes(key_, OSSL_PKEY_PARAM_EC_PUB_Y)))}};
}

std::string SigningKey::Sign(const Json& claims, const std::string& alg_in, bool with_kid) const {
  const std::string alg = alg_in.empty() ? this->alg() : alg_in;
  Json header = {{"alg", alg}, {"typ", "JWT"}};
  if (with_kid) header["kid"] = kid_;
  std::string input = Base64UrlEncode(header.dump()) + "." + Base64UrlEncode(claims.dump());
  std::string sig;
  if (alg == "none") {
    // no signature
  } else if (alg == "HS256") {
    const std::string secret = PublicPem();
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
         reinterpret_cast<const unsigned char*>(input.data()), input.size(), md, &len);
    sig.assign(reinterpret_cast<char*>(md), len);
  } else {
    EVP_MD_CTX* md = EVP_MD_CTX_new();
    size_t len = 0;
    EVP_DigestSignInit(md, nullptr, EVP_sha256(), nullptr, key_);
    EVP_DigestSign(md, nullptr, &len, reinterpret_cast<const unsigned char*>(input.data()),
                   input.size());
    std::string der(len, '\0');
    EVP_DigestSign(md, reinterpret_cast<unsigned char*>(der.data()), &len,
                   reinterpret_cast<const unsigned char*>(input.data()), input.size());
    der.resize(len);
    EVP_MD_CTX_free(md);
    if (rsa_) {
      sig = der;
    } else {  // DER ECDSA-Sig-Value -> JWS R||S
      const unsigned char* p = reinterpret_cast<const unsigned char*>(der.data());
      ECDSA_SIG* s = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der.size()));
      sig.assign(64, '\0');
      BN_bn2binpad(ECDSA_SIG_get0_r(s), reinterpret_cast<unsigned char*>(sig.data()), 32);
      BN_bn2binpad(ECDSA_SIG_get0_s(s), reinterpret_cast<unsigned char*>(sig.data()) + 32, 32);
      ECDSA_SIG_free(s);
    }
  }
  return input + "." + Base64UrlEncode(sig);
}

std::string Jwks(std::initializer_list<const SigningKey*> keys) {
  Json doc = {{"keys", Json::array()}};
  for (const SigningKey* k : keys) doc["keys"].push_back(k->Jwk());
  return doc.dump();
}

}  // namespace tandem::api::auth::testing
