// The training-job service: accepts job specs, keeps their records in the
// registry database (compute/jobs/store.h), schedules Pending jobs FIFO onto a
// substrate within its CPU capacity, stages each job's /opt/ml tree
// (staging.h, or a warm-pool entry, warm_pool.h; the empty tree is a spare
// made ahead, spare_trees.h), launches it, tails its log
// through the metric definitions, and finalizes it when it ends
// (finalize.h: log, model.tar.gz, output.tar.gz, registry version, alias),
// metering and billing each attempt. Every state change is persisted with its
// "Training Job State Change" event in one transaction.
//
// One background thread (Start) runs the scheduler/monitor loop: it wakes on
// Submit/Stop, when the substrate reports that a job ended
// (Substrate::SetEndedCallback) and at the earliest timer it computes (see
// JobServiceOptions::poll_interval_ms; no fixed tick); it polls the running
// jobs only on an end, a timer of theirs or the safety poll (not on every
// submit). It hands each job's claim, staging and
// launch, and later its finalization, to a bounded pool of `workers`
// threads, so jobs start and end concurrently; capacity is reserved by the
// loop before a launch is handed over, so the pool never exceeds it.
//
// Checkpoints (spec `checkpoint:`, checkpoints.h): restored into the tree
// while staging, uploaded by a worker every checkpoint_sync_ms while the job
// runs, and a final time before the attempt is finalized (any outcome).
//
// Restart safety: Shutdown (or destruction) stops the loop but leaves jobs
// running under their substrate; Recover() in the next process re-attaches
// to every job still running, finalizes those that ended meanwhile, and
// fails those whose process is gone ("lost: ..."). A job caught in Starting
// without a recorded handle is asked for at the substrate
// (Substrate::FindLaunched: killed between the launch and its Running
// transition) and attached if its process started; otherwise it goes back to
// Pending (same attempt: user code never ran); one in Stopping without a
// process becomes Stopped.
//
// Several control planes on one database (PostgreSQL) share the queue: each
// Pending job is claimed by exactly one (JobStore::Claim), which then holds a
// renewed lease on it; Recover skips jobs whose owner is alive. A running
// service also takes over, from its loop, the active jobs of a control plane
// whose lease expired (it died), or at once when its liveness lock is free:
// it adopts all of them in one transaction, re-attaches to
// the process if it still runs (a local job's runner outlives its control
// plane) and finalizes it once; if the process is gone the attempt ends as
// lost and is retried as a new attempt when the spec allows (TakeOver).
//
// Thread-safety: all public methods are thread-safe.
#pragma once

#include <atomic>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "common/prometheus.h"
#include "common/status.h"
#include "compute/jobs/checkpoints.h"
#include "compute/jobs/loop_leases.h"
#include "compute/jobs/secrets.h"
#include "compute/jobs/spare_trees.h"
#include "compute/jobs/spec.h"
#include "compute/jobs/state.h"
#include "compute/jobs/store.h"
#include "compute/jobs/substrate.h"
#include "compute/jobs/warm_pool.h"
#include "glue/bus/outbox.h"
#include "glue/registry/model_registry.h"
#include "glue/sql/database.h"
#include "glue/sql/locks.h"
#include "glue/store/object_store.h"

namespace tandem::images {
class ImageStore;
}

