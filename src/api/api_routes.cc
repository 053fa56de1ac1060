#include "api/api_routes.h"

#include "api/rest.h"
#include "common/log.h"
#include "common/utf8.h"
#include "glue/bus/event_types.h"

namespace tandem::api {
namespace {

bool Mutating(const std::string& method) { return method != "GET" && method != "HEAD"; }

// Handlers put path parameters and query values into JSON (responses, error
// messages, events), which must be UTF-8: other bytes are refused up front.
Status CheckUtf8(const http::Request& req) {
  bool ok = IsValidUtf8(req.path);
  for (const auto& [k, v] : req.query) ok = ok && IsValidUtf8(k) && IsValidUtf8(v);
  if (ok) return OkStatus();
  return InvalidArgumentError("the request path and query must be UTF-8 once percent-decoded");
}

// `s` with each byte of a malformed UTF-8 text replaced by '?' (for the
// audit event of a refused request).
std::string Utf8OrMasked(const std::string& s) {
  if (IsValidUtf8(s)) return s;
  std::string out = s;
  for (char& c : out) {
    if (static_cast<unsigned char>(c) >= 0x80) c = '?';
  }
  return out;
}

struct Guard {
  std::string method;
  std::string pattern;
  Access access;
  http::Handler handler;
  auth::Authenticator* authenticator;
  bus::EventBus* bus;
  Clock* clock;
  RouteStyle style;

  bus::Event AuditEvent(const http::Request& req, const std::string& principal,
                        const std::vector<std::string>& teams, const Status& refusal,
                        int status) const {
    const std::string path = Utf8OrMasked(req.path);
    Json detail = {{"principal", principal}, {"method", method},
                   {"route", pattern},       {"path", path},
                   {"teams", teams},         {"decision", refusal.ok() ? "allowed" : "denied"},
                   {"status", status},       {"reason", std::string(refusal.message())}};
    return bus::MakeEvent(*clock, std::string(bus::events::kAuditSource),
                          std::string(bus::events::kApiRequest), detail, {path});
  }

  void Audit(const http::Request& req, const std::string& principal,
             const std::vector<std::string>& teams, const Status& refusal, int status) const {
    if (bus == nullptr || !Mutating(method)) return;
    // The handler committed it in its own transaction (PendingAudit).
    if (refusal.ok() && req.Header(kAuditCommittedHeader) == "true") return;
    auto published = bus->Publish(AuditEvent(req, principal, teams, refusal, status));
    if (!published.ok()) {
      LogWarn("audit event not published", {{"route", method + " " + pattern},
                                            {"error", std::string(published.status().message())}});
    }
  }

  void Refuse(const http::Request& req, http::Response& res, const std::string& principal,
              const std::vector<std::string>& teams, const Status& why) const {
    if (style.write_error) {
      style.write_error(res, why);
    } else {
      WriteError(res, why);
    }
    if (why.code() == StatusCode::kUnauthenticated) res.headers["www-authenticate"] = style.challenge;
    Audit(req, principal, teams, why, res.status);
  }

  // The caller sending `req`'s token (Unauthenticated: none, or a bad one).
  StatusOr<auth::Principal> Caller(const http::Request& req) const {
    std::string token = BearerToken(req);
    if (token.empty() && style.basic_auth) token = BasicPassword(req);
    if (token.empty()) {
      return UnauthenticatedError(
          "this route needs an API token: send `Authorization: Bearer <token>` (`tandem auth "
          "login`)");
    }
    return authenticator->Authenticate(token);
  }

  // http::RouteOptions::head_check, before the body is read: what the head
  // alone decides -- a path that is not UTF-8 (400), no valid token (401),
  // and, but for team routes (whose owners may come from the body), the
  // principal's access (403). Admitted, operator() checks all again.
  bool AdmitHead(const http::Request& head, http::Response& res) const {
    std::string principal_name;
    Status refusal = CheckUtf8(head);
    if (refusal.ok()) {
      auto principal = Caller(head);
      if (principal.ok()) principal_name = principal->name;
      refusal = !principal.ok()                        ? principal.status()
                : access.kind == Access::Kind::kTeam ? OkStatus()
                                                     : Authorize(*principal, access, {});
    }
    if (refusal.ok()) return true;
    Refuse(head, res, principal_name, {}, refusal);
    return false;
  }

