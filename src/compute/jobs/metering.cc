#include "compute/jobs/metering.h"

#include <algorithm>
#include <cmath>

namespace tandem::compute::jobs {
namespace {

Status ParseRates(const Json& j, const std::string& path, Rates& rates) {
  if (!j.is_object()) {
    return InvalidArgumentError("'" + path + "' must be a mapping {cpu_hour, memory_gb_hour}");
  }
  for (const auto& [k, v] : j.items()) {
    double* field = k == "cpu_hour"         ? &rates.cpu_hour
                    : k == "memory_gb_hour" ? &rates.memory_gb_hour
                                            : nullptr;
    if (field == nullptr) return InvalidArgumentError("unknown field '" + path + "." + k + "'");
    if (!v.is_number() || !std::isfinite(v.get<double>()) || v.get<double>() < 0) {
      return InvalidArgumentError("'" + path + "." + k + "' must be a number >= 0, got " +
                                  v.dump());
    }
    *field = v.get<double>();
  }
  return OkStatus();
}

bool ValidTeam(std::string_view s) {
  if (s.empty() || s.size() > 64) return false;
  for (char c : s) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-')) return false;
  }
  return true;
}

double NonNegative(double v) { return std::isfinite(v) && v > 0 ? v : 0; }

}  // namespace

const Rates& PriceTable::For(const std::string& team) const {
  auto it = teams.find(team);
  return it == teams.end() ? defaults : it->second;
}

StatusOr<PriceTable> PriceTable::FromJson(const Json& pricing) {
  PriceTable t;
  if (pricing.is_null()) return t;
  if (!pricing.is_object()) return InvalidArgumentError("'pricing' must be a mapping");
  for (const auto& [k, v] : pricing.items()) {
    if (k != "default" && k != "teams") {
      return InvalidArgumentError("unknown field 'pricing." + k + "'");
    }
  }
  if (pricing.contains("default") && !pricing["default"].is_null()) {
    RETURN_IF_ERROR(ParseRates(pricing["default"], "pricing.default", t.defaults));
  }
  if (pricing.contains("teams") && !pricing["teams"].is_null()) {
    const Json& teams = pricing["teams"];
    if (!teams.is_object()) return InvalidArgumentError("'pricing.teams' must be a mapping");
    for (const auto& [team, v] : teams.items()) {
      if (!ValidTeam(team)) {
        return InvalidArgumentError("'pricing.teams." + team +
                                    "': team must match [a-z0-9_-]{1,64}");
      }
      Rates r = t.defaults;
      RETURN_IF_ERROR(ParseRates(v, "pricing.teams." + team, r));
      t.teams[team] = r;
    }
  }
  return t;
}

Json PriceTable::ToJson() const {
  auto rates = [](const Rates& r) {
    return Json{{"cpu_hour", r.cpu_hour}, {"memory_gb_hour", r.memory_gb_hour}};
  };
  Json j = {{"default", rates(defaults)}, {"teams", Json::object()}};
  for (const auto& [team, r] : teams) j["teams"][team] = rates(r);
  return j;
}

double Cost(const PriceTable& prices, const std::string& team, double cpu_seconds,
            double wall_seconds, int64_t peak_rss_bytes, double requested_cpus,
            int64_t requested_memory_mb) {
  const Rates& r = prices.For(team);
  double wall = NonNegative(wall_seconds);
  double cpu = std::max(NonNegative(requested_cpus) * wall, NonNegative(cpu_seconds));
  double gib = requested_memory_mb > 0 ? static_cast<double>(requested_memory_mb) / 1024.0
                                       : static_cast<double>(std::max<int64_t>(peak_rss_bytes, 0)) /
                                             (1024.0 * 1024 * 1024);
  double cost = cpu / 3600.0 * r.cpu_hour + gib * wall / 3600.0 * r.memory_gb_hour;
  return std::round(cost * 1e6) / 1e6;
}

}  // namespace tandem::compute::jobs
