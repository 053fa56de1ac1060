// The model registry: registered models, numbered versions with lineage,
// tags and aliases, with MLflow model-registry semantics (docs/contracts.md).
// Aliases (`champion`, `challenger`) are the deployment pointer: serving
// resolves `name@alias` and swaps when a "Model Alias Changed" event arrives.
//
// Every mutation appends its event (glue/bus/event_types.h) through the
// transactional outbox inside the same SQL transaction: an event exists if and
// only if its change committed.
//
// Choices where MLflow leaves room or differs:
//  - CreateVersion creates the registered model when it is missing, unless
//    `create_model_if_missing` is false (MLflow requires it to exist).
//  - Version numbers are never reused: a per-name counter survives version
//    deletion AND model deletion (a re-created model continues numbering), so
//    `name/3` means one artifact forever.
//  - DeleteModel deletes the model with its versions, tags and aliases (as
//    MLflow does) and emits one "Model Deleted" event listing them.
//  - Resolve("name") (latest) picks the highest READY version.
//  - Alias names are [a-z0-9_-]{1,64} and not purely numeric, so `model@3`
//    can never mean a version.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/json.h"
#include "common/status.h"
#include "glue/bus/event.h"
#include "glue/registry/names.h"

namespace tandem::sql {
class Database;
}
namespace tandem::bus {
class Outbox;
}

namespace tandem::registry {

enum class VersionStatus { kPendingRegistration, kReady, kFailedRegistration };
// "PENDING_REGISTRATION" | "READY" | "FAILED_REGISTRATION".
std::string_view VersionStatusName(VersionStatus s);
StatusOr<VersionStatus> ParseVersionStatus(std::string_view s);

// Where a version came from: the training job, code and image, its inputs
// (channel -> artifact digest), hyperparameters and final metrics.
struct Lineage {
  std::string job_id;
  std::string code_digest;
  std::string image_digest;
  std::map<std::string, std::string> inputs;
  std::map<std::string, std::string> hyperparameters;
  std::map<std::string, double> metrics;

  Json ToJson() const;
  static StatusOr<Lineage> FromJson(const Json& j);
};

struct RegisteredModel {
  std::string name;
  std::string description;
  std::string owner_team;
  std::map<std::string, std::string> tags;
  std::map<std::string, int64_t> aliases;  // alias -> version
  int64_t latest_version = 0;              // highest existing version, 0 if none
  int64_t created_micros = 0;
  int64_t updated_micros = 0;

  Json ToJson() const;
};

struct ModelVersion {
  std::string name;
  int64_t version = 0;
  std::string source;  // "sha256:<hex>" artifact digest or a URI ("s3://...")
  VersionStatus status = VersionStatus::kReady;
  std::string status_message;
  Lineage lineage;
  Json signature = Json::object();  // {"inputs": [...], "outputs": [...]}
  std::string description;
  std::map<std::string, std::string> tags;
  std::string run_id;
  std::string creator;
  std::vector<std::string> aliases;  // sorted
  int64_t created_micros = 0;
  int64_t updated_micros = 0;

  Json ToJson() const;
};

struct CreateModelRequest {
  std::string name;
  std::string description;
  std::string owner_team;
  std::map<std::string, std::string> tags;
};

struct UpdateModelRequest {
  std::optional<std::string> description;
  std::optional<std::string> owner_team;
};

struct CreateVersionRequest {
  std::string name;
  std::string source;  // required
  VersionStatus status = VersionStatus::kReady;
  std::string status_message;
  Lineage lineage;
  Json signature = Json::object();
  std::string description;
  std::map<std::string, std::string> tags;
  std::string run_id;
  std::string creator;
  bool create_model_if_missing = true;
  std::string owner_team;  // used only when the model is created here
  // More events committed with the version, after its own, in the same
  // transaction (the REST API's audit event of the request that creates it:
  // one commit per request instead of two). Each must have an id.
  std::vector<bus::Event> also_publish;
};

// Pagination: `max_results` 0 means the default (100); at most 1000.
inline constexpr int kDefaultPageResults = 100;
inline constexpr int kMaxPageResults = 1000;
// `page_token` is the opaque `next_page_token` of the previous page ("" for
// the first); results are in a stable order.
struct ModelSearch {
  std::string name_prefix;                  // case-sensitive
  std::string name_contains;                // case-insensitive substring
  std::string owner_team;                   // exact
  std::map<std::string, std::string> tags;  // all must match exactly
  int max_results = 0;
  std::string page_token;
};

struct VersionSearch {
  std::optional<VersionStatus> status;
  int max_results = 0;
  std::string page_token;
};

template <typename T>
struct Page {
  std::vector<T> items;
  std::string next_page_token;  // "" on the last page
};

class ModelRegistry {
 public:
  virtual ~ModelRegistry() = default;

  // The SQL registry over `db` (SQLite or PostgreSQL; migrates its tables).
  // `db`, `outbox` and `clock` are not owned and must outlive the registry.
  static StatusOr<std::unique_ptr<ModelRegistry>> Open(sql::Database& db, bus::Outbox& outbox,
                                                       Clock& clock);

  // All methods are thread-safe, and safe across processes sharing the DB.
  // Unknown models/versions/aliases -> NotFound naming them; invalid input ->
  // InvalidArgument; duplicates -> AlreadyExists.

