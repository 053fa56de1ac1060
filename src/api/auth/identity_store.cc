#include "api/auth/identity_store.h"

#include <algorithm>

#include "api/auth/token.h"
#include "api/auth/token_cache.h"

namespace tandem::api::auth {
namespace {

using sql::Row;
using sql::Transaction;
using sql::Value;

const std::vector<sql::Migration>& Migrations() {
  static const std::vector<sql::Migration> kMigrations = {{1, "create_auth_tables", R"sql(
CREATE TABLE auth_principals (
  name TEXT PRIMARY KEY,
  kind TEXT NOT NULL,
  admin BIGINT NOT NULL,
  created_micros BIGINT NOT NULL
);
CREATE TABLE auth_tokens (
  id TEXT PRIMARY KEY,
  principal TEXT NOT NULL REFERENCES auth_principals (name),
  hash TEXT NOT NULL UNIQUE,
  description TEXT NOT NULL,
  created_micros BIGINT NOT NULL,
  expires_micros BIGINT NOT NULL,
  revoked_micros BIGINT NOT NULL
);
CREATE TABLE auth_teams (
  name TEXT PRIMARY KEY,
  created_micros BIGINT NOT NULL
);
CREATE TABLE auth_members (
  team TEXT NOT NULL REFERENCES auth_teams (name),
  principal TEXT NOT NULL REFERENCES auth_principals (name),
  role BIGINT NOT NULL,
  PRIMARY KEY (team, principal)
))sql"}};
  return kMigrations;
}

constexpr char kTokenColumns[] =
    "id, principal, description, created_micros, expires_micros, revoked_micros";

TokenInfo TokenFromRow(const Row& r) {
  TokenInfo t;
  t.id = r.Text(0);
  t.principal = r.Text(1);
  t.description = r.Text(2);
  t.created_micros = r.Int(3);
  t.expires_micros = r.Int(4);
  t.revoked_micros = r.Int(5);
  return t;
}

Role RoleFromInt(int64_t v) { return v >= 1 && v <= 3 ? static_cast<Role>(v) : Role::kNone; }

// The principal and its team roles in one query (a LEFT JOIN: one row per
// team, or one row with NULL team for a principal in none).
StatusOr<Principal> LoadPrincipal(Transaction& tx, const std::string& name) {
  ASSIGN_OR_RETURN(auto rows, tx.Query("SELECT p.name, p.kind, p.admin, m.team, m.role "
                                       "FROM auth_principals p LEFT JOIN auth_members m "
                                       "ON m.principal = p.name WHERE p.name = ?",
                                       {name}));
  if (rows.empty()) return NotFoundError("principal '" + name + "' not found");
  Principal p;
  p.name = rows[0].Text(0);
  p.kind = rows[0].Text(1);
  p.admin = rows[0].Int(2) != 0;
  for (const Row& r : rows) {
    if (!r.IsNull(3)) p.teams[r.Text(3)] = RoleFromInt(r.Int(4));
  }
  return p;
}

Status Exists(Transaction& tx, const char* table, const std::string& name, const char* what) {
  auto rows = tx.Query(std::string("SELECT name FROM ") + table + " WHERE name = ?", {name});
  if (!rows.ok()) return rows.status();
  if (rows->empty()) return NotFoundError(std::string(what) + " '" + name + "' not found");
  return OkStatus();
}

std::string Rfc3339OrNull(int64_t micros) { return micros == 0 ? "" : FormatRfc3339(micros); }

}  // namespace

std::string_view RoleName(Role role) {
  switch (role) {
    case Role::kViewer:
      return "viewer";
    case Role::kMember:
      return "member";
    case Role::kOwner:
      return "owner";
    case Role::kNone:
      break;
  }
  return "none";
}

StatusOr<Role> ParseRole(std::string_view name) {
  for (Role r : {Role::kViewer, Role::kMember, Role::kOwner}) {
    if (RoleName(r) == name) return r;
  }
  return InvalidArgumentError("role '" + std::string(name) +
                              "' must be one of viewer, member, owner");
}

Role Principal::RoleIn(const std::string& team) const {
  auto it = teams.find(team);
  return it == teams.end() ? Role::kNone : it->second;
}

Json Principal::ToJson() const {
  Json t = Json::object();
  for (const auto& [team, role] : teams) t[team] = std::string(RoleName(role));
  return {{"name", name}, {"kind", kind}, {"admin", admin}, {"teams", t}};
}

Json TokenInfo::ToJson() const {
  Json j = {{"id", id},
            {"principal", principal},
            {"description", description},
            {"created", FormatRfc3339(created_micros)},
            {"expires", Rfc3339OrNull(expires_micros)},
            {"revoked", Rfc3339OrNull(revoked_micros)}};
  return j;
}

Json Team::ToJson() const {
  Json m = Json::object();
  for (const auto& [p, role] : members) m[p] = std::string(RoleName(role));
  return {{"name", name}, {"members", m}};
}

Status ValidateName(std::string_view what, std::string_view name) {
  bool ok = !name.empty() && name.size() <= 64;
  for (size_t i = 0; ok && i < name.size(); ++i) {
    char c = name[i];
    bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    ok = alnum || (i > 0 && (c == '_' || c == '.' || c == '@' || c == '-'));
  }
  if (ok) return OkStatus();
  return InvalidArgumentError(std::string(what) + " name '" + std::string(name) +
                              "' must match [a-z0-9][a-z0-9_.@-]{0,63}");
}

IdentityStore::IdentityStore(sql::Database& db, Clock& clock, const Options& options)
    : db_(db), clock_(clock) {
  if (options.token_cache_ttl_micros > 0) {
    cache_ = std::make_unique<TokenCache>(clock, options.token_cache_ttl_micros,
                                          std::max<size_t>(options.token_cache_max_entries, 1));
  }
}

IdentityStore::~IdentityStore() = default;

StatusOr<std::unique_ptr<IdentityStore>> IdentityStore::Open(sql::Database& db, Clock& clock) {
  return Open(db, clock, Options{});
}

StatusOr<std::unique_ptr<IdentityStore>> IdentityStore::Open(sql::Database& db, Clock& clock,
                                                             const Options& options) {
  if (options.token_cache_ttl_micros < 0) {
    return InvalidArgumentError("the token cache's lifetime must not be negative");
  }
  RETURN_IF_ERROR(db.Migrate("auth", Migrations()));
  std::unique_ptr<IdentityStore> store(new IdentityStore(db, clock, options));
  if (store->cache_ != nullptr) {
    // Also called after each (re)connection of the listener: changes made
    // while it was away are not missed.
    TokenCache* cache = store->cache_.get();
    ASSIGN_OR_RETURN(store->change_listener_,
                     db.Listen(kNotifyChannel, [cache] { cache->Clear(); }));
  }
  return store;
}

Status IdentityStore::NotifyChange(Transaction& tx) {
  if (tx.dialect() != sql::Dialect::kPostgres) return OkStatus();
  return tx.ExecDeferred(std::string("SELECT pg_notify('") + kNotifyChannel + "', '')");
}

Status IdentityStore::Changed(Status committed) {
  // Cleared whether or not the transaction committed: its outcome may be
  // unknown (a lost connection at COMMIT), and a clear only costs lookups.
  if (cache_ != nullptr) cache_->Clear();
  return committed;
}

Status IdentityStore::CreatePrincipal(const std::string& name, const std::string& kind,
                                      bool admin) {
  RETURN_IF_ERROR(ValidateName("principal", name));
  if (kind != "user" && kind != "service") {
    return InvalidArgumentError("principal kind '" + kind + "' must be user or service");
  }
  return db_.WithTransaction([&](Transaction& tx) -> Status {
    ASSIGN_OR_RETURN(auto rows,
                     tx.Query("SELECT name FROM auth_principals WHERE name = ?", {name}));
    if (!rows.empty()) return AlreadyExistsError("principal '" + name + "' already exists");
    return tx
        .Exec("INSERT INTO auth_principals (name, kind, admin, created_micros) VALUES (?, ?, ?, ?)",
              {name, kind, int64_t{admin ? 1 : 0}, clock_.NowMicros()})
        .status();
  });
}

StatusOr<Principal> IdentityStore::GetPrincipal(const std::string& name) {
  Principal out;
  RETURN_IF_ERROR(db_.Read([&](Transaction& tx) -> Status {
    ASSIGN_OR_RETURN(out, LoadPrincipal(tx, name));
    return OkStatus();
  }));
  return out;
}

StatusOr<std::vector<Principal>> IdentityStore::ListPrincipals() {
  std::vector<Principal> out;
  RETURN_IF_ERROR(db_.Read([&](Transaction& tx) -> Status {
    out.clear();
    ASSIGN_OR_RETURN(auto rows, tx.Query("SELECT name FROM auth_principals ORDER BY name"));
    for (const Row& r : rows) {
      ASSIGN_OR_RETURN(Principal p, LoadPrincipal(tx, r.Text(0)));
      out.push_back(std::move(p));
    }
    return OkStatus();
  }));
  return out;
}

StatusOr<std::pair<TokenInfo, std::string>> IdentityStore::CreateToken(
    const std::string& principal, const std::string& description, int64_t ttl_seconds) {
  if (ttl_seconds < 0) return InvalidArgumentError("token lifetime must not be negative");
  ASSIGN_OR_RETURN(TokenSecret secret, NewToken());
  TokenInfo info;
  info.id = secret.id;
  info.principal = principal;
  info.description = description;
  info.created_micros = clock_.NowMicros();
  info.expires_micros = ttl_seconds == 0 ? 0 : info.created_micros + ttl_seconds * 1'000'000;
  RETURN_IF_ERROR(db_.WithTransaction([&](Transaction& tx) -> Status {
    RETURN_IF_ERROR(Exists(tx, "auth_principals", principal, "principal"));
    return tx
        .Exec(std::string("INSERT INTO auth_tokens (") + kTokenColumns +
                  ", hash) VALUES (?, ?, ?, ?, ?, ?, ?)",
              {info.id, info.principal, info.description, info.created_micros, info.expires_micros,
               int64_t{0}, HashToken(secret.token)})
        .status();
  }));
  return std::make_pair(info, secret.token);
}

StatusOr<Principal> IdentityStore::Authenticate(const std::string& token) {
  if (TokenId(token).empty()) return UnauthenticatedError("malformed API token");
  std::string hash = HashToken(token);
  if (cache_ != nullptr) {
    if (auto hit = cache_->Get(hash)) return *std::move(hit);
  }
  return AuthenticateUncached(hash);
}

StatusOr<Principal> IdentityStore::AuthenticateUncached(const std::string& hash) {
  // Read before the database: a change committed after this cannot be
  // undone by storing what the query below saw.
  uint64_t generation = cache_ != nullptr ? cache_->generation() : 0;
  Principal out;
  int64_t expires_micros = 0;
  // The token, its principal and the principal's team roles in one query.
  RETURN_IF_ERROR(db_.Read([&](Transaction& tx) -> Status {
    ASSIGN_OR_RETURN(auto rows,
                     tx.Query("SELECT t.id, t.principal, t.description, t.created_micros, "
                              "t.expires_micros, t.revoked_micros, p.kind, p.admin, m.team, "
                              "m.role FROM auth_tokens t "
                              "JOIN auth_principals p ON p.name = t.principal "
                              "LEFT JOIN auth_members m ON m.principal = t.principal "
                              "WHERE t.hash = ?",
                              {hash}));
    if (rows.empty()) return UnauthenticatedError("unknown API token");
    TokenInfo t = TokenFromRow(rows[0]);
    if (t.revoked_micros != 0) return UnauthenticatedError("API token " + t.id + " was revoked");
    if (t.expires_micros != 0 && clock_.NowMicros() >= t.expires_micros) {
      return UnauthenticatedError("API token " + t.id + " expired at " +
                                  FormatRfc3339(t.expires_micros));
    }
    out = Principal{};
    out.name = t.principal;
    out.kind = rows[0].Text(6);
    out.admin = rows[0].Int(7) != 0;
    for (const Row& r : rows) {
      if (!r.IsNull(8)) out.teams[r.Text(8)] = RoleFromInt(r.Int(9));
    }
    out.token_id = t.id;
    expires_micros = t.expires_micros;
    return OkStatus();
  }));
  if (cache_ != nullptr) cache_->Put(hash, out, expires_micros, generation);
  return out;
}

StatusOr<std::vector<TokenInfo>> IdentityStore::ListTokens(const std::string& principal) {
  std::vector<TokenInfo> out;
  RETURN_IF_ERROR(db_.Read([&](Transaction& tx) -> Status {
    std::string sql = std::string("SELECT ") + kTokenColumns + " FROM auth_tokens";
    std::vector<Value> params;
    if (!principal.empty()) {
      sql += " WHERE principal = ?";
      params.push_back(principal);
    }
    ASSIGN_OR_RETURN(auto rows, tx.Query(sql + " ORDER BY created_micros, id", params));
    out.clear();
    for (const Row& r : rows) out.push_back(TokenFromRow(r));
    return OkStatus();
  }));
  return out;
}

StatusOr<TokenInfo> IdentityStore::GetToken(const std::string& id) {
  TokenInfo out;
  RETURN_IF_ERROR(db_.Read([&](Transaction& tx) -> Status {
    ASSIGN_OR_RETURN(
        auto rows,
        tx.Query(std::string("SELECT ") + kTokenColumns + " FROM auth_tokens WHERE id = ?", {id}));
    if (rows.empty()) return NotFoundError("token '" + id + "' not found");
    out = TokenFromRow(rows[0]);
    return OkStatus();
  }));
  return out;
}

Status IdentityStore::RevokeToken(const std::string& id) {
  return Changed(db_.WithTransaction([&](Transaction& tx) -> Status {
    ASSIGN_OR_RETURN(auto rows, tx.Query("SELECT id FROM auth_tokens WHERE id = ?", {id}));
    if (rows.empty()) return NotFoundError("token '" + id + "' not found");
    RETURN_IF_ERROR(NotifyChange(tx));
    return tx
        .Exec("UPDATE auth_tokens SET revoked_micros = ? WHERE id = ? AND revoked_micros = 0",
              {clock_.NowMicros(), id})
        .status();
  }));
}

Status IdentityStore::CreateTeam(const std::string& name) {
  RETURN_IF_ERROR(ValidateName("team", name));
  return db_.WithTransaction([&](Transaction& tx) -> Status {
    ASSIGN_OR_RETURN(auto rows, tx.Query("SELECT name FROM auth_teams WHERE name = ?", {name}));
    if (!rows.empty()) return AlreadyExistsError("team '" + name + "' already exists");
    return tx
        .Exec("INSERT INTO auth_teams (name, created_micros) VALUES (?, ?)",
              {name, clock_.NowMicros()})
        .status();
  });
}

StatusOr<std::vector<Team>> IdentityStore::ListTeams() {
  std::vector<Team> out;
  RETURN_IF_ERROR(db_.Read([&](Transaction& tx) -> Status {
    out.clear();
    ASSIGN_OR_RETURN(auto teams, tx.Query("SELECT name FROM auth_teams ORDER BY name"));
    ASSIGN_OR_RETURN(auto members, tx.Query("SELECT team, principal, role FROM auth_members"));
    std::map<std::string, Team> by_name;
    for (const Row& r : teams) by_name[r.Text(0)].name = r.Text(0);
    for (const Row& m : members) by_name[m.Text(0)].members[m.Text(1)] = RoleFromInt(m.Int(2));
    for (auto& [name, team] : by_name) out.push_back(std::move(team));
    return OkStatus();
  }));
  return out;
}

StatusOr<Team> IdentityStore::GetTeam(const std::string& name) {
  ASSIGN_OR_RETURN(auto teams, ListTeams());
  for (auto& t : teams) {
    if (t.name == name) return t;
  }
  return NotFoundError("team '" + name + "' not found");
}

Status IdentityStore::SetMember(const std::string& team, const std::string& principal, Role role) {
  if (role == Role::kNone) return InvalidArgumentError("a member needs a role");
  return Changed(db_.WithTransaction([&](Transaction& tx) -> Status {
    RETURN_IF_ERROR(Exists(tx, "auth_teams", team, "team"));
    RETURN_IF_ERROR(Exists(tx, "auth_principals", principal, "principal"));
    RETURN_IF_ERROR(NotifyChange(tx));
    RETURN_IF_ERROR(
        tx.Exec("DELETE FROM auth_members WHERE team = ? AND principal = ?", {team, principal})
            .status());
    return tx
        .Exec("INSERT INTO auth_members (team, principal, role) VALUES (?, ?, ?)",
              {team, principal, static_cast<int64_t>(role)})
        .status();
  }));
}

Status IdentityStore::RemoveMember(const std::string& team, const std::string& principal) {
  return Changed(db_.WithTransaction([&](Transaction& tx) -> Status {
    ASSIGN_OR_RETURN(int64_t n, tx.Exec("DELETE FROM auth_members WHERE team = ? AND principal = ?",
                                        {team, principal}));
    if (n == 0) {
      return NotFoundError("principal '" + principal + "' is not a member of team '" + team + "'");
    }
    return NotifyChange(tx);
  }));
}

StatusOr<std::string> IdentityStore::BootstrapAdmin() {
  bool created = false;
  RETURN_IF_ERROR(db_.WithTransaction([&](Transaction& tx) -> Status {
    created = false;
    ASSIGN_OR_RETURN(auto rows, tx.Query("SELECT name FROM auth_principals LIMIT 1"));
    if (!rows.empty()) return OkStatus();
    created = true;
    return tx
        .Exec("INSERT INTO auth_principals (name, kind, admin, created_micros) VALUES (?, ?, ?, ?)",
              {std::string("admin"), std::string("user"), int64_t{1}, clock_.NowMicros()})
        .status();
  }));
  if (!created) return std::string();
  ASSIGN_OR_RETURN(auto token, CreateToken("admin", "created by tandem up", 0));
  return token.second;
}

}  // namespace tandem::api::auth
