// The part of tandem.yaml's `compute:` section that every substrate reads
// the same way; each substrate's own parser (LocalOptionsFromConfig,
// SlurmOptionsFromConfig) adds its keys and checks for unknown ones.
#pragma once

#include <string>

#include "common/json.h"
#include "common/spec_fields.h"
#include "common/status.h"

namespace tandem::compute::jobs {

// Reads `cpus` (> 0) into o.capacity_cpus, `sandbox` (auto|on|off) into
// o.sandbox (an enum with kAuto, kOn, kOff) and `grace_seconds`
// (0..86400) into o.grace_seconds, each when present; InvalidArgument naming
// the key otherwise.
template <typename SubstrateOptions>
Status ReadCommonSubstrateKeys(const Json& section, SubstrateOptions& o) {
  if (section.contains("cpus")) {
    ASSIGN_OR_RETURN(o.capacity_cpus, spec::PositiveNumber(section["cpus"], "compute.cpus"));
  }
  if (section.contains("sandbox")) {
    ASSIGN_OR_RETURN(std::string mode,
                     spec::OneOf(section["sandbox"], "compute.sandbox", {"auto", "on", "off"}));
    using Sandbox = decltype(o.sandbox);
    o.sandbox = mode == "on" ? Sandbox::kOn : mode == "off" ? Sandbox::kOff : Sandbox::kAuto;
  }
  if (section.contains("grace_seconds")) {
    ASSIGN_OR_RETURN(o.grace_seconds,
                     spec::Integer(section["grace_seconds"], "compute.grace_seconds", 0, 86'400));
  }
  return OkStatus();
}

}  // namespace tandem::compute::jobs
