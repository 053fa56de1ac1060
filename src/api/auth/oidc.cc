#include "api/auth/oidc.h"

#include <fstream>
#include <sstream>

#include "api/auth/oidc_discovery.h"
#include "common/spec_fields.h"

namespace tandem::api::auth {
namespace {

constexpr char kPrefix[] = "auth.oidc.";

Status Refuse(const std::string& why) { return UnauthenticatedError("OIDC token refused: " + why); }

StatusOr<GroupGrant> ReadGrant(const Json& v, const std::string& path) {
  GroupGrant g;
  if (v == Json("admin")) {
    g.admin = true;
    return g;
  }
  if (!v.is_object()) {
    return InvalidArgumentError("'" + path + "' must be \"admin\" or {team: T, role: R}");
  }
  RETURN_IF_ERROR(spec::CheckKnown(v, path + ".", {"team", "role"}));
  if (!v.contains("team") || !v.contains("role")) {
    return InvalidArgumentError("'" + path + "' needs both team and role");
  }
  ASSIGN_OR_RETURN(g.team, spec::String(v["team"], path + ".team"));
  RETURN_IF_ERROR(ValidateName("team", g.team));
  ASSIGN_OR_RETURN(std::string role, spec::String(v["role"], path + ".role"));
  ASSIGN_OR_RETURN(g.role, ParseRole(role));
  return g;
}

// A NumericDate claim (seconds since the epoch), if present.
StatusOr<std::optional<int64_t>> Date(const Json& claims, const char* name) {
  auto it = claims.find(name);
  if (it == claims.end()) return std::optional<int64_t>();
  if (!it->is_number()) return Refuse(std::string("'") + name + "' is not a number");
  double v = it->get<double>();
  if (!(v > -1e15 && v < 1e15)) return Refuse(std::string("'") + name + "' is out of range");
  return std::optional<int64_t>(static_cast<int64_t>(v));
}

std::string ReadFile(const std::string& path, bool* ok) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  *ok = in.good() || in.eof();
  return s.str();
}

}  // namespace

bool LooksLikeJwt(std::string_view token) {
  size_t first = token.find('.');
  if (first == std::string_view::npos) return false;
  size_t second = token.find('.', first + 1);
  return second != std::string_view::npos && token.find('.', second + 1) == std::string_view::npos;
}

StatusOr<OidcOptions> OidcOptions::FromConfig(const Config& config) {
  OidcOptions o;
  ASSIGN_OR_RETURN(Json auth, spec::Section(config.raw, "auth"));
  RETURN_IF_ERROR(spec::CheckKnown(auth, "auth.", {"oidc"}));
  ASSIGN_OR_RETURN(Json v, spec::Section(auth, "oidc"));
  if (v.empty()) return o;
  RETURN_IF_ERROR(spec::CheckKnown(
      v, kPrefix,
      {"issuer", "audience", "jwks_file", "jwks_uri", "principal_claim", "team_claim", "groups",
       "clock_skew_seconds", "jwks_refetch_seconds", "max_token_bytes"}));
  const std::string p = kPrefix;
  for (const char* required : {"issuer", "audience"}) {
    if (!v.contains(required)) return InvalidArgumentError("'" + p + required + "' is required");
  }
  ASSIGN_OR_RETURN(o.issuer, spec::String(v["issuer"], p + "issuer"));
  ASSIGN_OR_RETURN(o.audience, spec::String(v["audience"], p + "audience"));
  if (o.issuer.empty() || o.audience.empty()) {
    return InvalidArgumentError("'" + p + "issuer' and '" + p + "audience' must not be empty");
  }
  if (v.contains("jwks_file")) {
    ASSIGN_OR_RETURN(o.jwks_file, spec::String(v["jwks_file"], p + "jwks_file"));
  }
  if (v.contains("jwks_uri")) {
    ASSIGN_OR_RETURN(o.jwks_uri, spec::String(v["jwks_uri"], p + "jwks_uri"));
  }
  if (!o.jwks_file.empty() && !o.jwks_uri.empty()) {
    return InvalidArgumentError("'" + p + "' takes at most one of jwks_file and jwks_uri");
  }
  if (o.jwks_file.empty() && o.jwks_uri.empty() && !o.issuer.starts_with("http://") &&
      !o.issuer.starts_with("https://")) {
    return InvalidArgumentError("'" + p + "issuer' must be an http:// or https:// URL to discover " +
                                "its JWKS (or set jwks_file or jwks_uri)");
  }
  if (!o.jwks_uri.empty() && !o.jwks_uri.starts_with("http://") &&
      !o.jwks_uri.starts_with("https://")) {
    return InvalidArgumentError("'" + p + "jwks_uri' must be an http:// or https:// URL");
  }
  if (v.contains("principal_claim")) {
    ASSIGN_OR_RETURN(o.principal_claim, spec::String(v["principal_claim"], p + "principal_claim"));
  }
  if (v.contains("team_claim")) {
    ASSIGN_OR_RETURN(o.team_claim, spec::String(v["team_claim"], p + "team_claim"));
  }
  if (v.contains("groups")) {
    if (!v["groups"].is_object()) return InvalidArgumentError("'" + p + "groups' must be a mapping");
    for (const auto& [group, grant] : v["groups"].items()) {
      ASSIGN_OR_RETURN(o.groups[group], ReadGrant(grant, p + "groups." + group));
    }
  }
  if (v.contains("clock_skew_seconds")) {
    ASSIGN_OR_RETURN(o.clock_skew_seconds,
                     spec::Integer(v["clock_skew_seconds"], p + "clock_skew_seconds", 0, 600));
  }
  if (v.contains("jwks_refetch_seconds")) {
    ASSIGN_OR_RETURN(o.jwks_refetch_seconds,
                     spec::Integer(v["jwks_refetch_seconds"], p + "jwks_refetch_seconds", 1, 86400));
  }
  if (v.contains("max_token_bytes")) {
    ASSIGN_OR_RETURN(o.max_token_bytes,
                     spec::Integer(v["max_token_bytes"], p + "max_token_bytes", 256, 1 << 20));
  }
  return o;
}

