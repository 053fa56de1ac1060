#include "compute/transform/fast_csv.h"

#include <charconv>
#include <cstdint>
#include <limits>
#include <system_error>

namespace tandem::compute::transform {
namespace {

constexpr float kPow10[] = {1e0f, 1e1f, 1e2f, 1e3f, 1e4f, 1e5f,
                            1e6f, 1e7f, 1e8f, 1e9f, 1e10f};
constexpr uint64_t kExactMantissa = uint64_t{1} << 24;

inline bool IsDigit(char c) { return static_cast<unsigned char>(c - '0') < 10; }

// One field starting at p, ending at the first ',' / '\r' / end. On success
// *next is the character after the field.
inline bool Field(const char* p, const char* end, float* value, const char** next) {
  const char* start = p;
  bool negative = false;
  if (p < end && *p == '-') {
    negative = true;
    ++p;
  }
  uint64_t m = 0;
  int digits = 0;      // significant digits in m
  int exponent = 0;    // decimal exponent of m's last digit
  bool any = false;    // at least one mantissa digit
  bool exact = true;   // m holds every digit
  for (; p < end && IsDigit(*p); ++p) {
    any = true;
    if (digits < 19) {
      m = m * 10 + static_cast<uint64_t>(*p - '0');
      if (m != 0) ++digits;
    } else {
      exact = false;
    }
  }
  if (p < end && *p == '.') {
    ++p;
    for (; p < end && IsDigit(*p); ++p) {
      any = true;
      if (digits < 19) {
        m = m * 10 + static_cast<uint64_t>(*p - '0');
        if (m != 0) ++digits;
        --exponent;
      } else {
        exact = false;
      }
    }
  }
  if (!any) return false;
  if (p < end && (*p == 'e' || *p == 'E')) {
    ++p;
    bool eneg = false;
    if (p < end && (*p == '-' || *p == '+')) eneg = *p++ == '-';
    if (p >= end || !IsDigit(*p)) return false;
    int e = 0;
    for (; p < end && IsDigit(*p); ++p) {
      if (e < 10000) e = e * 10 + (*p - '0');
    }
    exponent += eneg ? -e : e;
  }
  if (p < end && *p != ',' && *p != '\r') return false;
  *next = p;
  if (exact && m < kExactMantissa && exponent >= -10 && exponent <= 10) {
    float v = static_cast<float>(m);
    v = exponent < 0 ? v / kPow10[-exponent] : v * kPow10[exponent];
    *value = negative ? -v : v;
    return true;
  }
  auto [q, ec] = std::from_chars(start, p, *value);
  return ec == std::errc() && q == p;
}

}  // namespace

bool ParseFloatFast(const char* p, const char* end, float* value) {
  const char* next = nullptr;
  return Field(p, end, value, &next) && next == end;
}

bool ParseCsvLineFast(const char* p, const char* end, int nf, float* row) {
  if (p < end && end[-1] == '\r') --end;
  if (p == end) return false;  // blank: the general path skips it
  int col = 0;
  while (true) {
    if (col >= nf) return false;  // too many columns: the general path reports it
    const char* next = nullptr;
    if (!Field(p, end, &row[col], &next)) return false;
    ++col;
    if (next == end) break;
    if (*next != ',') return false;
    p = next + 1;
  }
  for (; col < nf; ++col) row[col] = std::numeric_limits<float>::quiet_NaN();
  return true;
}

}  // namespace tandem::compute::transform
