// Metering prices: what a job's execution costs, from the `pricing:` section
// of tandem.yaml (Config::raw["pricing"]). Prices are per hour, as cloud
// price lists are; the defaults are AWS Fargate's on-demand Linux/x86 rates
// (us-east-1), so a local job's cost reads like the cloud bill it replaces.
//
//   pricing:
//     default: {cpu_hour: 0.04048, memory_gb_hour: 0.004445}
//     teams:
//       research: {cpu_hour: 0.03}        # memory_gb_hour inherits default
//
// Keys: `default` and `teams` (both optional); a rate mapping holds
// `cpu_hour` (per requested vCPU) and `memory_gb_hour` (per GiB), each a
// finite number >= 0. Unknown keys, negatives and ill-typed values ->
// InvalidArgument naming them ("pricing.teams.research.gpu_hour").
//
// Billing (Cost): like the clouds, by reservation × wall time, but never less
// than what was measured:
//   cpu    = max(requested_cpus × wall_seconds, cpu_seconds)   vCPU-seconds
//   memory = (memory_mb > 0 ? memory_mb / 1024 : peak RSS in GiB) × wall_seconds
//   cost   = cpu / 3600 × cpu_hour + memory / 3600 × memory_gb_hour
// rounded to 1e-6 (a millionth of the currency unit). A job that did not
// run (wall 0, cpu 0) costs 0: nothing is billed while nothing runs.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "common/json.h"
#include "common/status.h"

namespace tandem::compute::jobs {

struct Rates {
  double cpu_hour = 0.04048;         // per vCPU-hour
  double memory_gb_hour = 0.004445;  // per GiB-hour
  bool operator==(const Rates&) const = default;
};

struct PriceTable {
  Rates defaults;
  std::map<std::string, Rates> teams;  // complete rates (defaults merged in)

  // The rates for `team` (its override, else the defaults).
  const Rates& For(const std::string& team) const;

  // Parses the `pricing` section; null (absent) -> the defaults.
  static StatusOr<PriceTable> FromJson(const Json& pricing);
  // The section as JSON (FromJson(ToJson()) is equivalent).
  Json ToJson() const;
};

// The cost of one execution (see the header comment for the formula).
// Negative or non-finite inputs count as 0.
double Cost(const PriceTable& prices, const std::string& team, double cpu_seconds,
            double wall_seconds, int64_t peak_rss_bytes, double requested_cpus,
            int64_t requested_memory_mb);

}  // namespace tandem::compute::jobs
