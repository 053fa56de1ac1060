// Per-team quotas (docs/security.md "Quotas"), checked when work is admitted:
//
//   # tandem.yaml
//   quotas:
//     default: {job_cpus: 8, replicas: 4, notebooks: 2}   # teams without their own
//     teams:
//       fraud: {job_cpus: 32}          # unset keys fall back to `default`
//
// job_cpus    CPUs (resources.cpus) of the team's Pending, Starting, Running
//             and Stopping jobs together, the new one included (a tuning job
//             counts max_parallel_jobs trials)
// replicas    the team's deployments' max replicas together
// notebooks   the team's notebooks not stopped
// spend_budget, budget_period, budget_enforce: see api/budgets.h.
// Absent or 0: no limit. A request over a quota is 429 RESOURCE_EXHAUSTED
// naming the team, the quota, what is in use and what was asked; it creates
// nothing.
//
// Admission is atomic per team within a control plane: a handler takes
// Admit(team) before checking and holds it until the work is created, so N
// concurrent requests of one team cannot together exceed its quota (two
// control planes sharing a database each hold their own lock).
//
// Thread-safety: the limits are immutable after FromConfig; Admit is
// thread-safe; the checks are thread-safe when the services are.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "common/config.h"
#include "common/status.h"

namespace tandem::compute::jobs {
class JobService;
}
namespace tandem::compute::notebooks {
class NotebookService;
}
namespace tandem::serving::fleet {
class Fleet;
struct DeploymentSpec;
}  // namespace tandem::serving::fleet

namespace tandem::api {

struct TeamQuota {
  double job_cpus = 0;  // 0 = no limit
  int64_t replicas = 0;
  int64_t notebooks = 0;
  // Spend budget (api/budgets.h): metered cost per period; 0 = none.
  double spend_budget = 0;
  std::string budget_period = "month";  // month | day | total (UTC)
  bool budget_enforce = false;          // refuse new work (429) once reached
};

class Quotas {
 public:
  // The `quotas:` section (absent: no limits). Unknown keys and values that
  // are not non-negative numbers are InvalidArgument naming them.
  static StatusOr<Quotas> FromConfig(const Config& config);

  TeamQuota For(const std::string& team) const;
  // How often budgets are swept (`quotas.budget_check_seconds`, default 60).
  int64_t budget_check_seconds() const { return budget_check_seconds_; }

  // Holds `team`'s admission lock (its OwningTeam) until destroyed: take it
  // before the checks below and keep it until the work is created.
  using Admission = std::unique_lock<std::mutex>;
  Admission Admit(const std::string& team) const;

  // A new job (or `parallel` trials) of `cpus` each for `team`.
  Status CheckJobCpus(compute::jobs::JobService& jobs, const std::string& team, double cpus,
                      int parallel = 1) const;
  // Applying `spec` (replacing the deployment of the same name, if any).
  Status CheckReplicas(serving::fleet::Fleet& fleet, const serving::fleet::DeploymentSpec& spec) const;
  // Starting notebook `name` of `team` (restarting one counts once).
  Status CheckNotebooks(compute::notebooks::NotebookService& notebooks, const std::string& team,
                        const std::string& name) const;

 private:
  TeamQuota default_;
  int64_t budget_check_seconds_ = 60;
  std::map<std::string, TeamQuota> teams_;
  // One mutex per team, made on first use and kept (teams are few).
  struct Locks {
    std::mutex mu;
    std::map<std::string, std::unique_ptr<std::mutex>> teams;
  };
  std::shared_ptr<Locks> locks_ = std::make_shared<Locks>();
};

}  // namespace tandem::api
