// The only way a route group registers a route: ApiRoutes::Route takes the
// route's Access (access.h) and wraps its handler so that, before it runs,
// the bearer token is authenticated (401 if missing, malformed, unknown,
// expired or revoked) and the principal authorized (403), and after it every
// mutating request -- allowed or refused -- is published as an audit event
// (tandem.audit / "API Request"). A refused request runs no handler code.
// A request with a body is judged on its head first, before the body is read
// (http::RouteOptions::head_check): no valid token is a 401, and on a route
// for admins or any authenticated principal a missing right is a 403, with
// the body unread (no upload spooled to disk) and the connection closed;
// team routes, whose owners may come from the body, decide 403 after it.
//
// Handlers learn the caller from the request headers kPrincipalHeader,
// kAdminHeader and kCallerHeader (the whole principal with its team roles:
// CallerOf), which the wrapper sets (and strips from what clients send). The
// caller may be an OIDC principal that the identity store does not hold, so
// handlers read its roles from the request, never from the store again.
//
// Thread-safety: Route() before the server starts; the wrapped handlers are
// thread-safe when the identity store and bus are.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "api/access.h"
#include "api/auth/authenticator.h"
#include "api/auth/identity_store.h"
#include "api/auth/oidc.h"
#include "common/clock.h"
#include "common/http_server.h"
#include "glue/bus/event_bus.h"

namespace tandem::api {

inline constexpr char kPrincipalHeader[] = "x-tandem-principal";
inline constexpr char kAdminHeader[] = "x-tandem-admin";  // "true" for platform admins
inline constexpr char kCallerHeader[] = "x-tandem-caller";  // auth::Principal::ToJson()
// The audit event the wrapper will publish for this request (its JSON, the
// status not yet known), and the handler's word that it committed it itself
// (PendingAudit, AuditCommitted below). Both stripped from what clients send.
inline constexpr char kAuditHeader[] = "x-tandem-audit";
inline constexpr char kAuditCommittedHeader[] = "x-tandem-audit-committed";

// How a route group outside /api/v1 speaks its own protocol's auth and
// errors (the OCI distribution API at /v2/: registry_api.cc).
struct RouteStyle {
  // Also accept `Authorization: Basic base64(user:token)` -- a tandem token
  // as the password, the user name ignored -- as registry clients send it.
  bool basic_auth = false;
  // The WWW-Authenticate challenge of a 401.
  std::string challenge = "Bearer realm=\"tandem\"";
  // Writes a refusal (401, 403, or the owner lookup's error); null: WriteError.
  std::function<void(http::Response&, const Status&)> write_error;
};

class ApiRoutes {
 public:
  // All must outlive the routes; `bus` may be null (no audit events);
  // `oidc` null: only tandem API tokens are accepted.
  ApiRoutes(http::Server& server, auth::IdentityStore& identity, bus::EventBus* bus, Clock& clock,
            std::unique_ptr<auth::OidcVerifier> oidc = nullptr);

  void Route(std::string method, std::string pattern, Access access, http::Handler handler,
             http::RouteOptions options = {});
  void Route(std::string method, std::string pattern, Access access, http::Handler handler,
             int64_t max_body_bytes);
  void Route(std::string method, std::string pattern, Access access, http::Handler handler,
             http::RouteOptions options, RouteStyle style);

  struct Entry {
    std::string method;
    std::string pattern;
    Access access;
    bool basic_auth = false;  // RouteStyle::basic_auth
  };
  // Every route registered, in order (the route -> role table).
  const std::vector<Entry>& entries() const { return entries_; }
  auth::IdentityStore& identity() { return identity_; }

 private:
  http::Server& server_;
  auth::IdentityStore& identity_;
  auth::Authenticator authenticator_;
  bus::EventBus* bus_;
  Clock& clock_;
  std::vector<Entry> entries_;
};

// The principal the wrapper authenticated for `req` (from kCallerHeader);
// Unauthenticated if the request did not pass through an authenticated route.
StatusOr<auth::Principal> CallerOf(const http::Request& req);

// The audit event in the handler's own transaction. A handler whose change
// commits through the transactional outbox (glue/bus/outbox.h) may commit
// the request's audit event with it -- one commit per request instead of
// two, and the audit record exists if and only if the change does:
// PendingAudit gives the event the wrapper would publish for `req` answered
// with `status` (nullopt when none is due: no bus, a read, or a request
// that did not pass through the wrapper); once the transaction holding it
// committed, AuditCommitted(req) tells the wrapper not to publish it again.
// The handler must then answer with that `status`. If it does not call
// AuditCommitted (its change failed), the wrapper publishes as usual.
std::optional<bus::Event> PendingAudit(const http::Request& req, int status);
void AuditCommitted(http::Request& req);

// The bearer token of a request ("" if none).
std::string BearerToken(const http::Request& req);
// The password of `Authorization: Basic ...` ("" if none or malformed).
std::string BasicPassword(const http::Request& req);

}  // namespace tandem::api
