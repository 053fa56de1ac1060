// The catalog of the platform's event types, in one place. Producers use
// these constants; consumers match them in rules. Each entry documents the
// fields of `detail`.
#pragma once

#include <string_view>

namespace tandem::bus::events {

// --- tandem.registry -------------------------------------------------------
inline constexpr std::string_view kRegistrySource = "tandem.registry";
// detail: {name, description, owner_team, tags}
inline constexpr std::string_view kModelCreated = "Model Created";
// detail: {name, description?, tags?}
inline constexpr std::string_view kModelUpdated = "Model Updated";
// detail: {name}
inline constexpr std::string_view kModelDeleted = "Model Deleted";
// detail: {name, version, source, status, lineage, tags}
inline constexpr std::string_view kModelVersionCreated = "Model Version Created";
// detail: {name, version, status, previous_status, status_message}
inline constexpr std::string_view kModelVersionStatusChanged = "Model Version Status Changed";
// detail: {name, version}
inline constexpr std::string_view kModelVersionDeleted = "Model Version Deleted";
// detail: {name, alias, version, previous_version (null if new)}
inline constexpr std::string_view kModelAliasChanged = "Model Alias Changed";
// detail: {name, alias, previous_version}
inline constexpr std::string_view kModelAliasDeleted = "Model Alias Deleted";
// detail: {name, version (null for a model tag), key, value (null if deleted)}
inline constexpr std::string_view kModelTagChanged = "Model Tag Changed";

// --- tandem.images (the OCI image store, glue/images) ------------------------
// Shaped like ECR's "ECR Image Action" so rules written for ECR match.
inline constexpr std::string_view kImagesSource = "tandem.images";
// A tag was written (PUSH) or a manifest/tag deleted (DELETE); one event per
// tag ("image-tag" is "" for a manifest deleted with no tag).
// detail: {action-type (PUSH | DELETE), repository-name, image-digest, image-tag,
//          result (SUCCESS)}; resources: ["image/<repository>"]
inline constexpr std::string_view kImageAction = "Image Action";

// --- tandem.compute (compute tier) -------------------------------------------
inline constexpr std::string_view kComputeSource = "tandem.compute";
// detail: {job_id, name, team, state, previous_state, failure_reason?, metrics?, metering?}
inline constexpr std::string_view kTrainingJobStateChange = "Training Job State Change";
// detail: {name, id, team, state, previous_state (absent when created), strategy,
//          objective, trials: {total, pending, running, completed, failed, stopped,
//          stopped_early}, best_trial?: {index, job_id, objective, params},
//          failure_reason?, registered?: {model, version}}
inline constexpr std::string_view kTuningJobStateChange = "Hyperparameter Tuning Job State Change";
// A managed notebook started, became ready, was stopped (asked, idle-culled,
// exited) or failed.
// detail: {name, team, state, previous_state (null if new), execution, stop_reason,
//          failure_reason, snapshot_key, metering: {wall_seconds, cpu_seconds, cost}, ...}
inline constexpr std::string_view kNotebookInstanceStateChange = "Notebook Instance State Change";

// --- tandem.serving (serving tier) ---------------------------------------------
inline constexpr std::string_view kServingSource = "tandem.serving";
// detail: {deployment, state, replicas, versions}
inline constexpr std::string_view kDeploymentStateChange = "Deployment State Change";
// A replica swapped in a new model version.
// detail: {name, target, version, previous_version (null if first), deployment, replica}
inline constexpr std::string_view kModelSwapped = "Model Swapped";
// A replica could not pull/load/self-test/warm a version and keeps the old one.
// detail: {name, target, version, current_version (null if none), reason, deployment, replica}
inline constexpr std::string_view kModelSwapFailed = "Model Swap Failed";
// A replica's canary rollback rule fired: its candidate weight is now 0.
// detail: {deployment, replica, model, candidate, candidate_version, reason,
//          window{requests, errors, error_rate, p99_ms}, rule{max_error_rate,
//          max_p99_ms, window_seconds, min_requests}}
inline constexpr std::string_view kDeploymentCanaryRolledBack = "Deployment Canary Rolled Back";

// --- tandem.audit (the control plane's API edge) ------------------------------
inline constexpr std::string_view kAuditSource = "tandem.audit";
// A mutating API request, allowed or refused.
// detail: {principal ("" if unauthenticated), method, route, path, teams, decision
//          (allowed | denied), status (HTTP), reason ("" if allowed)}
inline constexpr std::string_view kApiRequest = "API Request";

// --- tandem.quotas (per-team limits, api/budgets.h) ----------------------------
inline constexpr std::string_view kQuotasSource = "tandem.quotas";
// A team's metered spend reached its spend budget; once per team and period.
// detail: {team, budget, spend, period (month | day | total), period_start
//          (RFC 3339), enforce}
inline constexpr std::string_view kBudgetThresholdCrossed = "Budget Threshold Crossed";

// --- tandem.test (published through the API by tests and tools) ---------------
inline constexpr std::string_view kTestSource = "tandem.test";

}  // namespace tandem::bus::events