namespace tandem::compute::jobs {

struct JobServiceOptions {
  std::string home;  // jobs run under <home>/jobs/<id>/attempt-<n>, warm pool in <home>/warm
  // Not owned; must outlive the service.
  sql::Database* db = nullptr;
  bus::Outbox* outbox = nullptr;
  store::ObjectStore* store = nullptr;
  registry::ModelRegistry* registry = nullptr;  // nullptr: `register` is ignored
  // Where `image:` references resolve (image_launch.h); nullptr: a spec with
  // an image is refused at submit.
  images::ImageStore* images = nullptr;
  Clock* clock = nullptr;                       // nullptr = Clock::Real()
  std::unique_ptr<Substrate> substrate;         // owned
  // Price of an attempt, and of warm-pool retention (seconds); empty = free.
  std::function<double(const JobSpec&, const Metering&)> cost;
  std::function<double(const JobSpec&, double)> warm_pool_cost;
  // The loop sleeps until something happens: a submit, stop or worker
  // hand-back, a job's end reported by the substrate
  // (Substrate::SetEndedCallback), or the earliest timer it computes (lease
  // renewal, takeover and liveness checks, warm-pool expiry, a running
  // job's next log read or checkpoint sync); it has no fixed tick. Running
  // jobs of a substrate that cannot report ends are polled every
  // poll_interval_ms; and every safety_poll_ms the loop does a full pass
  // anyway (polls every running job, looks for Pending jobs, e.g. submitted
  // through another control plane sharing the database).
  int64_t poll_interval_ms = 50;
  int64_t safety_poll_ms = 1000;
  // Real time between reads of a running job's log for its
  // metric_definitions (each read stores what it found in one transaction);
  // the job's end reads the rest. Every poll read it before: 20 transactions
  // a second cost a 1-second training job ~1.5% of its CPU. Short enough for
  // the tuning service's median stopping rule, which reads a running
  // trial's curve.
  int64_t metrics_interval_ms = 250;
  // Threads that claim, stage, launch and finalize jobs concurrently (the
  // bound on jobs starting or ending at once). 0 = 4 per hardware thread,
  // at least 32: they mostly wait on processes, the object store and the
  // database, and a takeover finalizes every job of a dead control plane
  // that ended meanwhile at once (with 8, 50 such jobs took 3.5 s on a
  // loaded 2-core machine, with 32 1.8 s: tests/ha).
  int workers = 0;
  int64_t stop_grace_seconds = 10;
  // Several control planes may share one database: each claims the Pending
  // jobs it runs (atomically, so a job runs once) under `owner`, and renews a
  // lease of `lease_ms` on them from its loop. Recover only takes over jobs
  // that are its own or whose owner's lease has expired. "" = <host>:<home>,
  // stable across restarts of this control plane.
  std::string owner;
  int64_t lease_ms = 30'000;
  // Liveness (docs/architecture.md "High availability"): the service holds
  // its owner's lock (sql::Database::HoldLock) while it exists, and every
  // liveness_check_ms looks whether the other owners' locks are still held:
  // the jobs of one whose lock is free (its process died) are adopted at
  // once rather than when their lease expires. 0 = lease only.
  int64_t liveness_check_ms = 200;
  // Jobs with `checkpoint:` in their spec: the checkpoint directory is
  // uploaded every checkpoint_sync_ms while they run (and when they end).
  int64_t checkpoint_sync_ms = 10'000;
  CheckpointLimits checkpoint_limits;
  // The value of a team's stored secret (spec `secrets:`); NotFound when the
  // team has none of that name. Empty: specs naming secrets are refused.
  SecretLookup secret_value;
};

struct LogChunk {
  std::string data;
  int64_t next_offset = 0;
  bool finished = false;  // the job is terminal and `data` reached the end
  int attempt = 1;
  std::string stored_key;  // set once the job is terminal: the log in the object store
};

class JobService {
 public:
  // Migrates the tables. Does not start the loop (see Recover, Start).
  static StatusOr<std::unique_ptr<JobService>> Open(JobServiceOptions options);
  ~JobService();  // Shutdown()

  // Accounts for every job left Starting/Running/Stopping by a previous
  // process (see above). Call once, before Start.
  Status Recover();
  // Starts the scheduler/monitor thread. Idempotent.
  void Start();
  // Stops the thread; jobs keep running (the next Recover re-attaches).
  void Shutdown();

  // Validates the spec against this service (cpus within capacity, sources
  // exist, metric regexes, registry names) and queues the job as Pending.
  // InvalidArgument / NotFound naming the field, channel or path.
  StatusOr<JobRecord> Submit(const JobSpec& spec);

  StatusOr<JobRecord> Get(const std::string& id);
  StatusOr<JobPage> List(const JobFilter& filter);
  // Counted by the store (JobStore::CountByState/CountByKind), not by listing.
  StatusOr<std::map<JobState, int64_t>> CountByState(const std::string& kind = "");
  StatusOr<std::map<std::string, int64_t>> CountByKind();
  // Pending -> Stopped at once; Starting/Running -> Stopping (then Stopped
  // when the process is gone). FailedPrecondition if already terminal.
  StatusOr<JobRecord> Stop(const std::string& id);
  StatusOr<std::map<std::string, std::vector<MetricPoint>>> Metrics(const std::string& id);
  StatusOr<std::vector<TeamSpend>> SpendByTeam();
  // The metered cost of `team`'s jobs ended since `since_micros` (budgets).
  StatusOr<double> TeamCostSince(const std::string& team, int64_t since_micros);
  // Jobs by state and team and the oldest Pending job (one cheap query).
  StatusOr<JobCounts> Counts();
  // Seconds from queued to Running for the jobs this service launched.
  const prometheus::Histogram& launch_latency() const { return launch_seconds_; }

