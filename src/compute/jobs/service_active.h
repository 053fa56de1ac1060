// Internal to the job service (service*.cc): the in-memory record of a job
// this control plane holds, shared by the loop (service.cc) and recovery and
// takeover (service_recover.cc). Not part of the room's interface.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "compute/jobs/checkpoints.h"
#include "compute/jobs/metric_parser.h"
#include "compute/jobs/service.h"

namespace tandem::compute::jobs {

// A job holding capacity (claimed for launch, Starting, Running or Stopping).
// The loop owns it while kRunning; a worker while kLaunching or kFinishing.
struct JobService::Active {
  enum class Phase { kLaunching, kRunning, kFinishing };
  Phase phase = Phase::kRunning;  // read and written by the loop only
  JobRecord record;               // snapshot at start (spec, id, attempt)
  std::string attempt_dir, ml_dir, log_path;
  JobHandle handle;
  int64_t log_offset = 0;
  int64_t log_tailed_micros = 0;  // monotonic: the last read of the log (0: never)
  std::optional<MetricParser> parser;
  std::map<std::string, double> last_metrics;
  bool stop_requested = false;
  bool stop_sent = false;
  std::string code_digest;
  std::map<std::string, std::string> input_digests;
  std::string warm_key;
  std::string launch_error;  // staging/launch failed: Failed with this reason, no retry
  double cpus = 1;
  std::shared_ptr<CheckpointSync> checkpoints;  // spec.checkpoint set
  int64_t checkpoint_synced_micros = 0;         // monotonic
  int64_t end_seen_micros = 0;  // monotonic: when the loop saw it end (0: Finish's start)
  int64_t end_seen_wall_micros = 0;  // the same on the wall clock (the runner's clock)
  // Wall clock (µs): when a worker took the launch, and when its claim landed.
  int64_t launch_taken_micros = 0, claimed_micros = 0;
};

// Removes a job's directory tree, logging (not failing) when it cannot.
void RemoveJobTree(const std::string& path);

// The launch intent's details (digests, staging): written to
// <attempt_dir>/launch.json before the substrate's Submit, so a control plane
// that adopts the attempt after its launcher died between Submit and the
// Running transition records them as the launcher would have.
Status WriteLaunchDetails(const std::string& attempt_dir, const Json& details);
StatusOr<Json> ReadLaunchDetails(const std::string& attempt_dir);

// Fault injection for tests: when the environment variable TANDEM_FAULT names
// `point`, the process kills itself (SIGKILL) here. Points: "after-submit"
// (the substrate started the job, the Running transition is not written).
void FaultPoint(std::string_view point);

}  // namespace tandem::compute::jobs
