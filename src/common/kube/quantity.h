// Kubernetes resource quantities (resource.Quantity): the grammar the API
// server accepts and the canonical strings tandem writes for CPUs, MiB and
// plain numbers (an HPA metric target).
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/json.h"
#include "common/status.h"

namespace tandem::kube {

// True if `s` is a quantity: <sign?><digits>[.<digits>]<suffix>, the suffix
// one of Ki Mi Gi Ti Pi Ei, n u m "" k M G T P E, or e|E<signed integer>.
bool IsQuantity(std::string_view s);

// CPUs as a quantity, rounded up to whole millicores: 2 -> "2", 0.5 -> "500m",
// 1.0001 -> "1001m". `cpus` must be > 0 (InvalidArgument otherwise).
StatusOr<std::string> CpuQuantity(double cpus);
// Mebibytes as a quantity: 512 -> "512Mi". `mib` must be > 0.
StatusOr<std::string> MemoryQuantity(int64_t mib);
// A non-negative number as a quantity, exact to the milli: 4 -> "4",
// 2.5 -> "2500m", 0.01 -> "10m" (rounded up to 1m).
StatusOr<std::string> NumberQuantity(double v);

// A spec value given as a quantity: a string that IsQuantity, or a positive
// number (rendered by NumberQuantity). Errors name `path`.
StatusOr<std::string> QuantityField(const Json& v, const std::string& path);

}  // namespace tandem::kube