StatusOr<std::unique_ptr<OidcVerifier>> OidcVerifier::Create(OidcOptions options, Clock& clock) {
  if (!options.enabled()) return InvalidArgumentError("OIDC is not configured (auth.oidc)");
  JwksFetcher fetch;
  if (!options.jwks_file.empty()) {
    fetch = [path = options.jwks_file]() -> StatusOr<std::string> {
      bool ok = false;
      std::string text = ReadFile(path, &ok);
      if (!ok || text.empty()) return UnavailableError("cannot read JWKS file " + path);
      return text;
    };
  } else if (!options.jwks_uri.empty()) {
    fetch = [uri = options.jwks_uri]() -> StatusOr<std::string> {
      auto text = HttpGetBody(uri);
      if (!text.ok()) return UnavailableError("JWKS " + std::string(text.status().message()));
      return text;
    };
  } else {
    fetch = DiscoveryJwksFetcher(options.issuer, HttpGetBody);
  }
  return CreateWithFetcher(std::move(options), clock, std::move(fetch));
}

std::unique_ptr<OidcVerifier> OidcVerifier::CreateWithFetcher(OidcOptions options, Clock& clock,
                                                              JwksFetcher fetch) {
  return std::unique_ptr<OidcVerifier>(new OidcVerifier(std::move(options), clock, std::move(fetch)));
}

int OidcVerifier::fetches() const {
  absl::MutexLock lock(&mu_);
  return fetches_;
}

StatusOr<std::shared_ptr<const PublicKey>> OidcVerifier::Key(const std::string& kid) {
  absl::MutexLock lock(&mu_);
  // Takes the set as an argument: the lock analysis cannot see mu_ held inside a lambda.
  auto find = [&](const KeySet& keys) -> std::shared_ptr<const PublicKey> {
    if (kid.empty()) return keys.size() == 1 ? keys[0] : nullptr;
    for (const auto& k : keys) {
      if (k->kid() == kid) return k;
    }
    return nullptr;
  };
  if (auto k = find(keys_)) return k;
  const int64_t now = clock_.MonotonicMicros();
  if (last_fetch_mono_ < 0 || now - last_fetch_mono_ >= options_.jwks_refetch_seconds * 1'000'000) {
    last_fetch_mono_ = now;
    ++fetches_;
    auto text = fetch_();
    if (!text.ok()) return Refuse("cannot fetch the JWKS: " + std::string(text.status().message()));
    auto keys = ParseJwks(*text);
    if (!keys.ok()) return Refuse("the JWKS is invalid: " + std::string(keys.status().message()));
    keys_ = *std::move(keys);
    if (auto k = find(keys_)) return k;
  }
  return Refuse(kid.empty() ? "the token names no kid and the JWKS holds more than one key"
                            : "unknown kid '" + kid + "'");
}

