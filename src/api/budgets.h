// Per-team spend budgets (docs/security.md "Spend budgets"), set with the
// quotas (quotas.h):
//
//   quotas:
//     default: {spend_budget: 100, budget_period: month}     # every team
//     teams:
//       fraud: {spend_budget: 500, budget_enforce: true}
//
// A team's spend is the metered cost of its jobs (training, tuning trials,
// transform; what /api/v1/metering/teams reports) that ended in the current
// period: the UTC calendar month, the UTC day, or all time (`total`). When
// it reaches the budget, the event `tandem.quotas` / "Budget Threshold
// Crossed" is published once per team and period (a row of
// api_budget_alerts in the metadata database decides, so a restart or a
// second control plane does not repeat it), and with `budget_enforce: true`
// new work of the team (jobs, tuning jobs, transforms, notebooks) is
// refused with 429 RESOURCE_EXHAUSTED naming the budget until the period
// ends or an administrator raises it. Checked at every admission and by a
// sweep every `interval` (so the event comes even when nothing is submitted).
//
// Thread-safety: thread-safe.
#pragma once

#include <memory>
#include <string>
#include <thread>

#include "absl/synchronization/notification.h"
#include "api/quotas.h"
#include "common/clock.h"
#include "common/status.h"
#include "glue/bus/event_bus.h"
#include "glue/sql/database.h"

namespace tandem::compute::jobs {
class JobService;
}

namespace tandem::api {

// The start (micros since the epoch, UTC) of the period holding `now_micros`:
// "month", "day" or "total" (0).
int64_t BudgetPeriodStart(const std::string& period, int64_t now_micros);

class Budgets {
 public:
  // Migrates api_budget_alerts. All must outlive the Budgets; `bus` may be
  // null (no events).
  static StatusOr<std::unique_ptr<Budgets>> Open(const Quotas& quotas, sql::Database& db,
                                                 bus::EventBus* bus,
                                                 compute::jobs::JobService& jobs, Clock& clock);
  ~Budgets();

  // Publishes the crossing event if due; ResourceExhausted if the team's
  // budget is reached and enforced. OK for teams without a budget.
  Status Check(const std::string& team);
  // Check for every team that has jobs and a budget (errors are logged).
  void Sweep();
  // Sweeps every `interval_ms` on a thread of its own until StopSweeping
  // (or destruction). Once only.
  void StartSweeping(int64_t interval_ms);
  void StopSweeping();

 private:
  Budgets(const Quotas& quotas, sql::Database& db, bus::EventBus* bus,
          compute::jobs::JobService& jobs, Clock& clock)
      : quotas_(quotas), db_(db), bus_(bus), jobs_(jobs), clock_(clock) {}
  // Records the crossing for (team, period_start); true if it is new.
  StatusOr<bool> FirstCrossing(const std::string& team, int64_t period_start, double spend);

  const Quotas& quotas_;
  sql::Database& db_;
  bus::EventBus* bus_;
  compute::jobs::JobService& jobs_;
  Clock& clock_;
  absl::Notification stop_;
  std::thread sweeper_;
};

}  // namespace tandem::api
