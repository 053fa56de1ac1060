// The hyperparameter tuning service: runs tuning jobs (compute/tuning/spec.h) whose
// trials are ordinary training jobs submitted through the JobService, so
// tuning works on every substrate the job service does.
//
// One background thread (Start) advances every active tuning job each poll
// interval and when woken by Create/Stop:
//  - refreshes its running trials from their training jobs: final and
//    intermediate values of the objective metric (from the job's metric
//    definitions), CPU seconds, terminal state. A trial the service stopped
//    is StoppedEarly, not Failed or Stopped;
//  - early stopping Auto: the median stopping rule (compute/tuning/asha.h) over the
//    running trials' intermediate objective values -> JobService::Stop;
//  - launches new trials while fewer than max_parallel_jobs run and fewer
//    than max_jobs were launched: the strategy's sampler (Random, Grid, TPE
//    over the completed trials plus the warm-start parents' completed
//    trials), or for Hyperband ASHA's promotion / a new configuration at the
//    lowest rung (BOHB over the completed trials by rung, or random with
//    `hyperband.sampler: Random`), with the rung's resource as a hyperparameter;
//  - when nothing runs and nothing is left to launch: Completed (the best
//    trial's model registered and aliased if the spec says `register`), or
//    Failed when no trial completed (or the job template is refused).
//
// Restart safety: everything lives in the database; a trial row is written
// before its training job is submitted under a deterministic name
// (<tuning name>-<index>), so a restarted service adopts a job it submitted
// just before dying instead of submitting it twice. Suggestions depend only
// on (seed, trial index, finished trials), so the resumed job continues as
// it would have.
//
// Thread-safety: all public methods are thread-safe.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "common/status.h"
#include "compute/jobs/service.h"
#include "compute/tuning/asha.h"
#include "compute/tuning/spec.h"
#include "compute/tuning/store.h"
#include "glue/bus/outbox.h"
#include "glue/registry/model_registry.h"
#include "glue/sql/database.h"
#include "glue/store/object_store.h"

namespace tandem::compute::tuning {

struct TuningServiceOptions {
  // Not owned; must outlive the service.
  sql::Database* db = nullptr;
  bus::Outbox* outbox = nullptr;
  jobs::JobService* jobs = nullptr;
  registry::ModelRegistry* registry = nullptr;  // nullptr: `register` is refused
  // Where warm-started trials find their parents' checkpoints (nullptr: they
  // start without them).
  store::ObjectStore* store = nullptr;
  Clock* clock = nullptr;          // nullptr = Clock::Real()
  int64_t poll_interval_ms = 200;  // real time between passes
  tuning::MedianRuleOptions median;
};

class TuningService {
 public:
  // Migrates the tables; does not start the loop.
  static StatusOr<std::unique_ptr<TuningService>> Open(TuningServiceOptions options);
  ~TuningService();  // Shutdown(); trials keep running as training jobs

  void Start();     // idempotent
  void Shutdown();  // stops the loop (a later service resumes from the database)

  // Validates the spec against the service (warm-start parents exist, are
  // finished and share the objective; a grid fits; `register` needs a
  // registry), assigns a name if it has none and records the job
  // InProgress. AlreadyExists / NotFound / InvalidArgument naming the cause.
  StatusOr<TuningRecord> Create(TuningSpec spec);
  StatusOr<TuningRecord> Get(const std::string& name);
  StatusOr<std::vector<TuningRecord>> List(std::optional<TuningState> state, int limit = 100);
  StatusOr<std::vector<TuningTrial>> Trials(const std::string& name);
  // InProgress -> Stopping (its running trials are stopped; then Stopped).
  // FailedPrecondition if already finished or stopping.
  StatusOr<TuningRecord> Stop(const std::string& name);

  // One pass over every active tuning job (the loop's body).
  Status Step() ABSL_LOCKS_EXCLUDED(step_mu_);

  // Blocks until `done(record)` or `timeout_ms` of the clock's monotonic time
  // (DeadlineExceeded).
  StatusOr<TuningRecord> WaitFor(const std::string& name,
                                 const std::function<bool(const TuningRecord&)>& done,
                                 int64_t timeout_ms);

 private:
  explicit TuningService(TuningServiceOptions options);
  void Loop();
  Status Advance(const std::string& name) ABSL_EXCLUSIVE_LOCKS_REQUIRED(step_mu_);
  Status Refresh(const TuningRecord& rec, TuningTrial& t, const tuning::MedianStoppingRule& rule);
  // Submits the trial's training job (or adopts one submitted before a
  // crash). A refused template fails the tuning job: returns false.
  StatusOr<bool> Launch(const TuningRecord& rec, TuningTrial& t);
  // The next trial to launch, or nullopt when the strategy is exhausted.
  StatusOr<std::optional<TuningTrial>> NextTrial(const TuningRecord& rec,
                                                 const std::vector<TuningTrial>& trials);
  Status Finish(const TuningRecord& rec, const std::vector<TuningTrial>& trials);
  StatusOr<std::vector<tuning::Observation>> WarmStart(const TuningSpec& spec);
  // A warm-started trial whose configuration (its hyperparameters but the
  // Hyperband resource) a parent of the same team already trained starts
  // from that trial's checkpoint: the parent's objects are linked (not
  // copied: the store is content-addressed) under the trial's own empty
  // checkpoint `prefix`, so the parent's checkpoints are never written.
  Status WarmStartCheckpoint(const TuningRecord& rec, const TuningTrial& t,
                             const std::string& prefix);
  void Notify() ABSL_LOCKS_EXCLUDED(mu_);

  TuningServiceOptions opts_;
  Clock& clock_;
  std::unique_ptr<TuningStore> store_;

  absl::Mutex step_mu_;  // one Step at a time
  absl::Mutex mu_;
  absl::CondVar wake_cv_, state_cv_;
  bool wake_ ABSL_GUARDED_BY(mu_) = false;
  bool shutdown_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;  // started under mu_, joined by Shutdown
};

}  // namespace tandem::compute::tuning
