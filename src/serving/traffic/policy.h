// Traffic policies of a deployment: a shadow model that receives a copy of
// each request (its answers never reach the caller) and a canary candidate
// that takes a weighted share of live traffic, rolled back automatically when
// its error rate or p99 over a window exceeds a threshold. Read from the
// deployment spec (`shadow:` and `canary:` mappings) or `tandem serve` flags;
// unknown or ill-typed fields are refused with InvalidArgument naming them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/json.h"
#include "common/status.h"

namespace tandem::serving::traffic {

// When a canary candidate is rolled back (weight set to 0): over the last
// `window_seconds`, with at least `min_requests` candidate requests, its
// error rate is above `max_error_rate` or its p99 above `max_p99_ms`
// (0 = no latency limit).
struct RollbackRule {
  double max_error_rate = 0.05;
  double max_p99_ms = 0;
  int64_t window_seconds = 60;
  int64_t min_requests = 100;
  Json ToJson() const;
};

struct ShadowPolicy {
  std::string model;    // NAME@alias | NAME/VERSION | NAME
  double sample = 1.0;  // share of requests mirrored, 0..1
  Json ToJson() const;
};

struct CanaryPolicy {
  std::string model;    // NAME@alias | NAME/VERSION | NAME
  double weight = 0.1;  // share of live traffic to the candidate, 0..1
  RollbackRule rollback;
  Json ToJson() const;
};

struct TrafficPolicy {
  std::optional<ShadowPolicy> shadow;
  std::optional<CanaryPolicy> canary;
  bool empty() const { return !shadow && !canary; }
  bool operator==(const TrafficPolicy& o) const;
};

// Reads the optional `shadow` and `canary` mappings of a deployment spec
// document (other keys are the caller's to check).
StatusOr<TrafficPolicy> TrafficPolicyFromSpec(const Json& doc);
// Adds `shadow` / `canary` to a spec document (nothing if absent).
void AddTrafficPolicy(const TrafficPolicy& p, Json& doc);
// Range checks shared by the spec reader and the `tandem serve` flags (an
// empty `model` is allowed here: `tandem serve` may give a local package).
Status ValidateTrafficPolicy(const TrafficPolicy& p);

// Appends the `tandem serve` flags that set `p` (--shadow, --canary-weight,
// --rollback-*, ...) to a replica's command line (the fleet supervisor).
void AppendTrafficFlags(const TrafficPolicy& p, std::vector<std::string>& argv);

// The deterministic share split used by sampling and canary weights: request
// number `n` (0, 1, 2, ...) is taken iff floor((n+1)*share) > floor(n*share),
// so any run of k consecutive requests takes floor or ceil of k*share.
inline bool TakeShare(uint64_t n, double share) {
  if (share <= 0) return false;
  if (share >= 1) return true;
  return static_cast<uint64_t>(static_cast<double>(n + 1) * share) >
         static_cast<uint64_t>(static_cast<double>(n) * share);
}

}  // namespace tandem::serving::traffic