  // Up to `max_bytes` of the current attempt's log from `offset`: the local
  // file while the job runs, the stored log once it has ended.
  StatusOr<LogChunk> ReadLog(const std::string& id, int64_t offset, size_t max_bytes = 1 << 20);

  // Blocks until `done(record)` or `timeout_ms` of the clock's monotonic time (then
  // DeadlineExceeded naming the job and its state).
  StatusOr<JobRecord> WaitFor(const std::string& id,
                              const std::function<bool(const JobRecord&)>& done,
                              int64_t timeout_ms);

  // Which control plane advances the tuning jobs' and notebooks' loops
  // (loop_leases.h), under this service's owner and lease.
  LoopLeases& loop_leases() { return *loop_leases_; }
  const std::string& owner() const { return opts_.owner; }

  // Test hook: how many times the loop has woken up (any reason).
  int64_t loop_iterations() const { return loop_iterations_.load(); }

  double capacity_cpus() const { return substrate_->capacity_cpus(); }
  bool sandboxed() const { return substrate_->sandboxed(); }
  Substrate& substrate() { return *substrate_; }

 private:
  struct Active;
  explicit JobService(JobServiceOptions options);

  void Loop();
  // How long the loop may sleep (real time) before its earliest timer is
  // due, given when it last polled the running jobs and made a full pass.
  absl::Duration LoopWait(absl::Time last_monitor, absl::Time last_full) const;
  // The earliest log read or checkpoint sync due among the running jobs
  // (monotonic µs; INT64_MAX: none).
  int64_t NextJobTimerMicros() const;
  void Work();  // a worker thread: runs tasks until shutdown
  void Dispatch(std::function<void()> task);
  // From a worker: the job's launch (ended = false) or end (true) is done.
  void Completed(const std::string& id, bool ended);
  // Moves the launches Submit handed to a worker into active_, then applies
  // the workers' hand-backs.
  void CollectCompleted();
  // held_cpus_ = the CPUs of active_ and direct_ (after active_ changed).
  void RecountHeld();
  void ApplyStops();
  void Monitor();
  // Monitor for one job (in phase kRunning): log, checkpoints, its end.
  void PollJob(const std::string& id, Active& a);
  void Schedule();
  // Worker: claims the job and launches it (or finalizes it if that fails).
  // Returns whether it ended (not claimed, or failed/stopped before running).
  bool StartJob(Active& a);
  // Stages the tree and launches: true once launched, false when a stop
  // arrived before the launch (the caller finalizes it as Stopped).
  StatusOr<bool> Launch(Active& a);
  // Reads to EOF (at most every metrics_interval_ms unless `finish`, which
  // also flushes a partial line).
  void TailLog(Active& a, bool finish);
  // The periodic checkpoint upload of a running job, handed to a worker.
  void SyncCheckpoints(Active& a);
  void Finish(Active& a, const ExitInfo& exit);
  void BillWarmRelease(const WarmRelease& r);
  // Renews the leases of this control plane's jobs (every lease_ms / 3) and
  // picks up stops requested through another control plane.
  void RenewLeases();
  // Adopts jobs whose owner's lease has expired (every lease_ms / 3; in
  // service_recover.cc with Recover).
  void TakeOver();
  // Takes (again) this service's liveness lock when it does not hold it (every
  // lease_ms / 3), and adopts the jobs of owners whose lock is free (every
  // liveness_check_ms); both in service_recover.cc.
  void HoldLivenessLock();
  void TakeOverFromDead();
  // Holds adopted job `r`: re-attaches to its process, or puts a job that was
  // never launched back to Pending. `from_loop`: the loop's Monitor polls it
  // next; otherwise (Recover) it is polled now and finalized if lost.
  void Attach(const JobRecord& r, bool from_loop);
  // An adopted job `r` in Starting/Stopping without a handle whose launch
  // reached the substrate (substrate FindLaunched): records the handle and
  // the launch details (Starting -> Running) and returns the record.
  std::optional<JobRecord> FindLaunch(const JobRecord& r);
  // Where the attempt of `r` runs: as recorded at launch (possibly under
  // another control plane's home), else this service's AttemptDir.
  std::string RecordedAttemptDir(const JobRecord& r) const;
  int64_t LeaseUntil() const { return clock_.NowMicros() + opts_.lease_ms * 1000; }
  // Job `id` changed: Notify wakes the loop and WaitFor, NotifyState WaitFor.
  void Notify(const std::string& id);
  void NotifyState(const std::string& id);
  void MarkChanged(const std::string& id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::string AttemptDir(const std::string& id, int attempt) const;

  JobServiceOptions opts_;
  Clock& clock_;
  std::unique_ptr<Substrate> substrate_;
  std::unique_ptr<JobStore> jobs_;
  std::unique_ptr<LoopLeases> loop_leases_;
  WarmPool warm_;
  std::unique_ptr<SpareTrees> spares_;  // empty /opt/ml trees ahead of launches, <home>/spare-trees
  prometheus::Histogram launch_seconds_{
      {0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600}};

  // Owned by the loop thread (and by Recover before Start). An entry being
  // launched or finalized is handed to one worker meanwhile (Active::phase,
  // which only the loop reads and writes); the hand-back goes through
  // completed_ under mu_.
  std::map<std::string, std::unique_ptr<Active>> active_;
  int64_t last_expiry_micros_ = 0;
  int64_t last_renew_micros_ = 0;
  int64_t last_takeover_micros_ = 0;
  int64_t last_liveness_micros_ = 0;
  int64_t last_lock_try_micros_ = 0;
  std::unique_ptr<sql::HeldLock> liveness_lock_;  // loop thread (Recover before Start)
  bool ends_reported_ = false;  // the substrate calls back on every end (set by Start)
  std::atomic<int64_t> loop_iterations_{0};

  absl::Mutex mu_;
  absl::CondVar wake_cv_;   // the loop waits here
  absl::CondVar state_cv_;  // WaitFor waits here
  absl::CondVar task_cv_;   // workers wait here
  bool wake_ ABSL_GUARDED_BY(mu_) = false;
  bool ended_signal_ ABSL_GUARDED_BY(mu_) = false;  // the substrate reported an end
  bool shutdown_ ABSL_GUARDED_BY(mu_) = false;
  // Job id -> state_version_ at its last change here, so WaitFor re-reads a
  // job only when it changed. Cleared when it reaches kMaxTrackedChanges.
  static constexpr size_t kMaxTrackedChanges = 100'000;
  uint64_t state_version_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<std::string, uint64_t> changes_ ABSL_GUARDED_BY(mu_);
  std::set<std::string> stop_requests_ ABSL_GUARDED_BY(mu_);
  std::deque<std::function<void()>> tasks_ ABSL_GUARDED_BY(mu_);
  std::vector<std::pair<std::string, bool>> completed_ ABSL_GUARDED_BY(mu_);  // id, ended
  // Submit hands a job to a worker itself (after its durable insert) when
  // the loop runs, nothing is queued before it (!backlog_) and capacity
  // allows: such a launch is held here (registered before the insert, so
  // Schedule and TakeOver never see it as unheld; `second`: inserted and
  // handed over) until the loop moves it into active_.
  std::map<std::string, std::pair<std::unique_ptr<Active>, bool>> direct_ ABSL_GUARDED_BY(mu_);
  double held_cpus_ ABSL_GUARDED_BY(mu_) = 0;  // capacity reserved: active_ and direct_
  // Pending jobs may be waiting (a submit found no room, or the last
  // Schedule left some); backlog_gen_ counts the submits that set it, and
  // again when their insert has landed; backlog_inserting_ counts those
  // whose insert has not returned yet. Schedule clears backlog_ only when
  // neither moved during its pass: a job it could not list because its
  // insert had not committed is still queued, and a later submit that
  // would fit beside the running ones must not overtake it.
  bool backlog_ ABSL_GUARDED_BY(mu_) = true;
  uint64_t backlog_gen_ ABSL_GUARDED_BY(mu_) = 0;
  int backlog_inserting_ ABSL_GUARDED_BY(mu_) = 0;
  bool schedule_ ABSL_GUARDED_BY(mu_) = true;  // the loop should look for Pending jobs
  bool loop_started_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;                // started under mu_, joined by Shutdown
  std::vector<std::thread> workers_;  // likewise
};

}  // namespace tandem::compute::jobs
