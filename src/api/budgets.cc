#include "api/budgets.h"

#include <ctime>
#include <sstream>

#include "api/access.h"
#include "common/log.h"
#include "compute/jobs/service.h"
#include "glue/bus/event_types.h"

namespace tandem::api {
namespace {

std::vector<sql::Migration> Migrations() {
  return {{1, "budget_alerts",
           "CREATE TABLE api_budget_alerts (team TEXT NOT NULL, period_start BIGINT NOT NULL, "
           "spend DOUBLE PRECISION NOT NULL, budget DOUBLE PRECISION NOT NULL, "
           "created_micros BIGINT NOT NULL, PRIMARY KEY (team, period_start))"}};
}

std::string Money(double v) {
  std::ostringstream out;
  out.precision(2);
  out << std::fixed << v;
  return out.str();
}

}  // namespace

int64_t BudgetPeriodStart(const std::string& period, int64_t now_micros) {
  if (period == "total") return 0;
  std::time_t secs = static_cast<std::time_t>(now_micros / 1'000'000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
  if (period == "month") tm.tm_mday = 1;
  return static_cast<int64_t>(timegm(&tm)) * 1'000'000;
}

StatusOr<std::unique_ptr<Budgets>> Budgets::Open(const Quotas& quotas, sql::Database& db,
                                                 bus::EventBus* bus,
                                                 compute::jobs::JobService& jobs, Clock& clock) {
  RETURN_IF_ERROR(db.Migrate("api_budgets", Migrations()));
  return std::unique_ptr<Budgets>(new Budgets(quotas, db, bus, jobs, clock));
}

Budgets::~Budgets() { StopSweeping(); }

void Budgets::StopSweeping() {
  if (sweeper_.joinable()) {
    stop_.Notify();
    sweeper_.join();
  }
}

StatusOr<bool> Budgets::FirstCrossing(const std::string& team, int64_t period_start,
                                      double spend) {
  bool inserted = false;
  RETURN_IF_ERROR(db_.WithTransaction([&](sql::Transaction& tx) -> Status {
    inserted = false;
    ASSIGN_OR_RETURN(auto rows, tx.Query("SELECT 1 FROM api_budget_alerts "
                                         "WHERE team = ? AND period_start = ?",
                                         {team, period_start}));
    if (!rows.empty()) return OkStatus();
    const TeamQuota q = quotas_.For(team);
    RETURN_IF_ERROR(tx.Exec("INSERT INTO api_budget_alerts (team, period_start, spend, budget, "
                            "created_micros) VALUES (?, ?, ?, ?, ?)",
                            {team, period_start, spend, q.spend_budget, clock_.NowMicros()})
                        .status());
    inserted = true;
    return OkStatus();
  }));
  return inserted;
}

Status Budgets::Check(const std::string& team_in) {
  const std::string team = OwningTeam(team_in);
  const TeamQuota q = quotas_.For(team);
  if (q.spend_budget <= 0) return OkStatus();
  const int64_t start = BudgetPeriodStart(q.budget_period, clock_.NowMicros());
  ASSIGN_OR_RETURN(double spend, jobs_.TeamCostSince(team, start));
  if (spend + 1e-9 < q.spend_budget) return OkStatus();
  ASSIGN_OR_RETURN(bool first, FirstCrossing(team, start, spend));
  if (first && bus_ != nullptr) {
    Json detail = {{"team", team},
                   {"budget", q.spend_budget},
                   {"spend", spend},
                   {"period", q.budget_period},
                   {"period_start", FormatRfc3339(start)},
                   {"enforce", q.budget_enforce}};
    auto published = bus_->Publish(bus::MakeEvent(clock_, std::string(bus::events::kQuotasSource),
                                                  std::string(bus::events::kBudgetThresholdCrossed),
                                                  detail, {"team/" + team}));
    if (!published.ok()) {
      LogWarn("budget event not published",
              {{"team", team}, {"error", std::string(published.status().message())}});
    }
  }
  if (!q.budget_enforce) return OkStatus();
  const std::string since =
      q.budget_period == "total" ? "in total" : "this " + q.budget_period + " (since " +
                                                    FormatRfc3339(start) + ")";
  return ResourceExhaustedError("team '" + team + "' spend budget: " + Money(spend) + " spent of " +
                                Money(q.spend_budget) + " " + since +
                                "; new work is refused until the period ends or an "
                                "administrator raises quotas.*.spend_budget in tandem.yaml");
}

void Budgets::Sweep() {
  auto spend = jobs_.SpendByTeam();
  if (!spend.ok()) {
    LogWarn("budget sweep failed", {{"error", std::string(spend.status().message())}});
    return;
  }
  for (const auto& t : *spend) {
    Status s = Check(t.team);
    if (!s.ok() && s.code() != StatusCode::kResourceExhausted) {
      LogWarn("budget check failed", {{"team", t.team}, {"error", std::string(s.message())}});
    }
  }
}

void Budgets::StartSweeping(int64_t interval_ms) {
  if (sweeper_.joinable() || stop_.HasBeenNotified()) return;
  sweeper_ = std::thread([this, interval_ms] {
    while (!stop_.WaitForNotificationWithTimeout(absl::Milliseconds(interval_ms))) Sweep();
  });
}

}  // namespace tandem::api
