// The job service's tables in the registry database (SQL written once for
// SQLite and PostgreSQL, migrated as component "compute"):
//   compute_jobs          one row per job (JobRecord)
//   compute_job_metrics   time series: (job, attempt, metric, step) -> value
//   compute_team_spend    view: jobs, wall/cpu seconds and cost per team
//
// Every state change is a read-modify-write in one transaction that also
// appends the "Training Job State Change" event through the outbox, so a
// transition is recorded if and only if its event is. Inserts, claims and
// transitions arriving from several threads at once share a transaction
// (group_commit.h): each is still all-or-nothing with its event, and a batch
// that fails is run again one write per transaction, so no write is lost to
// another's failure.
//
// Thread-safety: all methods are thread-safe (and safe across processes).
#pragma once

#include <functional>
#include <initializer_list>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "common/status.h"
#include "compute/jobs/group_commit.h"
#include "compute/jobs/metric_parser.h"
#include "compute/jobs/state.h"
#include "glue/bus/outbox.h"
#include "glue/sql/database.h"

namespace tandem::compute::jobs {

struct JobFilter {
  std::optional<JobState> state;
  std::string team;  // exact, "" = any
  std::string name;  // exact, "" = any
  std::string kind;  // exact JobSpec::Kind() ("training", "transform"), "" = any
  int max_results = 100;
  std::string page_token;  // "" = first page
};

struct JobPage {
  std::vector<JobRecord> jobs;  // newest first
  std::string next_page_token;  // "" on the last page
};

struct MetricPoint {
  int attempt = 1;
  int64_t step = 0;
  double value = 0;
  int64_t timestamp_micros = 0;
};

struct TeamSpend {
  std::string team;
  int64_t jobs = 0;
  double wall_seconds = 0;
  double cpu_seconds = 0;
  double warm_pool_seconds = 0;
  double cost = 0;
};

// Jobs counted by state and team, and the scheduler queue's head.
struct JobCounts {
  struct Row {
    std::string state;
    std::string team;
    int64_t jobs = 0;
  };
  std::vector<Row> by_state_team;
  int64_t oldest_pending_queued_micros = 0;  // 0 if nothing is Pending
};

class JobStore {
 public:
  // Migrates the tables. `db`, `outbox` and `clock` must outlive the store.
  static StatusOr<std::unique_ptr<JobStore>> Open(sql::Database& db, bus::Outbox& outbox,
                                                  Clock& clock);

  // Inserts a new Pending job and its first event. AlreadyExists on id clash.
  Status Insert(const JobRecord& record);

  // NotFound naming the id.
  StatusOr<JobRecord> Get(const std::string& id);
  // Get for a waiter that reads one job again and again until it changes
  // (JobService::WaitFor): nullopt, with nothing parsed, when the row equals
  // `*seen` (every column); otherwise the record. `*seen` becomes the row read.
  StatusOr<std::optional<JobRecord>> GetIfChanged(const std::string& id,
                                                  std::vector<sql::Value>* seen);

  StatusOr<JobPage> List(const JobFilter& filter);

  // Number of jobs per state (of kind `kind`, "" = every kind), counted by
  // the database (one indexed GROUP BY; no row is read into memory). States
  // without jobs are absent.
  StatusOr<std::map<JobState, int64_t>> CountByState(const std::string& kind = "");
  // Number of jobs per JobSpec::Kind().
  StatusOr<std::map<std::string, int64_t>> CountByKind();

  // Pending jobs in FIFO order (queued time, then id).
  StatusOr<std::vector<JobRecord>> ListPending(int limit);
  // The same queue as ids and resources.cpus only (what the scheduler needs
  // before a claim returns the record): a job's spec is parsed the first time
  // it is listed and its CPUs remembered (a spec never changes).
  struct PendingJob {
    std::string id;
    double cpus = 1;
  };
  StatusOr<std::vector<PendingJob>> ListPendingCpus(int limit);
  // Jobs in Starting, Running or Stopping (for recovery).
  StatusOr<std::vector<JobRecord>> ListActive();

  // Moves job `id` from one of `from` to `to`: reads the row, applies
  // `mutate` (may be empty), writes it and appends the state-change event
  // (with `extra_detail` merged into detail) in one transaction.
  // FailedPrecondition naming the current state if it is not in `from`.
  // Returns the record as written.
  StatusOr<JobRecord> Transition(const std::string& id, std::initializer_list<JobState> from,
                                 JobState to, const std::function<void(JobRecord&)>& mutate,
                                 const Json& extra_detail = Json::object());

