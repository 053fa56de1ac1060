#include "api/secrets/secret_store.h"

#include <cctype>

#include "common/clock.h"

namespace tandem::api::secrets {
namespace {

constexpr size_t kMaxValueBytes = 64 << 10;

const std::vector<sql::Migration>& Migrations() {
  static const std::vector<sql::Migration> kMigrations = {{1, "create_secrets", R"sql(
CREATE TABLE secrets (
  team TEXT NOT NULL,
  name TEXT NOT NULL,
  sealed TEXT NOT NULL,
  created_by TEXT NOT NULL,
  created_micros BIGINT NOT NULL,
  PRIMARY KEY (team, name)
))sql"}};
  return kMigrations;
}

std::string Aad(const std::string& team, const std::string& name) {
  return "tandem-secret\n" + team + "\n" + name;
}

std::string Quoted(const std::string& team, const std::string& name) {
  return "secret '" + name + "' of team '" + team + "'";
}

}  // namespace

Json SecretInfo::ToJson() const {
  return {{"team", team},
          {"name", name},
          {"created_by", created_by},
          {"created", FormatRfc3339(created_micros)}};
}

Status ValidateSecretName(const std::string& name) {
  bool ok = !name.empty() && name.size() <= 128 && std::isalnum(static_cast<unsigned char>(name[0]));
  for (char c : name) {
    ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-');
  }
  if (!ok) {
    return InvalidArgumentError("secret name '" + name +
                                "' must be 1..128 of [A-Za-z0-9._-], starting with a letter or "
                                "digit");
  }
  return OkStatus();
}

StatusOr<std::unique_ptr<SecretStore>> SecretStore::Open(sql::Database& db, SecretCipher cipher,
                                                         Clock& clock) {
  RETURN_IF_ERROR(db.Migrate("secrets", Migrations()));
  return std::unique_ptr<SecretStore>(new SecretStore(db, std::move(cipher), clock));
}

StatusOr<SecretInfo> SecretStore::Create(const std::string& team, const std::string& name,
                                         const std::string& value, const std::string& created_by) {
  RETURN_IF_ERROR(ValidateSecretName(name));
  if (value.empty() || value.size() > kMaxValueBytes) {
    return InvalidArgumentError("the value of a secret must be 1 byte to 64 KiB");
  }
  ASSIGN_OR_RETURN(std::string sealed, cipher_.Seal(value, Aad(team, name)));
  SecretInfo info{team, name, created_by, clock_.NowMicros()};
  RETURN_IF_ERROR(db_.WithTransaction([&](sql::Transaction& tx) -> Status {
    ASSIGN_OR_RETURN(auto rows, tx.Query("SELECT name FROM secrets WHERE team = ? AND name = ?",
                                         {team, name}));
    if (!rows.empty()) {
      return AlreadyExistsError(Quoted(team, name) + " exists (delete it first to replace it)");
    }
    return tx
        .Exec("INSERT INTO secrets (team, name, sealed, created_by, created_micros) VALUES "
              "(?, ?, ?, ?, ?)",
              {team, name, sealed, created_by, info.created_micros})
        .status();
  }));
  return info;
}

StatusOr<std::vector<SecretInfo>> SecretStore::List(const std::string& team) {
  std::vector<SecretInfo> out;
  RETURN_IF_ERROR(db_.Read([&](sql::Transaction& tx) -> Status {
    ASSIGN_OR_RETURN(auto rows, tx.Query("SELECT team, name, created_by, created_micros FROM "
                                         "secrets WHERE team = ? ORDER BY name",
                                         {team}));
    for (const sql::Row& r : rows) out.push_back({r.Text(0), r.Text(1), r.Text(2), r.Int(3)});
    return OkStatus();
  }));
  return out;
}

Status SecretStore::Delete(const std::string& team, const std::string& name) {
  return db_.WithTransaction([&](sql::Transaction& tx) -> Status {
    ASSIGN_OR_RETURN(int64_t n,
                     tx.Exec("DELETE FROM secrets WHERE team = ? AND name = ?", {team, name}));
    if (n == 0) return NotFoundError(Quoted(team, name) + " not found");
    return OkStatus();
  });
}

StatusOr<std::string> SecretStore::Value(const std::string& team, const std::string& name) {
  std::string sealed;
  RETURN_IF_ERROR(db_.Read([&](sql::Transaction& tx) -> Status {
    auto row = tx.QueryOne("SELECT sealed FROM secrets WHERE team = ? AND name = ?", {team, name});
    if (!row.ok()) {
      if (row.status().code() == StatusCode::kNotFound) {
        return NotFoundError(Quoted(team, name) + " not found");
      }
      return row.status();
    }
    sealed = row->Text(0);
    return OkStatus();
  }));
  return cipher_.Open(sealed, Aad(team, name));
}

}  // namespace tandem::api::secrets
