// Team secrets (docs/security.md "Secrets"): named values a team's jobs get
// as environment variables or files (compute/jobs/spec.h `secrets:`). A value
// is shown to nobody after it is stored: it is kept encrypted (cipher.h) in
// the metadata database (`secrets` table, SQLite or PostgreSQL) and read back
// only by the job service when it launches a job of that team.
//
//   name   [A-Za-z0-9][A-Za-z0-9._-]{0,127}, unique per team
//   value  1 byte .. 64 KiB
//
// Thread-safety: thread-safe (the database is).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "api/secrets/cipher.h"
#include "common/clock.h"
#include "common/json.h"
#include "common/status.h"
#include "glue/sql/database.h"

namespace tandem::api::secrets {

struct SecretInfo {
  std::string team, name, created_by;
  int64_t created_micros = 0;
  Json ToJson() const;  // never the value
};

// InvalidArgument naming the rule, for names and values.
Status ValidateSecretName(const std::string& name);

class SecretStore {
 public:
  // Migrates the table. `db` and `clock` must outlive the store.
  static StatusOr<std::unique_ptr<SecretStore>> Open(sql::Database& db, SecretCipher cipher,
                                                     Clock& clock);

  // AlreadyExists when the team has a secret of that name (delete it first).
  StatusOr<SecretInfo> Create(const std::string& team, const std::string& name,
                              const std::string& value, const std::string& created_by);
  StatusOr<std::vector<SecretInfo>> List(const std::string& team);  // sorted by name
  // NotFound naming the secret and team.
  Status Delete(const std::string& team, const std::string& name);
  StatusOr<std::string> Value(const std::string& team, const std::string& name);

 private:
  SecretStore(sql::Database& db, SecretCipher cipher, Clock& clock)
      : db_(db), cipher_(std::move(cipher)), clock_(clock) {}
  sql::Database& db_;
  const SecretCipher cipher_;
  Clock& clock_;
};

}  // namespace tandem::api::secrets
