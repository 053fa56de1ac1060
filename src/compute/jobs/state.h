// A training job's lifecycle and its persisted record.
//
//   Pending -> Starting -> Running -> Completed | Failed
//   Pending -> Stopped;  Starting|Running -> Stopping -> Stopped
//   Starting|Running -> Pending (a failed attempt with retries left)
//
// The record is what the job service stores in the registry database and
// returns through the API; `details` holds the bookkeeping that is not
// queried (digests, warm-pool facts, artifact keys, warnings, exit info).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "common/json.h"
#include "common/status.h"
#include "compute/jobs/spec.h"
#include "compute/jobs/substrate.h"

namespace tandem::compute::jobs {

enum class JobState { kPending, kStarting, kRunning, kStopping, kCompleted, kFailed, kStopped };

// "Pending", "Starting", ... (SageMaker-like capitalised names).
std::string_view JobStateName(JobState s);
// Case-sensitive; unknown names -> InvalidArgument naming them.
StatusOr<JobState> ParseJobState(std::string_view name);
// Completed, Failed or Stopped.
bool IsTerminal(JobState s);
// Starting, Running or Stopping: the job holds capacity (and maybe a process).
bool IsActive(JobState s);

// What one job used, summed over its attempts (peak RSS is the maximum).
struct JobMetering {
  double wall_seconds = 0;
  double cpu_seconds = 0;
  int64_t peak_rss_bytes = 0;
  double cost = 0;
  double warm_pool_seconds = 0;  // retained warm-pool time (billed, SageMaker-style)
  Json ToJson() const;
};

struct JobRecord {
  std::string id;  // ULID
  std::string name;
  std::string team;
  JobSpec spec;
  JobState state = JobState::kPending;
  int attempt = 1;  // 1-based
  std::string failure_reason;
  int64_t created_micros = 0;
  int64_t queued_micros = 0;   // FIFO order of Pending jobs (re-set on retry)
  int64_t started_micros = 0;  // first time the current attempt ran (0 = never)
  int64_t ended_micros = 0;    // terminal time (0 = not ended)
  int64_t updated_micros = 0;
  JobHandle handle;  // empty id = not launched
  JobMetering metering;
  std::string model_key;
  std::string model_digest;
  std::string registered_model;
  int64_t registered_version = 0;
  std::string registered_alias;
  std::map<std::string, double> final_metrics;  // last value per metric
  Json details = Json::object();
  // The control plane holding the job (JobStore::Claim/Adopt; read-only
  // here: writing a record never changes it). "" = none yet.
  std::string owner;
  int64_t lease_expires_micros = 0;  // the owner's lease (likewise read-only)

  Json ToJson() const;
};

}  // namespace tandem::compute::jobs
