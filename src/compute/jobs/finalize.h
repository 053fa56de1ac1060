// Finalizing an ended attempt: its outcome (Completed iff exit status 0 and
// the model could be packed), the failure reason, the log and outputs in the
// object store, and the registry version (with lineage) if the spec asks.
//
// Store layout:  jobs/<id>/logs/attempt-<n>.log
//                jobs/<id>/output/model.tar.gz   (Completed only)
//                jobs/<id>/output/output.tar.gz  (if output/data is non-empty)
//                <spec.publish_prefix>/<file>    (each output/data file, any outcome)
//
// Thread-safety: free functions over thread-safe store and registry.
#pragma once

#include <map>
#include <string>

#include "common/clock.h"
#include "common/json.h"
#include "common/status.h"
#include "compute/jobs/state.h"
#include "compute/jobs/substrate.h"
#include "glue/registry/model_registry.h"
#include "glue/store/object_store.h"

namespace tandem::compute::jobs {

// The reason an attempt failed when output/failure says nothing:
// "exit status 3", "killed by signal 9 (SIGKILL)", "OutOfMemory: exceeded
// 512 MiB (peak 700 MiB)", "MaxRuntimeExceeded: ran longer than 60 s",
// "lost: ...", "stopped".
std::string FallbackReason(const ExitInfo& exit, const JobSpec& spec);

// A failure reason as users (of other privilege than the operator) may read
// it: the attempt's tree `ml_dir` is named as the job sees it (/opt/ml) and
// any other path under the control plane's `home` is hidden. When that
// changes `reason`, the full reason goes to the control plane's log (with
// `job_id`) only.
std::string FailureReasonForUsers(const std::string& reason, const std::string& ml_dir,
                                  const std::string& home, const std::string& job_id);

struct Outcome {
  JobState state = JobState::kFailed;  // Completed, Failed or Stopped
  std::string failure_reason;
  bool retryable = false;  // a user-code failure (not Stop, lost or a bad model dir)
  std::string log_key;
  std::string model_key, model_digest;
  std::string output_key;
  std::string registered_model;
  int64_t registered_version = 0;
  std::string registered_alias;
  // Where finalization's time went, µs per step ("publish",
  // "serving_files", "model_pack", "model_store", "output_pack",
  // "output_store", "register"; "log": storing the log, which runs beside
  // those, and "log_wait": the part of it they did not hide; a step not
  // taken is absent): the job service records it with the attempt.
  Json steps_us = Json::object();
};

struct FinalizeRequest {
  const JobRecord* record = nullptr;
  std::string ml_dir;    // the attempt's /opt/ml tree on the host
  std::string log_path;  // the attempt's log file on the host
  ExitInfo exit;
  bool stop_requested = false;
  std::string code_digest;
  std::map<std::string, std::string> input_digests;
  Clock* clock = nullptr;  // times the steps (Outcome::steps_us); nullptr: Clock::Real()
};

// Uploads the log (on a thread of its own, beside the rest), decides the outcome, adds the code's serving/ folder (a
// team's handler.py + tandem-model.yaml) to the model directory, packs and
// uploads the model and
// output data, and registers the model. Errors of the job's own making (a
// symlink escaping the model directory, an invalid registration) become a
// Failed outcome with the reason; only infrastructure errors (the store is
// unwritable) are returned as a Status, and may be retried as a whole:
// registration is skipped if a version tagged with this job and attempt
// already exists.
StatusOr<Outcome> FinalizeAttempt(const FinalizeRequest& req, store::ObjectStore& store,
                                  registry::ModelRegistry* registry);

}  // namespace tandem::compute::jobs
