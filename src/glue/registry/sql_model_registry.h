// ModelRegistry over the SQL layer, written once in SQL that both SQLite and
// PostgreSQL accept, so every sql::Database backend reuses it unchanged.
// Thread-safe; safe across processes sharing the database (version numbers
// are allocated from a per-name counter row inside the write transaction).
#pragma once

#include <functional>
#include <memory>
#include <string_view>

#include "glue/bus/outbox.h"
#include "glue/registry/model_registry.h"
#include "glue/sql/database.h"

namespace tandem::registry {

class SqlModelRegistry final : public ModelRegistry {
 public:
  // Applies the registry's migrations (component "registry") to `db`.
  // `db`, `outbox` and `clock` are not owned and must outlive the registry.
  static StatusOr<std::unique_ptr<SqlModelRegistry>> Create(sql::Database& db, bus::Outbox& outbox,
                                                            Clock& clock);

  StatusOr<RegisteredModel> CreateModel(const CreateModelRequest& req) override;
  StatusOr<RegisteredModel> GetModel(std::string_view name) override;
  StatusOr<RegisteredModel> UpdateModel(std::string_view name,
                                        const UpdateModelRequest& req) override;
  Status DeleteModel(std::string_view name) override;
  StatusOr<Page<RegisteredModel>> SearchModels(const ModelSearch& search) override;
  StatusOr<int64_t> CountModels() override;

  StatusOr<ModelVersion> CreateVersion(const CreateVersionRequest& req) override;
  StatusOr<ModelVersion> GetVersion(std::string_view name, int64_t version) override;
  StatusOr<ModelVersion> UpdateVersionStatus(std::string_view name, int64_t version,
                                             VersionStatus status,
                                             std::string_view status_message) override;
  StatusOr<ModelVersion> UpdateVersionDescription(std::string_view name, int64_t version,
                                                  std::string_view description) override;
  Status DeleteVersion(std::string_view name, int64_t version) override;
  StatusOr<Page<ModelVersion>> SearchVersions(std::string_view name,
                                              const VersionSearch& search) override;

  StatusOr<ModelVersion> SetAlias(std::string_view name, std::string_view alias,
                                  int64_t version) override;
  Status DeleteAlias(std::string_view name, std::string_view alias) override;
  StatusOr<ModelVersion> GetVersionByAlias(std::string_view name, std::string_view alias) override;
  using ModelRegistry::Resolve;
  StatusOr<ModelVersion> Resolve(const ModelRef& ref) override;

  Status SetModelTag(std::string_view name, std::string_view key, std::string_view value) override;
  Status DeleteModelTag(std::string_view name, std::string_view key) override;
  Status SetVersionTag(std::string_view name, int64_t version, std::string_view key,
                       std::string_view value) override;
  Status DeleteVersionTag(std::string_view name, int64_t version, std::string_view key) override;

 private:
  SqlModelRegistry(sql::Database& db, bus::Outbox& outbox, Clock& clock)
      : db_(db), outbox_(outbox), clock_(clock) {}

  // Appends one registry event within `tx`.
  Status Emit(sql::Transaction& tx, std::string_view type, Json detail, std::string_view name,
              int64_t version = 0);
  // Runs `fn` as a write transaction on the rows of model `name` (see
  // sql::Database::WithKeyedTransaction).
  Status WriteModel(std::string_view name, const std::function<Status(sql::Transaction&)>& fn);
  // Sets the model's updated time to now (model-level changes).
  Status Touch(sql::Transaction& tx, std::string_view name);

  sql::Database& db_;
  bus::Outbox& outbox_;
  Clock& clock_;
};

}  // namespace tandem::registry
