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
// Admission is atomic per team: a handler takes Admit(team) before checking
// and holds it until the work is created, so N concurrent requests of one
// team cannot together exceed its quota. Within a control plane that is a
// mutex per team; with a database (UseDatabase) also the team's lock in it
// (sql/locks.h: a PostgreSQL advisory lock, an flock beside a SQLite file),
// so control planes sharing the database admit one team's work one at a time.
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
#include "glue/sql/locks.h"

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

  // Admissions across the control planes sharing `db` (not owned; must
  // outlive the admissions). nullptr: within this process only.
  void UseDatabase(sql::Database* db) { db_ = db; }

  // `team`'s admission lock (its OwningTeam), held until destroyed or unlock().
  class Admission {
   public:
    Admission() = default;
    Admission(Admission&&) = default;
    Admission& operator=(Admission&&) = default;
    ~Admission() { unlock(); }
    bool owns_lock() const { return local_.owns_lock(); }
    void unlock() {
      shared_.reset();  // the inner lock first
      if (local_.owns_lock()) local_.unlock();
    }

   private:
    friend class Quotas;
    std::unique_lock<std::mutex> local_;
    std::unique_ptr<sql::HeldLock> shared_;
  };
  // Takes `team`'s admission lock: take it before the checks below and keep
  // it until the work is created. Waits for other admissions of the team (in
  // this process, then in the database); Unavailable if the database cannot
  // be reached (nothing is admitted then).
  StatusOr<Admission> Admit(const std::string& team) const;

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
  sql::Database* db_ = nullptr;
};

}  // namespace tandem::api
