#include "api/quotas.h"

#include <sstream>

#include "api/access.h"
#include "common/spec_fields.h"
#include "compute/jobs/service.h"
#include "compute/notebooks/service.h"
#include "serving/fleet/fleet.h"

namespace tandem::api {
namespace {

std::string Number(double v) {
  std::ostringstream out;
  out << v;
  return out.str();
}

// Keys of one quota mapping; `base` fills what it does not set.
StatusOr<TeamQuota> ReadQuota(const Json& v, const std::string& path, TeamQuota base) {
  if (!v.is_object()) return InvalidArgumentError(path + " must be a mapping");
  RETURN_IF_ERROR(spec::CheckKnown(v, path + ".",
                                   {"job_cpus", "replicas", "notebooks", "spend_budget",
                                    "budget_period", "budget_enforce"}));
  if (v.contains("budget_period")) {
    ASSIGN_OR_RETURN(base.budget_period, spec::OneOf(v["budget_period"], path + ".budget_period",
                                                     {"month", "day", "total"}));
  }
  if (v.contains("budget_enforce")) {
    if (!v["budget_enforce"].is_boolean()) {
      return InvalidArgumentError(path + ".budget_enforce must be true or false");
    }
    base.budget_enforce = v["budget_enforce"].get<bool>();
  }
  for (const auto& [key, value] : v.items()) {
    if (key == "budget_period" || key == "budget_enforce") continue;
    if (!value.is_number() || value.get<double>() < 0) {
      return InvalidArgumentError(path + "." + key + " must be a number >= 0 (0: no limit)");
    }
  }
  if (v.contains("job_cpus")) base.job_cpus = v["job_cpus"].get<double>();
  if (v.contains("replicas")) base.replicas = static_cast<int64_t>(v["replicas"].get<double>());
  if (v.contains("notebooks")) base.notebooks = static_cast<int64_t>(v["notebooks"].get<double>());
  if (v.contains("spend_budget")) base.spend_budget = v["spend_budget"].get<double>();
  return base;
}

Status Over(const std::string& team, const std::string& quota, const std::string& limit,
            const std::string& in_use, const std::string& asked) {
  return ResourceExhaustedError("team '" + team + "' quota: at most " + limit + " " + quota + " (" +
                                in_use + " in use, this request asks " + asked +
                                "); stop something first or ask an administrator to raise "
                                "quotas in tandem.yaml");
}

}  // namespace

StatusOr<Quotas> Quotas::FromConfig(const Config& config) {
  Quotas q;
  ASSIGN_OR_RETURN(Json section, spec::Section(config.raw, "quotas"));
  RETURN_IF_ERROR(
      spec::CheckKnown(section, "quotas.", {"default", "teams", "budget_check_seconds"}));
  if (section.contains("budget_check_seconds")) {
    ASSIGN_OR_RETURN(q.budget_check_seconds_,
                     spec::Integer(section["budget_check_seconds"], "quotas.budget_check_seconds",
                                   1, 86400));
  }
  if (section.contains("default")) {
    ASSIGN_OR_RETURN(q.default_, ReadQuota(section["default"], "quotas.default", {}));
  }
  if (section.contains("teams")) {
    if (!section["teams"].is_object()) {
      return InvalidArgumentError("quotas.teams must be a mapping of team -> quota");
    }
    for (const auto& [team, v] : section["teams"].items()) {
      ASSIGN_OR_RETURN(q.teams_[team], ReadQuota(v, "quotas.teams." + team, q.default_));
    }
  }
  return q;
}

TeamQuota Quotas::For(const std::string& team) const {
  auto it = teams_.find(team);
  return it == teams_.end() ? default_ : it->second;
}

StatusOr<Quotas::Admission> Quotas::Admit(const std::string& team_in) const {
  const std::string team = OwningTeam(team_in);
  std::mutex* mu;
  {
    std::lock_guard<std::mutex> lock(locks_->mu);
    auto& slot = locks_->teams[team];
    if (slot == nullptr) slot = std::make_unique<std::mutex>();
    mu = slot.get();
  }
  Admission a;
  a.local_ = std::unique_lock<std::mutex>(*mu);
  if (db_ != nullptr) {
    // One waiter per team and process reaches the database lock (the mutex
    // above is held), so a connection waits there per team at most.
    auto shared = sql::HoldLock(*db_, "quota-admission:" + team, /*wait=*/true);
    if (!shared.ok()) {
      return UnavailableError("cannot take team '" + team + "' admission lock: " +
                              std::string(shared.status().message()));
    }
    a.shared_ = *std::move(shared);
  }
  return a;
}

Status Quotas::CheckJobCpus(compute::jobs::JobService& jobs, const std::string& team_in,
                            double cpus, int parallel) const {
  const std::string team = OwningTeam(team_in);
  const TeamQuota q = For(team);
  if (q.job_cpus <= 0) return OkStatus();
  double used = 0;
  using compute::jobs::JobState;
  for (JobState state :
       {JobState::kPending, JobState::kStarting, JobState::kRunning, JobState::kStopping}) {
    compute::jobs::JobFilter f;
    f.state = state;
    f.team = team;
    f.max_results = 1000;
    do {
      ASSIGN_OR_RETURN(compute::jobs::JobPage page, jobs.List(f));
      for (const auto& j : page.jobs) used += j.spec.resources.cpus;
      f.page_token = page.next_page_token;
    } while (!f.page_token.empty());
  }
  const double asked = cpus * parallel;
  if (used + asked <= q.job_cpus + 1e-9) return OkStatus();
  return Over(team, "concurrent job CPUs", Number(q.job_cpus), Number(used),
              parallel > 1 ? Number(asked) + " (" + std::to_string(parallel) + " parallel trials)"
                           : Number(asked));
}

Status Quotas::CheckReplicas(serving::fleet::Fleet& fleet,
                             const serving::fleet::DeploymentSpec& spec) const {
  const std::string team = OwningTeam(spec.team);
  const TeamQuota q = For(team);
  if (q.replicas <= 0) return OkStatus();
  int64_t used = 0;
  for (const auto& d : fleet.List()) {
    if (d.spec.name != spec.name && OwningTeam(d.spec.team) == team) used += d.spec.max_replicas;
  }
  if (used + spec.max_replicas <= q.replicas) return OkStatus();
  return Over(team, "serving replicas", std::to_string(q.replicas), std::to_string(used),
              std::to_string(spec.max_replicas) + " (replicas.max)");
}

Status Quotas::CheckNotebooks(compute::notebooks::NotebookService& notebooks,
                              const std::string& team_in, const std::string& name) const {
  const std::string team = OwningTeam(team_in);
  const TeamQuota q = For(team);
  if (q.notebooks <= 0) return OkStatus();
  ASSIGN_OR_RETURN(auto list, notebooks.List(team));
  int64_t used = 0;
  for (const auto& n : list) {
    if (n.name != name && compute::notebooks::IsActive(n.state)) ++used;
  }
  if (used + 1 <= q.notebooks) return OkStatus();
  return Over(team, "notebooks", std::to_string(q.notebooks), std::to_string(used), "1");
}

}  // namespace tandem::api
