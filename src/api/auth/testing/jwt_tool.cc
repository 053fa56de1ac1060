// jwt_tool (tests only): what tests/security/oidc_e2e_test.sh needs to play
// an identity provider.
//
//   jwt_tool keygen rsa|ec KID DIR   writes DIR/KID.pem (private key) and
//                                    prints the public JWK
//   jwt_tool jwks DIR KID...         prints {"keys": [...]} of those keys
//   jwt_tool sign DIR KID CLAIMS_JSON [ALG] [nokid]
//                                    prints a JWT (ALG: none, HS256, RS256, ES256)
#include <fstream>
#include <iostream>
#include <sstream>

#include "api/auth/testing/jwt_signer.h"

using tandem::api::auth::testing::SigningKey;

namespace {

std::unique_ptr<SigningKey> Load(const std::string& dir, const std::string& kid) {
  std::ifstream in(dir + "/" + kid + ".pem");
  std::stringstream s;
  s << in.rdbuf();
  auto k = SigningKey::FromPem(s.str(), kid);
  if (!k.ok()) {
    std::cerr << "jwt_tool: " << dir << "/" << kid << ".pem: " << k.status().message() << "\n";
    std::exit(2);
  }
  return *std::move(k);
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> a(argv + 1, argv + argc);
  if (a.size() == 4 && a[0] == "keygen") {
    auto k = SigningKey::Generate(a[1], a[2]);
    if (!k.ok()) {
      std::cerr << "jwt_tool: " << k.status().message() << "\n";
      return 2;
    }
    std::ofstream(a[3] + "/" + a[2] + ".pem") << (*k)->Pem();
    std::cout << (*k)->Jwk().dump() << "\n";
    return 0;
  }
  if (a.size() >= 3 && a[0] == "jwks") {
    tandem::Json doc = {{"keys", tandem::Json::array()}};
    for (size_t i = 2; i < a.size(); ++i) doc["keys"].push_back(Load(a[1], a[i])->Jwk());
    std::cout << doc.dump() << "\n";
    return 0;
  }
  if (a.size() >= 4 && a[0] == "sign") {
    auto claims = tandem::ParseJson(a[3]);
    if (!claims.ok()) {
      std::cerr << "jwt_tool: claims: " << claims.status().message() << "\n";
      return 2;
    }
    std::string alg = a.size() > 4 ? a[4] : "";
    bool with_kid = !(a.size() > 5 && a[5] == "nokid");
    std::cout << Load(a[1], a[2])->Sign(*claims, alg, with_kid) << "\n";
    return 0;
  }
  std::cerr << "usage: jwt_tool keygen rsa|ec KID DIR | jwks DIR KID... | "
               "sign DIR KID CLAIMS_JSON [ALG] [nokid]\n";
  return 2;
}