StatusOr<Principal> OidcVerifier::Verify(std::string_view token) {
  if (static_cast<int64_t>(token.size()) > options_.max_token_bytes) {
    return Refuse("longer than " + std::to_string(options_.max_token_bytes) + " bytes");
  }
  if (!LooksLikeJwt(token)) return Refuse("not a JWT (three base64url parts)");
  const size_t a = token.find('.'), b = token.find('.', a + 1);
  const std::string_view signed_part = token.substr(0, b);
  auto header_text = Base64UrlDecode(token.substr(0, a));
  auto claims_text = Base64UrlDecode(token.substr(a + 1, b - a - 1));
  auto signature = Base64UrlDecode(token.substr(b + 1));
  if (!header_text.ok() || !claims_text.ok() || !signature.ok()) {
    return Refuse("malformed base64url");
  }
  auto header = ParseJson(*header_text);
  if (!header.ok() || !header->is_object()) return Refuse("the header is not a JSON object");
  const Json alg = header->value("alg", Json());
  if (alg != Json("RS256") && alg != Json("ES256")) {
    return Refuse("alg " + alg.dump() + " is not accepted (RS256 or ES256 only)");
  }
  if (header->contains("crit")) return Refuse("unsupported critical header parameters");
  const Json kid = header->value("kid", Json(""));
  if (!kid.is_string()) return Refuse("kid is not a string");
  ASSIGN_OR_RETURN(auto key, Key(kid.get<std::string>()));
  // The key decides the algorithm: an RS256 header on an EC key (or the
  // reverse) is refused before any signature check.
  if (alg != Json(std::string(JwtAlgName(key->alg())))) {
    return Refuse("alg " + alg.dump() + " does not match key '" + key->kid() + "' (" +
                  std::string(JwtAlgName(key->alg())) + ")");
  }
  if (!key->Verify(signed_part, *signature)) return Refuse("bad signature");

  auto claims = ParseJson(*claims_text);
  if (!claims.ok() || !claims->is_object()) return Refuse("the claims are not a JSON object");
  if (claims->value("iss", Json()) != Json(options_.issuer)) {
    return Refuse("issuer " + claims->value("iss", Json()).dump() + " is not " + options_.issuer);
  }
  const Json aud = claims->value("aud", Json());
  bool aud_ok = aud == Json(options_.audience);
  if (aud.is_array()) {
    for (const Json& x : aud) aud_ok = aud_ok || x == Json(options_.audience);
  }
  if (!aud_ok) return Refuse("audience " + aud.dump() + " does not include " + options_.audience);
  const int64_t now = clock_.NowMicros() / 1'000'000;
  const int64_t skew = options_.clock_skew_seconds;
  ASSIGN_OR_RETURN(auto exp, Date(*claims, "exp"));
  ASSIGN_OR_RETURN(auto nbf, Date(*claims, "nbf"));
  ASSIGN_OR_RETURN(auto iat, Date(*claims, "iat"));
  if (!exp) return Refuse("no 'exp' (tokens must expire)");
  if (now >= *exp + skew) return Refuse("expired");
  if (nbf && now < *nbf - skew) return Refuse("not valid yet (nbf)");
  if (iat && *iat > now + skew) return Refuse("issued in the future (iat)");
  return FromClaims(*claims);
}

StatusOr<Principal> OidcVerifier::FromClaims(const Json& claims) const {
  const Json who = claims.value(options_.principal_claim, Json());
  if (!who.is_string() || who.get<std::string>().empty() || who.get<std::string>().size() > 256) {
    return Refuse("no usable '" + options_.principal_claim + "' claim");
  }
  Principal p;
  p.name = "oidc:" + who.get<std::string>();
  p.kind = "oidc";
  Json groups = claims.value(options_.team_claim, Json::array());
  if (groups.is_string()) groups = Json::array({groups});
  if (!groups.is_array()) return Refuse("'" + options_.team_claim + "' is not a list");
  auto grant = [&p](const std::string& team, Role role) {
    Role& r = p.teams[team];
    r = std::max(r, role);
  };
  for (const Json& g : groups) {
    if (!g.is_string()) continue;
    const std::string s = g.get<std::string>();
    if (auto it = options_.groups.find(s); it != options_.groups.end()) {
      if (it->second.admin) {
        p.admin = true;
      } else {
        grant(it->second.team, it->second.role);
      }
      continue;
    }
    // team:<team>:<role>
    if (!s.starts_with("team:")) continue;
    size_t colon = s.rfind(':');
    if (colon <= 5) continue;
    std::string team = s.substr(5, colon - 5);
    auto role = ParseRole(s.substr(colon + 1));
    if (!role.ok() || !ValidateName("team", team).ok()) continue;
    grant(team, *role);
  }
  return p;
}

}  // namespace tandem::api::auth
