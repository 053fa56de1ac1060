#include "api/owners.h"

#include "api/api_routes.h"
#include "api/registry_paths.h"
#include "api/rest.h"
#include "compute/jobs/service.h"
#include "compute/notebooks/service.h"
#include "compute/transform/spec.h"
#include "compute/tuning/service.h"
#include "glue/images/reference.h"
#include "serving/fleet/fleet.h"

namespace tandem::api {
namespace {

using Teams = std::vector<std::string>;

std::string Param(const http::Request& req, const char* name) {
  auto it = req.path_params.find(name);
  return it == req.path_params.end() ? "" : it->second;
}

// The model's owner; a model that does not exist yet -> `missing`.
StatusOr<Teams> ModelTeams(registry::ModelRegistry* reg, const std::string& name, Teams missing) {
  auto model = reg->GetModel(name);
  if (model.ok()) return Teams{OwningTeam(model->owner_team)};
  if (model.status().code() == StatusCode::kNotFound) return missing;
  return model.status();
}

StatusOr<Teams> WithModelOwner(const Services& s, std::string team,
                               const std::optional<compute::jobs::RegisterSpec>& reg) {
  Teams out = {OwningTeam(team)};
  if (!reg) return out;
  ASSIGN_OR_RETURN(Teams model, ModelTeams(s.registry, reg->model, {}));
  out.insert(out.end(), model.begin(), model.end());
  return out;
}

// The owners of object keys: teams/<t>/… is t's, models/… the model's,
// jobs/<id>/… the job's, notebooks/… the notebook's (access.h KeyOwners).
KeyOwnerLookup KeyLookup(const Services& s) {
  return [s](const std::string& kind, const std::string& id) -> StatusOr<Teams> {
    if (kind == "models") return ModelTeams(s.registry, id, {kAnyTeam});
    if (kind == "jobs") {
      auto job = s.jobs->Get(id);
      if (job.ok()) return Teams{OwningTeam(job->spec.team)};
      if (job.status().code() == StatusCode::kNotFound) return Teams{kAdminOnly};
      return job.status();
    }
    auto nb = s.notebooks->Get(id);
    if (nb.ok()) return Teams{OwningTeam(nb->team)};
    if (nb.status().code() == StatusCode::kNotFound) return Teams{kAdminOnly};
    return nb.status();
  };
}

// A job reads and writes its checkpoint prefix: the caller needs the role
// in the prefix's owner too (a prefix no team owns is for admins).
Status AddCheckpointOwner(const Services& s, const std::optional<compute::jobs::CheckpointSpec>& c,
                          Teams& out) {
  if (!c) return OkStatus();
  ASSIGN_OR_RETURN(Teams owners, KeyOwners(c->key_prefix + "/", KeyLookup(s)));
  out.insert(out.end(), owners.begin(), owners.end());
  return OkStatus();
}

}  // namespace

TeamsOf JobOwner(const Services& s) {
  return [jobs = s.jobs](const http::Request& req) -> StatusOr<Teams> {
    ASSIGN_OR_RETURN(auto job, jobs->Get(Param(req, "id")));
    return Teams{OwningTeam(job.spec.team)};
  };
}

Status CheckImageReadable(const Services& s, const http::Request& req, const std::string& image) {
  if (image.empty() || req.Header(kAdminHeader) == "true" || s.identity == nullptr) {
    return OkStatus();
  }
  auto ref = images::ParseReference(image);
  if (!ref.ok()) return OkStatus();
  const std::string team = RepositoryTeam(ref->repository);
  ASSIGN_OR_RETURN(auth::Principal who, CallerOf(req));
  if (who.RoleIn(team) < auth::Role::kViewer) {
    return PermissionDeniedError("'" + who.name + "' needs the viewer role in team '" + team +
                                 "' to run image '" + image + "'");
  }
  return OkStatus();
}

TeamsOf JobSpecOwner(const Services& s) {
  return [s](const http::Request& req) -> StatusOr<Teams> {
    ASSIGN_OR_RETURN(Json body, JsonBody(req));
    ASSIGN_OR_RETURN(auto spec, compute::jobs::JobSpec::FromJson(body));
    ASSIGN_OR_RETURN(Teams out, WithModelOwner(s, spec.team, spec.register_model));
    RETURN_IF_ERROR(AddCheckpointOwner(s, spec.checkpoint, out));
    return out;
  };
}

TeamsOf TransformSpecOwner(const Services&) {
  return [](const http::Request& req) -> StatusOr<Teams> {
    ASSIGN_OR_RETURN(Json body, JsonBody(req));
    ASSIGN_OR_RETURN(auto spec, compute::transform::TransformSpec::FromJson(body));
    return Teams{OwningTeam(spec.team)};
  };
}

TeamsOf TuningOwner(const Services& s) {
  return [tuning = s.tuning](const http::Request& req) -> StatusOr<Teams> {
    ASSIGN_OR_RETURN(auto r, tuning->Get(Param(req, "name")));
    return Teams{OwningTeam(r.team)};
  };
}

TeamsOf TuningSpecOwner(const Services& s) {
  return [s](const http::Request& req) -> StatusOr<Teams> {
    ASSIGN_OR_RETURN(Json body, JsonBody(req));
    ASSIGN_OR_RETURN(auto spec, compute::tuning::TuningSpec::FromJson(body));
    ASSIGN_OR_RETURN(Teams out, WithModelOwner(s, spec.training_job.team, spec.register_best));
    RETURN_IF_ERROR(AddCheckpointOwner(s, spec.training_job.checkpoint, out));
    return out;
  };
}

TeamsOf NotebookOwner(const Services& s) {
  return [nb = s.notebooks](const http::Request& req) -> StatusOr<Teams> {
    ASSIGN_OR_RETURN(auto r, nb->Get(Param(req, "name")));
    return Teams{OwningTeam(r.team)};
  };
}

TeamsOf NotebookStartOwner(const Services& s) {
  return [nb = s.notebooks](const http::Request& req) -> StatusOr<Teams> {
    ASSIGN_OR_RETURN(Json body, JsonBody(req));
    ASSIGN_OR_RETURN(std::string team, GetStringOr(body, "team", kDefaultTeam));
    Teams out = {OwningTeam(team)};
    auto existing = nb->Get(body.value("name", ""));
    if (existing.ok()) out.push_back(OwningTeam(existing->team));
    return out;
  };
}

TeamsOf DeploymentOwner(const Services& s) {
  return [fleet = s.fleet](const http::Request& req) -> StatusOr<Teams> {
    if (fleet == nullptr) return UnavailableError("the serving fleet is not running");
    ASSIGN_OR_RETURN(auto st, fleet->Get(Param(req, "name")));
    return Teams{OwningTeam(st.spec.team)};
  };
}

TeamsOf DeploymentSpecOwner(const Services& s) {
  return [fleet = s.fleet](const http::Request& req) -> StatusOr<Teams> {
    if (fleet == nullptr) return UnavailableError("the serving fleet is not running");
    ASSIGN_OR_RETURN(Json body, JsonBody(req));
    ASSIGN_OR_RETURN(auto spec, serving::fleet::DeploymentSpecFromJson(body));
    Teams out = {OwningTeam(spec.team)};
    auto existing = fleet->Get(spec.name);
    if (existing.ok()) out.push_back(OwningTeam(existing->spec.team));
    return out;
  };
}

TeamsOf ModelOwner(const Services& s, bool body_team) {
  return [reg = s.registry, body_team](const http::Request& req) -> StatusOr<Teams> {
    std::string name = Param(req, "name");
    if (!body_team) {
      ASSIGN_OR_RETURN(Teams owner, ModelTeams(reg, name, {}));
      if (owner.empty()) return NotFoundError("model '" + name + "' not found");
      return owner;
    }
    ASSIGN_OR_RETURN(Json body, JsonBody(req));
    Teams out;
    if (name.empty()) name = body.value("name", "");  // POST /models
    if (!name.empty()) {
      ASSIGN_OR_RETURN(out, ModelTeams(reg, name, {}));
    }
    // A new model's team, or the team a model moves to.
    if (out.empty() || body.contains("owner_team")) {
      ASSIGN_OR_RETURN(std::string team, GetStringOr(body, "owner_team", ""));
      out.push_back(OwningTeam(team));
    }
    return out;
  };
}

Status CheckSpecKey(const Services& s, const http::Request& req, const std::string& value,
                    Role role, const std::string& what) {
  if (value.empty() || value.starts_with("sha256:") || value.starts_with("/") ||
      value.find("://") != std::string::npos) {
    return OkStatus();  // digests are content-addressed; local paths: LocalPathPolicy
  }
  if (req.Header(kAdminHeader) == "true") return OkStatus();
  std::string key = value;
  while (key.ends_with("/")) key.pop_back();
  ASSIGN_OR_RETURN(Teams teams, KeyOwners(key, KeyLookup(s)));
  ASSIGN_OR_RETURN(auth::Principal p, CallerOf(req));
  Status ok = Authorize(p, Access::Team(role, nullptr), teams);
  if (!ok.ok()) {
    return PermissionDeniedError(what + " '" + value + "': " + std::string(ok.message()) +
                                 " (the artifact rules of docs/security.md)");
  }
  return OkStatus();
}

StatusOr<ListScope> ListScope::Of(const Services& s, const http::Request& req) {
  ListScope scope;
  if (req.Header(kAdminHeader) == "true") {
    scope.admin_ = true;
    return scope;
  }
  ASSIGN_OR_RETURN(auth::Principal p, CallerOf(req));
  for (const auto& [team, role] : p.teams) {
    if (role >= Role::kViewer) scope.teams_.push_back(team);
  }
  return scope;
}

bool ListScope::Sees(const std::string& team) const {
  if (admin_) return true;
  const std::string owner = OwningTeam(team);
  for (const std::string& t : teams_) {
    if (t == owner) return true;
  }
  return false;
}

Status CheckJobSpecKeys(const Services& s, const http::Request& req,
                        const compute::jobs::JobSpec& spec, const std::string& field) {
  RETURN_IF_ERROR(CheckSpecKey(s, req, spec.source_dir, Role::kViewer, field + "source_dir"));
  for (const auto& [channel, value] : spec.inputs) {
    RETURN_IF_ERROR(CheckSpecKey(s, req, value, Role::kViewer, field + "inputs." + channel));
  }
  return CheckSpecKey(s, req, spec.publish_prefix, Role::kMember, field + "publish_prefix");
}

TeamsOf ArtifactOwner(const Services& s, bool from_prefix) {
  KeyOwnerLookup lookup = KeyLookup(s);
  return [lookup, from_prefix](const http::Request& req) -> StatusOr<Teams> {
    return KeyOwners(from_prefix ? req.Query("prefix") : Param(req, "key"), lookup);
  };
}

TeamsOf TeamParam() {
  return [](const http::Request& req) -> StatusOr<Teams> { return Teams{Param(req, "team")}; };
}

TeamsOf AnyTeam() {
  return [](const http::Request&) -> StatusOr<Teams> { return Teams{kAnyTeam}; };
}

}  // namespace tandem::api
