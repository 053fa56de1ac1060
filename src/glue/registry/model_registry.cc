#include "glue/registry/model_registry.h"

#include <cctype>

namespace tandem::registry {
namespace {

std::string Quote(std::string_view s) {
  constexpr size_t kMax = 200;
  std::string out = "'" + std::string(s.substr(0, kMax));
  if (s.size() > kMax) out += "...";
  return out + "'";
}

template <typename V>
StatusOr<std::map<std::string, V>> GetMap(const Json& j, const char* field) {
  std::map<std::string, V> out;
  if (!j.contains(field) || j[field].is_null()) return out;
  const Json& m = j[field];
  if (!m.is_object()) {
    return InvalidArgumentError(std::string("lineage field '") + field + "' must be an object");
  }
  for (const auto& [k, v] : m.items()) {
    if constexpr (std::is_same_v<V, double>) {
      if (!v.is_number()) {
        return InvalidArgumentError(std::string("lineage field '") + field + "." + k +
                                    "' must be a number");
      }
      out[k] = v.template get<double>();
    } else {
      // Hyperparameters arrive as SageMaker strings; accept scalars as text.
      if (v.is_string()) {
        out[k] = v.template get<std::string>();
      } else if (v.is_number() || v.is_boolean()) {
        out[k] = v.dump();
      } else {
        return InvalidArgumentError(std::string("lineage field '") + field + "." + k +
                                    "' must be a string");
      }
    }
  }
  return out;
}

}  // namespace

std::string_view VersionStatusName(VersionStatus s) {
  switch (s) {
    case VersionStatus::kPendingRegistration:
      return "PENDING_REGISTRATION";
    case VersionStatus::kReady:
      return "READY";
    case VersionStatus::kFailedRegistration:
      return "FAILED_REGISTRATION";
  }
  return "READY";
}

StatusOr<VersionStatus> ParseVersionStatus(std::string_view s) {
  for (VersionStatus v : {VersionStatus::kPendingRegistration, VersionStatus::kReady,
                          VersionStatus::kFailedRegistration}) {
    if (s == VersionStatusName(v)) return v;
  }
  return InvalidArgumentError("unknown model version status " + Quote(s) +
                              " (expected PENDING_REGISTRATION, READY or FAILED_REGISTRATION)");
}

Json Lineage::ToJson() const {
  return Json{
      {"job_id", job_id}, {"code_digest", code_digest},         {"image_digest", image_digest},
      {"inputs", inputs}, {"hyperparameters", hyperparameters}, {"metrics", metrics}};
}

StatusOr<Lineage> Lineage::FromJson(const Json& j) {
  Lineage l;
  if (j.is_null()) return l;
  if (!j.is_object()) return InvalidArgumentError("lineage must be a JSON object");
  ASSIGN_OR_RETURN(l.job_id, GetStringOr(j, "job_id", ""));
  ASSIGN_OR_RETURN(l.code_digest, GetStringOr(j, "code_digest", ""));
  ASSIGN_OR_RETURN(l.image_digest, GetStringOr(j, "image_digest", ""));
  ASSIGN_OR_RETURN(l.inputs, GetMap<std::string>(j, "inputs"));
  ASSIGN_OR_RETURN(l.hyperparameters, GetMap<std::string>(j, "hyperparameters"));
  ASSIGN_OR_RETURN(l.metrics, GetMap<double>(j, "metrics"));
  return l;
}

Json RegisteredModel::ToJson() const {
  Json a = Json::array();
  for (const auto& [alias, version] : aliases)
    a.push_back({{"alias", alias}, {"version", version}});
  return Json{{"name", name},
              {"description", description},
              {"owner_team", owner_team},
              {"tags", tags},
              {"aliases", a},
              {"latest_version", latest_version},
              {"creation_timestamp", created_micros / 1000},
              {"last_updated_timestamp", updated_micros / 1000}};
}

Json ModelVersion::ToJson() const {
  return Json{{"name", name},
              {"version", std::to_string(version)},
              {"source", source},
              {"status", VersionStatusName(status)},
              {"status_message", status_message},
              {"lineage", lineage.ToJson()},
              {"signature", signature},
              {"description", description},
              {"tags", tags},
              {"run_id", run_id},
              {"user_id", creator},
              {"aliases", aliases},
              {"creation_timestamp", created_micros / 1000},
              {"last_updated_timestamp", updated_micros / 1000}};
}

namespace {

Status CheckVersionNumber(std::string_view name, int64_t v) {
  if (v > 0) return OkStatus();
  return InvalidArgumentError("invalid version " + std::to_string(v) + " of model '" +
                              std::string(name) + "': versions are positive integers");
}

Status CheckTags(const std::map<std::string, std::string>& tags) {
  for (const auto& [k, v] : tags) RETURN_IF_ERROR(ValidateTag(k, v));
  return OkStatus();
}

Status CheckMaxResults(int max_results) {
  if (max_results >= 0 && max_results <= kMaxPageResults) return OkStatus();
  return InvalidArgumentError("max_results must be between 1 and " +
                              std::to_string(kMaxPageResults) + ", got " +
                              std::to_string(max_results));
}

Status CheckVersion(std::string_view name, int64_t version) {
  RETURN_IF_ERROR(ValidateModelName(name));
  return CheckVersionNumber(name, version);
}

}  // namespace

StatusOr<RegisteredModel> ModelRegistry::CreateModel(const CreateModelRequest& req) {
  RETURN_IF_ERROR(ValidateModelName(req.name));
  RETURN_IF_ERROR(CheckTags(req.tags));
  return DoCreateModel(req);
}

StatusOr<RegisteredModel> ModelRegistry::GetModel(std::string_view name) {
  RETURN_IF_ERROR(ValidateModelName(name));
  return DoGetModel(name);
}

StatusOr<RegisteredModel> ModelRegistry::UpdateModel(std::string_view name,
                                                     const UpdateModelRequest& req) {
  RETURN_IF_ERROR(ValidateModelName(name));
  return DoUpdateModel(name, req);
}

Status ModelRegistry::DeleteModel(std::string_view name) {
  RETURN_IF_ERROR(ValidateModelName(name));
  return DoDeleteModel(name);
}

StatusOr<Page<RegisteredModel>> ModelRegistry::SearchModels(const ModelSearch& search) {
  RETURN_IF_ERROR(CheckMaxResults(search.max_results));
  RETURN_IF_ERROR(CheckTags(search.tags));
  return DoSearchModels(search);
}

StatusOr<ModelVersion> ModelRegistry::CreateVersion(const CreateVersionRequest& req) {
  RETURN_IF_ERROR(ValidateModelName(req.name));
  RETURN_IF_ERROR(ValidateSource(req.source));
  RETURN_IF_ERROR(CheckTags(req.tags));
  if (!req.signature.is_object()) {
    return InvalidArgumentError("signature of a version of model '" + req.name +
                                "' must be a JSON object");
  }
  for (const bus::Event& e : req.also_publish) {
    if (e.id.empty() || e.source.empty() || e.detail_type.empty()) {
      return InvalidArgumentError("an event created with a version of model '" + req.name +
                                  "' needs an id, a source and a detail-type");
    }
  }
  return DoCreateVersion(req);
}

StatusOr<ModelVersion> ModelRegistry::GetVersion(std::string_view name, int64_t version) {
  RETURN_IF_ERROR(CheckVersion(name, version));
  return DoGetVersion(name, version);
}

StatusOr<ModelVersion> ModelRegistry::UpdateVersionStatus(std::string_view name, int64_t version,
                                                          VersionStatus status,
                                                          std::string_view status_message) {
  RETURN_IF_ERROR(CheckVersion(name, version));
  return DoUpdateVersionStatus(name, version, status, status_message);
}

StatusOr<ModelVersion> ModelRegistry::UpdateVersionDescription(std::string_view name,
                                                               int64_t version,
                                                               std::string_view description) {
  RETURN_IF_ERROR(CheckVersion(name, version));
  return DoUpdateVersionDescription(name, version, description);
}

Status ModelRegistry::DeleteVersion(std::string_view name, int64_t version) {
  RETURN_IF_ERROR(CheckVersion(name, version));
  return DoDeleteVersion(name, version);
}

StatusOr<Page<ModelVersion>> ModelRegistry::SearchVersions(std::string_view name,
                                                           const VersionSearch& search) {
  RETURN_IF_ERROR(ValidateModelName(name));
  RETURN_IF_ERROR(CheckMaxResults(search.max_results));
  return DoSearchVersions(name, search);
}

StatusOr<ModelVersion> ModelRegistry::SetAlias(std::string_view name, std::string_view alias,
                                               int64_t version) {
  RETURN_IF_ERROR(ValidateModelName(name));
  RETURN_IF_ERROR(ValidateAlias(alias));
  RETURN_IF_ERROR(CheckVersionNumber(name, version));
  return DoSetAlias(name, alias, version);
}

Status ModelRegistry::DeleteAlias(std::string_view name, std::string_view alias) {
  RETURN_IF_ERROR(ValidateModelName(name));
  RETURN_IF_ERROR(ValidateAlias(alias));
  return DoDeleteAlias(name, alias);
}

StatusOr<ModelVersion> ModelRegistry::GetVersionByAlias(std::string_view name,
                                                        std::string_view alias) {
  RETURN_IF_ERROR(ValidateModelName(name));
  RETURN_IF_ERROR(ValidateAlias(alias));
  return DoGetVersionByAlias(name, alias);
}

StatusOr<ModelVersion> ModelRegistry::Resolve(const ModelRef& ref) {
  RETURN_IF_ERROR(ValidateModelName(ref.name));
  return DoResolve(ref);
}

StatusOr<ModelVersion> ModelRegistry::Resolve(std::string_view ref) {
  ASSIGN_OR_RETURN(ModelRef parsed, ParseModelRef(ref));
  return Resolve(parsed);
}

Status ModelRegistry::SetModelTag(std::string_view name, std::string_view key,
                                  std::string_view value) {
  RETURN_IF_ERROR(ValidateModelName(name));
  RETURN_IF_ERROR(ValidateTag(key, value));
  return DoSetModelTag(name, key, value);
}

Status ModelRegistry::DeleteModelTag(std::string_view name, std::string_view key) {
  RETURN_IF_ERROR(ValidateModelName(name));
  RETURN_IF_ERROR(ValidateTag(key, ""));
  return DoDeleteModelTag(name, key);
}

Status ModelRegistry::SetVersionTag(std::string_view name, int64_t version, std::string_view key,
                                    std::string_view value) {
  RETURN_IF_ERROR(CheckVersion(name, version));
  RETURN_IF_ERROR(ValidateTag(key, value));
  return DoSetVersionTag(name, version, key, value);
}

Status ModelRegistry::DeleteVersionTag(std::string_view name, int64_t version,
                                       std::string_view key) {
  RETURN_IF_ERROR(CheckVersion(name, version));
  RETURN_IF_ERROR(ValidateTag(key, ""));
  return DoDeleteVersionTag(name, version, key);
}

}  // namespace tandem::registry