  // Ownership of active jobs by control planes sharing one database: `owner`
  // names a control plane (stable across its restarts), the lease says until
  // when it is presumed alive (renewed by its loop).
  //
  // Pending -> Starting for `owner` with a lease, atomically: when several
  // control planes race for one job exactly one wins; the others get
  // FailedPrecondition naming the current state.
  // `mutate` (may be empty) changes the record in the same transition (the
  // launch intent: where the attempt will run).
  StatusOr<JobRecord> Claim(const std::string& id, const std::string& owner,
                            int64_t lease_until_micros,
                            const std::function<void(JobRecord&)>& mutate = nullptr);
  // Extends the lease of every active job of `owner`; the number of jobs.
  StatusOr<int64_t> RenewLeases(const std::string& owner, int64_t lease_until_micros);
  // Active jobs that `owner` may recover: its own, unowned ones, and those
  // whose owner's lease has expired (that control plane is gone).
  StatusOr<std::vector<JobRecord>> ListRecoverable(const std::string& owner);
  // Takes over active job `id` if it is still recoverable by `owner` (see
  // above); false when another owner holds a live lease or took it first.
  StatusOr<bool> Adopt(const std::string& id, const std::string& owner, int64_t lease_until_micros);
  // Adopt for several jobs in one transaction (a takeover adopts all of a
  // dead control plane's jobs at once): the ids adopted, in id order.
  StatusOr<std::vector<std::string>> AdoptAll(const std::vector<std::string>& ids,
                                              const std::string& owner,
                                              int64_t lease_until_micros);
  // Liveness locks (docs/architecture.md "High availability"): a control
  // plane that holds sql::Database::HoldLock(OwnerLockKey(owner)) while it
  // runs registers so here, once; afterwards a free lock means it is dead
  // (its process ended and the database released the lock), and the others
  // adopt its jobs without waiting for their leases to expire.
  Status RegisterLivenessLock(const std::string& owner);
  // Owners other than `owner` that registered a liveness lock and hold
  // active jobs under a lease not yet expired.
  StatusOr<std::vector<std::string>> ListLockedLeaseOwners(const std::string& owner);
  // `owner`'s active jobs (with their leases).
  StatusOr<std::vector<JobRecord>> ListActiveOf(const std::string& owner);
  // Takes over active job `seen` (as read) from its owner, found dead: only
  // if its owner and lease are still those read (a restarted owner's
  // Recover renews the lease first). False otherwise, or when another
  // survivor took it first. InvalidArgument if `seen` is not another's.
  StatusOr<bool> AdoptFromDead(const JobRecord& seen, const std::string& owner,
                               int64_t lease_until_micros);
  // AdoptFromDead for several jobs in one transaction: the ids adopted, in
  // id order. InvalidArgument (nothing adopted) if one is not another's.
  StatusOr<std::vector<std::string>> AdoptAllFromDead(const std::vector<JobRecord>& seen,
                                                      const std::string& owner,
                                                      int64_t lease_until_micros);
  // Ids of `owner`'s jobs in Stopping (a stop may arrive via another control
  // plane's API).
  StatusOr<std::vector<std::string>> ListStopping(const std::string& owner);

  // Read-modify-write of the non-state fields (no event).
  StatusOr<JobRecord> Update(const std::string& id, const std::function<void(JobRecord&)>& mutate);

  // Idempotent: samples already stored (same job, attempt, name, step) are kept.
  Status AppendMetrics(const std::string& id, int attempt,
                       const std::vector<MetricSample>& samples);
  // metric name -> points ordered by attempt, step.
  StatusOr<std::map<std::string, std::vector<MetricPoint>>> Metrics(const std::string& id);

  StatusOr<std::vector<TeamSpend>> SpendByTeam();
  // The metered cost of `team`'s jobs that ended at or after `since_micros`.
  StatusOr<double> TeamCostSince(const std::string& team, int64_t since_micros);
  // One GROUP BY over the jobs (no paging).
  StatusOr<JobCounts> Counts();

  // How inserts, claims and transitions were batched so far.
  GroupCommit::Stats commit_stats() const { return group_.stats(); }

 private:
  JobStore(sql::Database& db, bus::Outbox& outbox, Clock& clock)
      : db_(db), outbox_(outbox), clock_(clock), group_(db) {}
  StatusOr<JobRecord> TransitionIn(sql::Transaction& tx, const std::string& id,
                                   const std::vector<JobState>& allowed, JobState to,
                                   const std::function<void(JobRecord&)>& mutate,
                                   const Json& extra_detail);

  sql::Database& db_;
  bus::Outbox& outbox_;
  Clock& clock_;
  GroupCommit group_;
  absl::Mutex cpus_mu_;
  std::map<std::string, double> cpus_ ABSL_GUARDED_BY(cpus_mu_);  // job id -> resources.cpus
};

// The name of `owner`'s liveness lock (sql::Database::HoldLock).
std::string OwnerLockKey(const std::string& owner);

// The detail of a state-change event for `record` (see event_types.h).
Json StateChangeDetail(const JobRecord& record, JobState previous);

}  // namespace tandem::compute::jobs
