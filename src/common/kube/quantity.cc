#include "common/kube/quantity.h"

#include <cmath>

#include "common/spec_fields.h"

namespace tandem::kube {
namespace {

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

bool IsSuffix(std::string_view s) {
  static constexpr std::string_view kSuffixes[] = {"Ki", "Mi", "Gi", "Ti", "Pi", "Ei", "n", "u",
                                                   "m",  "",   "k",  "M",  "G",  "T",  "P", "E"};
  for (std::string_view k : kSuffixes) {
    if (s == k) return true;
  }
  if (s.empty() || (s[0] != 'e' && s[0] != 'E')) return false;
  s.remove_prefix(1);
  if (!s.empty() && (s[0] == '+' || s[0] == '-')) s.remove_prefix(1);
  if (s.empty()) return false;
  for (char c : s) {
    if (!IsDigit(c)) return false;
  }
  return true;
}

}  // namespace

bool IsQuantity(std::string_view s) {
  if (s.empty() || s.size() > 64) return false;
  size_t i = 0;
  if (s[i] == '+' || s[i] == '-') ++i;
  size_t digits = 0;
  while (i < s.size() && IsDigit(s[i])) ++i, ++digits;
  if (i < s.size() && s[i] == '.') {
    ++i;
    while (i < s.size() && IsDigit(s[i])) ++i, ++digits;
  }
  if (digits == 0) return false;
  return IsSuffix(s.substr(i));
}

StatusOr<std::string> NumberQuantity(double v) {
  if (!std::isfinite(v) || v < 0 || v > 1e15) {
    return InvalidArgumentError("a quantity must be a finite number >= 0, got " +
                                std::to_string(v));
  }
  auto milli = static_cast<int64_t>(std::ceil(v * 1000 - 1e-6));
  if (milli % 1000 == 0) return std::to_string(milli / 1000);
  return std::to_string(milli) + "m";
}

StatusOr<std::string> CpuQuantity(double cpus) {
  if (!(cpus > 0)) return InvalidArgumentError("cpus must be > 0");
  return NumberQuantity(cpus);
}

StatusOr<std::string> MemoryQuantity(int64_t mib) {
  if (mib <= 0) return InvalidArgumentError("memory must be > 0 MiB");
  return std::to_string(mib) + "Mi";
}

StatusOr<std::string> QuantityField(const Json& v, const std::string& path) {
  if (v.is_number()) {
    double d = v.get<double>();
    if (!(d > 0)) return InvalidArgumentError("'" + path + "' must be > 0");
    return NumberQuantity(d);
  }
  if (!v.is_string()) return spec::TypeError(path, "a quantity (\"500m\", \"2Gi\")", v);
  std::string s = v.get<std::string>();
  if (!IsQuantity(s)) {
    return InvalidArgumentError("'" + path + "' is not a Kubernetes quantity (like \"500m\", " +
                                "\"1.5\", \"2Gi\"), got \"" + s.substr(0, 64) + "\"");
  }
  return s;
}

}  // namespace tandem::kube