  void operator()(http::Request& req, http::Response& res) const {
    req.headers.erase(kPrincipalHeader);
    req.headers.erase(kAdminHeader);
    req.headers.erase(kCallerHeader);
    req.headers.erase(kAuditHeader);
    req.headers.erase(kAuditCommittedHeader);
    if (Status s = CheckUtf8(req); !s.ok()) return Refuse(req, res, "", {}, s);
    if (access.kind == Access::Kind::kPublic) return handler(req, res);
    auto principal = Caller(req);
    if (!principal.ok()) return Refuse(req, res, "", {}, principal.status());
    std::vector<std::string> teams;
    // An admin passes whatever the owner: no lookup, so the handler answers
    // exactly as it did before authorization existed.
    if (access.kind == Access::Kind::kTeam && !principal->admin) {
      auto owners = access.teams(req);
      if (!owners.ok()) return Refuse(req, res, principal->name, {}, owners.status());
      teams = std::move(*owners);
    }
    if (Status s = Authorize(*principal, access, teams); !s.ok()) {
      return Refuse(req, res, principal->name, teams, s);
    }
    req.headers[kPrincipalHeader] = principal->name;
    req.headers[kAdminHeader] = principal->admin ? "true" : "false";
    req.headers[kCallerHeader] = principal->ToJson().dump();
    if (bus != nullptr && Mutating(method)) {
      req.headers[kAuditHeader] =
          AuditEvent(req, principal->name, teams, OkStatus(), 0).ToJson().dump();
    }
    handler(req, res);
    Audit(req, principal->name, teams, OkStatus(), res.status);
  }
};

}  // namespace

ApiRoutes::ApiRoutes(http::Server& server, auth::IdentityStore& identity, bus::EventBus* bus,
                     Clock& clock, std::unique_ptr<auth::OidcVerifier> oidc)
    : server_(server),
      identity_(identity),
      authenticator_(identity, std::move(oidc)),
      bus_(bus),
      clock_(clock) {}

void ApiRoutes::Route(std::string method, std::string pattern, Access access, http::Handler handler,
                      http::RouteOptions options) {
  Route(std::move(method), std::move(pattern), std::move(access), std::move(handler),
        std::move(options), RouteStyle{});
}

void ApiRoutes::Route(std::string method, std::string pattern, Access access, http::Handler handler,
                      http::RouteOptions options, RouteStyle style) {
  entries_.push_back({method, pattern, access, style.basic_auth});
  const bool check_head = access.kind != Access::Kind::kPublic && !options.head_check;
  auto guard = std::make_shared<const Guard>(Guard{method, pattern, std::move(access),
                                                   std::move(handler), &authenticator_, bus_,
                                                   &clock_, std::move(style)});
  // An upload without valid credentials is refused before its body is read
  // (or spooled to disk).
  if (check_head) {
    options.head_check = [guard](const http::Request& head, http::Response& refusal) {
      return guard->AdmitHead(head, refusal);
    };
  }
  server_.Route(std::move(method), std::move(pattern),
                [guard](http::Request& req, http::Response& res) { (*guard)(req, res); },
                std::move(options));
}

void ApiRoutes::Route(std::string method, std::string pattern, Access access, http::Handler handler,
                      int64_t max_body_bytes) {
  http::RouteOptions options;
  options.max_body_bytes = max_body_bytes;
  Route(std::move(method), std::move(pattern), std::move(access), std::move(handler), options);
}

StatusOr<auth::Principal> CallerOf(const http::Request& req) {
  auto j = ParseJson(req.Header(kCallerHeader));
  if (!j.ok() || !j->is_object() || !(*j)["name"].is_string()) {
    return UnauthenticatedError("no authenticated caller on this request");
  }
  auth::Principal p;
  p.name = (*j)["name"].get<std::string>();
  p.kind = j->value("kind", "user");
  p.admin = j->value("admin", false);
  const Json teams = j->value("teams", Json::object());
  if (!teams.is_object()) return p;
  for (const auto& [team, role] : teams.items()) {
    if (!role.is_string()) continue;
    auto r = auth::ParseRole(role.get<std::string>());
    if (r.ok()) p.teams[team] = *r;
  }
  return p;
}

std::optional<bus::Event> PendingAudit(const http::Request& req, int status) {
  std::string text = req.Header(kAuditHeader);
  if (text.empty()) return std::nullopt;
  auto j = ParseJson(text);
  if (!j.ok()) return std::nullopt;
  auto e = bus::Event::FromJson(*j);
  if (!e.ok() || e->id.empty()) return std::nullopt;
  e->detail["status"] = status;
  return std::move(*e);
}

void AuditCommitted(http::Request& req) {
  if (req.headers.count(kAuditHeader) != 0) req.headers[kAuditCommittedHeader] = "true";
}

std::string BearerToken(const http::Request& req) {
  std::string h = req.Header("authorization");
  constexpr std::string_view kBearer = "Bearer ";
  if (h.size() <= kBearer.size()) return "";
  for (size_t i = 0; i < kBearer.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(h[i])) !=
        std::tolower(static_cast<unsigned char>(kBearer[i]))) {
      return "";
    }
  }
  return h.substr(kBearer.size());
}

std::string BasicPassword(const http::Request& req) {
  std::string h = req.Header("authorization");
  constexpr std::string_view kBasic = "basic ";
  if (h.size() <= kBasic.size()) return "";
  for (size_t i = 0; i < kBasic.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(h[i])) != kBasic[i]) return "";
  }
  // Base64 (RFC 4648, padding optional) of "user:password".
  std::string decoded;
  uint32_t acc = 0;
  int bits = 0;
  for (size_t i = kBasic.size(); i < h.size(); ++i) {
    char c = h[i];
    int v;
    if (c >= 'A' && c <= 'Z') {
      v = c - 'A';
    } else if (c >= 'a' && c <= 'z') {
      v = c - 'a' + 26;
    } else if (c >= '0' && c <= '9') {
      v = c - '0' + 52;
    } else if (c == '+') {
      v = 62;
    } else if (c == '/') {
      v = 63;
    } else if (c == '=' || c == ' ') {
      continue;
    } else {
      return "";
    }
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      decoded.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  size_t colon = decoded.find(':');
  return colon == std::string::npos ? "" : decoded.substr(colon + 1);
}

}  // namespace tandem::api
