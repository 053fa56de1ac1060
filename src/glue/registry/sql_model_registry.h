// ModelRegistry over the SQL layer, written once in SQL that both SQLite and
// PostgreSQL accept, so every sql::Database backend reuses it unchanged.
// Thread-safe; safe across processes sharing the database (version numbers
// are allocated from a per-name counter row inside the write transaction).
// Concurrent version creations of one model in this process are group
// committed (group_commit.h): one transaction numbers and writes them all
// (sql_create_version.cc).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include "absl/synchronization/mutex.h"
#include "glue/bus/outbox.h"
#include "glue/registry/model_registry.h"
#include "glue/sql/database.h"
#include "glue/sql/group_commit.h"

namespace tandem::registry {

class SqlModelRegistry final : public ModelRegistry {
 public:
  // Applies the registry's migrations (component "registry") to `db`.
  // `db`, `outbox` and `clock` are not owned and must outlive the registry.
  static StatusOr<std::unique_ptr<SqlModelRegistry>> Create(sql::Database& db, bus::Outbox& outbox,
                                                            Clock& clock);

 protected:
  StatusOr<RegisteredModel> DoCreateModel(const CreateModelRequest& req) override;
  StatusOr<RegisteredModel> DoGetModel(std::string_view name) override;
  StatusOr<RegisteredModel> DoUpdateModel(std::string_view name,
                                          const UpdateModelRequest& req) override;
  Status DoDeleteModel(std::string_view name) override;
  StatusOr<Page<RegisteredModel>> DoSearchModels(const ModelSearch& search) override;
  StatusOr<int64_t> DoCountModels() override;

  StatusOr<ModelVersion> DoCreateVersion(const CreateVersionRequest& req) override;
  StatusOr<ModelVersion> DoGetVersion(std::string_view name, int64_t version) override;
  StatusOr<ModelVersion> DoUpdateVersionStatus(std::string_view name, int64_t version,
                                               VersionStatus status,
                                               std::string_view status_message) override;
  StatusOr<ModelVersion> DoUpdateVersionDescription(std::string_view name, int64_t version,
                                                    std::string_view description) override;
  Status DoDeleteVersion(std::string_view name, int64_t version) override;
  StatusOr<Page<ModelVersion>> DoSearchVersions(std::string_view name,
                                                const VersionSearch& search) override;

  StatusOr<ModelVersion> DoSetAlias(std::string_view name, std::string_view alias,
                                    int64_t version) override;
  Status DoDeleteAlias(std::string_view name, std::string_view alias) override;
  StatusOr<ModelVersion> DoGetVersionByAlias(std::string_view name,
                                             std::string_view alias) override;
  StatusOr<ModelVersion> DoResolve(const ModelRef& ref) override;

  Status DoSetModelTag(std::string_view name, std::string_view key,
                       std::string_view value) override;
  Status DoDeleteModelTag(std::string_view name, std::string_view key) override;
  Status DoSetVersionTag(std::string_view name, int64_t version, std::string_view key,
                         std::string_view value) override;
  Status DoDeleteVersionTag(std::string_view name, int64_t version, std::string_view key) override;

 private:
  // One version creation waiting for its batch (sql_create_version.cc).
  struct PendingVersion;
  // Up to this many creations of one model share a transaction.
  static constexpr size_t kMaxVersionBatch = 64;
  // Batches of one model's creations in flight at once on PostgreSQL: the
  // next is formed and sent once the server has granted the previous one
  // the model's lock, while its round trip is under way (the server queues
  // it on the lock); SQLite runs them one at a time.
  static constexpr size_t kVersionBatchesInFlight = 2;

  SqlModelRegistry(sql::Database& db, bus::Outbox& outbox, Clock& clock)
      : db_(db),
        outbox_(outbox),
        clock_(clock),
        creates_(kMaxVersionBatch,
                 db.dialect() == sql::Dialect::kPostgres ? kVersionBatchesInFlight : 1) {}

  // The leader's work: creates `batch` (all of one model, in arrival order)
  // in one transaction, each with its own result; if the database refuses
  // that transaction, each alone.
  void CreateVersions(const std::vector<PendingVersion*>& batch);
  // Writes `batch` within `tx`: numbers them consecutively, each item's
  // own outcome in its `result` (a request that needed a missing model
  // fails alone, as it would have serially).
  // `last` receives the model's last version number after the batch;
  // `checked` whether the numbers followed the batch's expectation
  // (registry_bump_expected) rather than a read of the counter.
  Status WriteVersions(sql::Transaction& tx, const std::vector<PendingVersion*>& batch,
                       int64_t& last, bool& checked);
  // PostgreSQL: the batches of one model take turns in the order they were
  // formed (QueueBatch, with the group's lock held). In its turn a batch
  // expects the numbers after the model's last version if this process
  // knows it (TakeTurn: then the next batch's turn comes once the server
  // has granted this one the model's lock, PassTurn), else it reads the
  // counter (the next turn
  // comes when it has ended). SettleVersions records how the batch ended
  // (`last`: the model's last version if it committed) and passes the turn.
  void QueueBatch(const std::string& name, PendingVersion& head);
  std::optional<int64_t> TakeTurn(const std::string& name, PendingVersion& head, int64_t n);
  void PassTurn(const std::string& name, const PendingVersion& head);
  void SettleVersions(const std::string& name, const PendingVersion& head,
                      std::optional<int64_t> last, bool checked);

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
  sql::GroupCommit<PendingVersion> creates_;
  // Per model (PostgreSQL): its last version number as this process's
  // batches will have left it (committed, or expected by the batches that
  // have had their turn), if known; checked by the database
  // (registry_bump_expected), so a wrong one costs a retry, never a wrong
  // number. And the batches' turns.
  struct KnownVersions {
    std::optional<int64_t> last;
    uint64_t formed = 0;  // batches formed so far (the last one's seq)
    uint64_t turn = 0;    // batches whose turn has passed
    std::set<uint64_t> unsettled;  // seqs of batches formed and not ended
  };
  absl::Mutex last_mu_;
  absl::CondVar turn_cv_;
  std::map<std::string, KnownVersions> known_ ABSL_GUARDED_BY(last_mu_);
};

}  // namespace tandem::registry
