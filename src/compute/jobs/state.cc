#include "compute/jobs/state.h"

#include <array>
#include <utility>

#include "common/clock.h"

namespace tandem::compute::jobs {
namespace {

constexpr std::array<std::pair<JobState, std::string_view>, 7> kNames = {{
    {JobState::kPending, "Pending"},
    {JobState::kStarting, "Starting"},
    {JobState::kRunning, "Running"},
    {JobState::kStopping, "Stopping"},
    {JobState::kCompleted, "Completed"},
    {JobState::kFailed, "Failed"},
    {JobState::kStopped, "Stopped"},
}};

}  // namespace

std::string_view JobStateName(JobState s) {
  for (const auto& [state, name] : kNames) {
    if (state == s) return name;
  }
  return "Unknown";
}

StatusOr<JobState> ParseJobState(std::string_view name) {
  for (const auto& [state, n] : kNames) {
    if (n == name) return state;
  }
  return InvalidArgumentError("unknown job state '" + std::string(name) +
                              "' (expected Pending, Starting, Running, Stopping, Completed, "
                              "Failed or Stopped)");
}

bool IsTerminal(JobState s) {
  return s == JobState::kCompleted || s == JobState::kFailed || s == JobState::kStopped;
}

bool IsActive(JobState s) {
  return s == JobState::kStarting || s == JobState::kRunning || s == JobState::kStopping;
}

Json JobMetering::ToJson() const {
  return {{"wall_seconds", wall_seconds},
          {"cpu_seconds", cpu_seconds},
          {"peak_rss_bytes", peak_rss_bytes},
          {"cost", cost},
          {"warm_pool_seconds", warm_pool_seconds}};
}

Json JobRecord::ToJson() const {
  Json j = {{"id", id},
            {"name", name},
            {"team", team},
            {"state", JobStateName(state)},
            {"attempt", attempt},
            {"max_attempts", spec.retries + 1},
            {"created", FormatRfc3339Millis(created_micros)},
            {"created_micros", created_micros},
            {"started_micros", started_micros},
            {"ended_micros", ended_micros},
            {"updated_micros", updated_micros},
            {"metering", metering.ToJson()},
            {"spec", spec.ToJson()}};
  if (!failure_reason.empty()) j["failure_reason"] = failure_reason;
  if (started_micros > 0) j["started"] = FormatRfc3339Millis(started_micros);
  if (ended_micros > 0) j["ended"] = FormatRfc3339Millis(ended_micros);
  if (started_micros > 0) {
    int64_t end = ended_micros > 0 ? ended_micros : updated_micros;
    j["duration_seconds"] = static_cast<double>(end - started_micros) / 1e6;
  }
  if (!handle.id.empty()) j["handle"] = {{"substrate", handle.substrate}, {"id", handle.id}};
  if (!model_key.empty()) j["model"] = {{"key", model_key}, {"digest", model_digest}};
  if (!registered_model.empty()) {
    j["registered"] = {{"name", registered_model}, {"version", registered_version}};
    if (!registered_alias.empty()) j["registered"]["alias"] = registered_alias;
  }
  if (!final_metrics.empty()) j["metrics"] = final_metrics;
  if (!owner.empty()) j["owner"] = owner;
  for (const auto& [k, v] : details.items()) j[k] = v;
  return j;
}

}  // namespace tandem::compute::jobs
