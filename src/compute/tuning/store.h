// Persistence of tuning jobs and their trials in the platform database
// (migrations component "tuning"), with the "Hyperparameter Tuning Job State
// Change" event written through the outbox in the same transaction as every
// state change of a tuning job.
//
//   tuning jobs:  InProgress -> Completed | Failed;  InProgress -> Stopping -> Stopped
//   trials:       Pending (no training job yet) -> Running -> Completed |
//                 Failed | Stopped | StoppedEarly
//
// Thread-safety: all methods are thread-safe (the database serialises).
#pragma once

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/json.h"
#include "common/status.h"
#include "compute/tuning/space.h"
#include "compute/tuning/spec.h"
#include "glue/bus/outbox.h"
#include "glue/sql/database.h"

namespace tandem::compute::tuning {

enum class TuningState { kInProgress, kCompleted, kFailed, kStopping, kStopped };
enum class TrialState { kPending, kRunning, kCompleted, kFailed, kStopped, kStoppedEarly };

std::string_view TuningStateName(TuningState s);
StatusOr<TuningState> ParseTuningState(std::string_view s);
std::string_view TrialStateName(TrialState s);
StatusOr<TrialState> ParseTrialState(std::string_view s);
bool IsTerminal(TuningState s);
bool IsTerminal(TrialState s);

struct TuningTrial {
  std::string tuning_name;
  int64_t index = 0;      // 0-based launch order
  std::string job_name;   // <tuning name>-<index>, the training job's name
  std::string job_id;     // "" until submitted
  int64_t config = 0;     // the configuration (Hyperband reruns one at higher rungs)
  int rung = 0;           // Hyperband rung (0 otherwise)
  int64_t resource = 0;   // Hyperband resource given to the trial (0 otherwise)
  tuning::Params params;  // the tuned hyperparameters (plus the resource)
  TrialState state = TrialState::kPending;
  std::optional<double> objective;   // final objective metric value
  std::vector<double> intermediate;  // the objective metric's values by step
  bool stop_early = false;           // the tuning service asked it to stop (median rule)
  std::string failure_reason;
  double cpu_seconds = 0;
  int64_t created_micros = 0;
  int64_t updated_micros = 0;

  Json ToJson() const;
};

struct TrialCounts {
  int pending = 0, running = 0, completed = 0, failed = 0, stopped = 0, stopped_early = 0;
  int total() const { return pending + running + completed + failed + stopped + stopped_early; }
  Json ToJson() const;
};

struct TuningRecord {
  std::string name;
  std::string id;  // ULID
  std::string team;
  TuningSpec spec;
  TuningState state = TuningState::kInProgress;
  std::string failure_reason;
  int64_t created_micros = 0, updated_micros = 0, ended_micros = 0;
  std::optional<TuningTrial> best;  // best Completed trial so far
  TrialCounts counts;
  double cpu_seconds = 0;  // summed over trials
  std::string registered_model;
  int64_t registered_version = 0;

  Json ToJson() const;
};

class TuningStore {
 public:
  static StatusOr<std::unique_ptr<TuningStore>> Open(sql::Database& db, bus::Outbox& outbox,
                                                     Clock& clock);

  // AlreadyExists naming the tuning job if the name is taken.
  Status Insert(const TuningRecord& record);
  // With best trial and counts filled in. NotFound naming it.
  StatusOr<TuningRecord> Get(const std::string& name);
  // Newest first; `state` empty = any.
  StatusOr<std::vector<TuningRecord>> List(std::optional<TuningState> state, int limit);
  // Names of tuning jobs in InProgress or Stopping.
  StatusOr<std::vector<std::string>> ListActive();
  // Moves the job from one of `from` to `to`, applying `mutate`, and
  // appends the state-change event, in one transaction.
  StatusOr<TuningRecord> Transition(const std::string& name,
                                    std::initializer_list<TuningState> from, TuningState to,
                                    const std::function<void(TuningRecord&)>& mutate = {});

  StatusOr<std::vector<TuningTrial>> Trials(const std::string& name);
  // Inserts or replaces the trial (tuning_name, index).
  Status PutTrial(const TuningTrial& trial);

 private:
  TuningStore(sql::Database& db, bus::Outbox& outbox, Clock& clock)
      : db_(db), outbox_(outbox), clock_(clock) {}
  StatusOr<TuningRecord> GetIn(sql::Transaction& tx, const std::string& name);

  sql::Database& db_;
  bus::Outbox& outbox_;
  Clock& clock_;
};

// Fills `best`, `counts` and `cpu_seconds` of `r` from its trials.
void Summarize(TuningRecord& r, const std::vector<TuningTrial>& trials);

}  // namespace tandem::compute::tuning
