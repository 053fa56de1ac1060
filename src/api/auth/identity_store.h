// Principals (people and service accounts), their API tokens, teams and team
// roles, kept in the control plane's metadata database (SQLite or
// PostgreSQL through glue/sql). Tokens are stored only as SHA-256 hashes.
//
// Roles per team, strongest last: viewer (read), member (read and write),
// owner (member, plus managing the team). A platform admin may do anything.
//
// Authenticate keeps verified tokens in a TokenCache (token_cache.h) for at
// most Options::token_cache_ttl_micros; every revocation or role change
// clears it here and, on PostgreSQL, in every other store on the database
// (NOTIFY tandem_auth in the changing transaction, LISTEN here). On SQLite
// another process's change takes effect within the TTL.
//
// Thread-safety: all methods are thread-safe (the database serializes).
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/json.h"
#include "common/status.h"
#include "glue/sql/database.h"

namespace tandem::api::auth {

enum class Role { kNone = 0, kViewer = 1, kMember = 2, kOwner = 3 };
std::string_view RoleName(Role role);
StatusOr<Role> ParseRole(std::string_view name);  // viewer | member | owner

struct Principal {
  std::string name;
  std::string kind = "user";  // user | service
  bool admin = false;
  std::map<std::string, Role> teams;  // team -> role
  std::string token_id;               // the token that authenticated it ("" if none)

  Role RoleIn(const std::string& team) const;
  Json ToJson() const;
};

struct TokenInfo {
  std::string id;
  std::string principal;
  std::string description;
  int64_t created_micros = 0;
  int64_t expires_micros = 0;  // 0 = never
  int64_t revoked_micros = 0;  // 0 = not revoked
  Json ToJson() const;
};

struct Team {
  std::string name;
  std::map<std::string, Role> members;
  Json ToJson() const;
};

// Names of principals and teams: [a-z0-9][a-z0-9_.@-]{0,63}.
Status ValidateName(std::string_view what, std::string_view name);

class TokenCache;

class IdentityStore {
 public:
  struct Options {
    // How long a verified token is served from memory at most (0: every
    // Authenticate reads the database). Documented in docs/security.md.
    int64_t token_cache_ttl_micros = 5'000'000;
    size_t token_cache_max_entries = 10'000;
  };
  // The NOTIFY channel of token and role changes (PostgreSQL).
  static constexpr char kNotifyChannel[] = "tandem_auth";

  // Migrates the auth tables. `db` and `clock` must outlive the store.
  static StatusOr<std::unique_ptr<IdentityStore>> Open(sql::Database& db, Clock& clock);
  static StatusOr<std::unique_ptr<IdentityStore>> Open(sql::Database& db, Clock& clock,
                                                       const Options& options);
  ~IdentityStore();

  // AlreadyExists if taken; InvalidArgument for a bad name or kind.
  Status CreatePrincipal(const std::string& name, const std::string& kind, bool admin);
  StatusOr<Principal> GetPrincipal(const std::string& name);  // NotFound
  StatusOr<std::vector<Principal>> ListPrincipals();

  // A new token for `principal` (NotFound if unknown), valid for
  // `ttl_seconds` (0 = no expiry). Returns its record and the secret, which
  // is not kept.
  StatusOr<std::pair<TokenInfo, std::string>> CreateToken(const std::string& principal,
                                                          const std::string& description,
                                                          int64_t ttl_seconds);
  // The principal a bearer token stands for. Unauthenticated (with the
  // reason: malformed, unknown, expired or revoked) otherwise.
  StatusOr<Principal> Authenticate(const std::string& token);
  StatusOr<std::vector<TokenInfo>> ListTokens(const std::string& principal);  // "" = all
  StatusOr<TokenInfo> GetToken(const std::string& id);                        // NotFound
  Status RevokeToken(const std::string& id);  // NotFound; revoking twice is OK

  Status CreateTeam(const std::string& name);  // AlreadyExists
  StatusOr<std::vector<Team>> ListTeams();
  StatusOr<Team> GetTeam(const std::string& name);  // NotFound
  // Adds `principal` to `team` or changes its role (both must exist).
  Status SetMember(const std::string& team, const std::string& principal, Role role);
  Status RemoveMember(const std::string& team, const std::string& principal);  // NotFound

  // On a database with no principal: creates the platform admin "admin" and
  // returns a token for it. With principals already: returns "" (nothing made).
  StatusOr<std::string> BootstrapAdmin();

 private:
  IdentityStore(sql::Database& db, Clock& clock, const Options& options);
  // Within a transaction changing tokens or roles: tells the other stores
  // on the database (PostgreSQL) to drop their cached tokens at commit.
  Status NotifyChange(sql::Transaction& tx);
  // After such a transaction: drops this store's cached tokens.
  Status Changed(Status committed);
  StatusOr<Principal> AuthenticateUncached(const std::string& hash);

  sql::Database& db_;
  Clock& clock_;
  std::unique_ptr<TokenCache> cache_;                    // null: no caching
  std::unique_ptr<sql::Subscription> change_listener_;  // PostgreSQL; before cache_ dies
};

}  // namespace tandem::api::auth