  // The public methods check their arguments (names, aliases, version
  // numbers, tags, sources, page sizes: InvalidArgument, the same for every
  // backend) and then call the backend's protected Do* method, which may
  // assume valid arguments.

  // --- registered models ---
  StatusOr<RegisteredModel> CreateModel(const CreateModelRequest& req);
  StatusOr<RegisteredModel> GetModel(std::string_view name);
  StatusOr<RegisteredModel> UpdateModel(std::string_view name, const UpdateModelRequest& req);
  // Deletes the model and all its versions, tags and aliases.
  Status DeleteModel(std::string_view name);
  // Ordered by name.
  StatusOr<Page<RegisteredModel>> SearchModels(const ModelSearch& search);
  // Number of registered models, counted by the backend (no listing).
  StatusOr<int64_t> CountModels() { return DoCountModels(); }

  // --- versions ---
  // Allocates the next version number of `req.name` (1, 2, ...).
  StatusOr<ModelVersion> CreateVersion(const CreateVersionRequest& req);
  StatusOr<ModelVersion> GetVersion(std::string_view name, int64_t version);
  // PENDING_REGISTRATION -> READY | FAILED_REGISTRATION; setting the current
  // status again is a no-op (no event); other transitions -> FailedPrecondition.
  StatusOr<ModelVersion> UpdateVersionStatus(std::string_view name, int64_t version,
                                             VersionStatus status,
                                             std::string_view status_message = "");
  StatusOr<ModelVersion> UpdateVersionDescription(std::string_view name, int64_t version,
                                                  std::string_view description);
  // Also deletes the aliases pointing at it (one "Model Alias Deleted" each).
  Status DeleteVersion(std::string_view name, int64_t version);
  // Versions of one model, newest first. NotFound if the model is unknown.
  StatusOr<Page<ModelVersion>> SearchVersions(std::string_view name, const VersionSearch& search);

  // --- aliases ---
  // Creates or moves `alias` to `version` (which must exist).
  StatusOr<ModelVersion> SetAlias(std::string_view name, std::string_view alias, int64_t version);
  Status DeleteAlias(std::string_view name, std::string_view alias);
  StatusOr<ModelVersion> GetVersionByAlias(std::string_view name, std::string_view alias);
  // Resolves a parsed or textual ref ("fraud@champion", "fraud/3", "fraud").
  StatusOr<ModelVersion> Resolve(const ModelRef& ref);
  StatusOr<ModelVersion> Resolve(std::string_view ref);

  // --- tags (setting an existing key overwrites it) ---
  Status SetModelTag(std::string_view name, std::string_view key, std::string_view value);
  Status DeleteModelTag(std::string_view name, std::string_view key);
  Status SetVersionTag(std::string_view name, int64_t version, std::string_view key,
                       std::string_view value);
  Status DeleteVersionTag(std::string_view name, int64_t version, std::string_view key);

 protected:
  // The backend's work, called by the public methods above once the
  // arguments are valid. max_results is 0 (the default) or 1..1000.
  virtual StatusOr<RegisteredModel> DoCreateModel(const CreateModelRequest& req) = 0;
  virtual StatusOr<RegisteredModel> DoGetModel(std::string_view name) = 0;
  virtual StatusOr<RegisteredModel> DoUpdateModel(std::string_view name,
                                                  const UpdateModelRequest& req) = 0;
  virtual Status DoDeleteModel(std::string_view name) = 0;
  virtual StatusOr<Page<RegisteredModel>> DoSearchModels(const ModelSearch& search) = 0;
  virtual StatusOr<int64_t> DoCountModels() = 0;
  virtual StatusOr<ModelVersion> DoCreateVersion(const CreateVersionRequest& req) = 0;
  virtual StatusOr<ModelVersion> DoGetVersion(std::string_view name, int64_t version) = 0;
  virtual StatusOr<ModelVersion> DoUpdateVersionStatus(std::string_view name, int64_t version,
                                                       VersionStatus status,
                                                       std::string_view status_message) = 0;
  virtual StatusOr<ModelVersion> DoUpdateVersionDescription(std::string_view name, int64_t version,
                                                            std::string_view description) = 0;
  virtual Status DoDeleteVersion(std::string_view name, int64_t version) = 0;
  virtual StatusOr<Page<ModelVersion>> DoSearchVersions(std::string_view name,
                                                        const VersionSearch& search) = 0;
  virtual StatusOr<ModelVersion> DoSetAlias(std::string_view name, std::string_view alias,
                                            int64_t version) = 0;
  virtual Status DoDeleteAlias(std::string_view name, std::string_view alias) = 0;
  virtual StatusOr<ModelVersion> DoGetVersionByAlias(std::string_view name,
                                                     std::string_view alias) = 0;
  virtual StatusOr<ModelVersion> DoResolve(const ModelRef& ref) = 0;
  virtual Status DoSetModelTag(std::string_view name, std::string_view key,
                               std::string_view value) = 0;
  virtual Status DoDeleteModelTag(std::string_view name, std::string_view key) = 0;
  virtual Status DoSetVersionTag(std::string_view name, int64_t version, std::string_view key,
                                 std::string_view value) = 0;
  virtual Status DoDeleteVersionTag(std::string_view name, int64_t version,
                                    std::string_view key) = 0;
};

}  // namespace tandem::registry
