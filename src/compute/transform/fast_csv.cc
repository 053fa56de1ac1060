#include "compute/transform/fast_csv.h"

#include <charconv>
#include <cstdint>
#include <cstring>
#include <string>
#include <limits>
#include <system_error>

namespace tandem::compute::transform {
namespace {

constexpr float kPow10[] = {1e0f, 1e1f, 1e2f, 1e3f, 1e4f, 1e5f,
                            1e6f, 1e7f, 1e8f, 1e9f, 1e10f};
constexpr uint64_t kExactMantissa = uint64_t{1} << 24;

inline bool IsDigit(char c) { return static_cast<unsigned char>(c - '0') < 10; }

inline uint64_t Load8(const char* p) {
  uint64_t w;
  std::memcpy(&w, p, sizeof(w));
  return w;
}

// The number of leading ASCII digits in the 8 bytes w (first byte lowest).
inline int LeadingDigits(uint64_t w) {
  const uint64_t a = (w & 0xF0F0F0F0F0F0F0F0ull) ^ 0x3030303030303030ull;
  const uint64_t b = ((w + 0x0606060606060606ull) & 0xF0F0F0F0F0F0F0F0ull) ^ 0x3030303030303030ull;
  const uint64_t bad = a | b;
  return bad == 0 ? 8 : __builtin_ctzll(bad) / 8;
}

// The value of the first n (1..7) digits of w.
inline uint64_t DigitsValue(uint64_t w, int n) {
  uint64_t v = (w - 0x3030303030303030ull) << (8 * (8 - n));  // "000ddddd"
  v = (v * 10) + (v >> 8);
  return (((v & 0x000000FF000000FFull) * (100 + (1000000ull << 32))) +
          (((v >> 16) & 0x000000FF000000FFull) * (1 + (10000ull << 32)))) >>
         32;
}

// m x 10^exponent, correctly rounded (m < 2^24, |exponent| <= 10), negated
// if `negative` (by the sign bit: no branch on a random sign).
inline float Scale(uint64_t m, int exponent, bool negative) {
  float v = static_cast<float>(m);
  v = exponent < 0 ? v / kPow10[-exponent] : v * kPow10[exponent];
  uint32_t bits;
  std::memcpy(&bits, &v, sizeof(bits));
  bits |= static_cast<uint32_t>(negative) << 31;
  std::memcpy(&v, &bits, sizeof(v));
  return v;
}

// One field starting at p, ending at the first ',' / '\r' / end; bytes up
// to `limit` (>= end) may be read. On success *next is the character after
// the field.
__attribute__((always_inline)) inline bool Field(const char* p, const char* end,
                                                const char* limit, float* value,
                                                const char** next) {
  const char* start = p;
  bool negative = false;
  if (p < end && *p == '-') {
    negative = true;
    ++p;
  }
  // Common case, 8 bytes at a time: up to 7 integer digits [. up to 7
  // digits] then the field's end (no exponent).
  if (limit - p >= 16) {
    const int n1 = LeadingDigits(Load8(p));
    if (n1 < 8) {
      const char* q = p + n1;
      uint64_t m = n1 > 0 ? DigitsValue(Load8(p), n1) : 0;
      int n2 = 0;
      if (q < end && *q == '.') {
        n2 = LeadingDigits(Load8(q + 1));
        if (n2 > 0 && n2 < 8) {
          static constexpr uint64_t kScale[] = {1, 10, 100, 1000, 10000, 100000, 1000000, 10000000};
          m = m * kScale[n2] + DigitsValue(Load8(q + 1), n2);
        }
        q += 1 + n2;
      }
      if (n2 < 8 && n1 + n2 > 0 && m < kExactMantissa && q <= end &&
          (q == end || *q == ',' || *q == '\r')) {
        *value = Scale(m, -n2, negative);
        *next = q;
        return true;
      }
    }
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
    *value = Scale(m, exponent, negative);
    return true;
  }
  auto [q, ec] = std::from_chars(start, p, *value);
  return ec == std::errc() && q == p;
}

}  // namespace

bool ParseFloatFast(const char* p, const char* end, float* value) {
  // Padded, so the 8-byte path is taken too.
  std::string padded(p, end);
  const size_t size = padded.size();
  padded.append(32, 'x');
  const char* next = nullptr;
  return Field(padded.data(), padded.data() + size, padded.data() + padded.size(), value, &next) &&
         next == padded.data() + size;
}

bool ParseFieldFast(const char* p, const char* end, const char* limit, float* value) {
  const char* next = nullptr;
  return Field(p, end, limit, value, &next) && next == end;
}

bool ParseCsvLineFast(const char* p, const char* end, const char* limit, int nf, float* row) {
  if (p < end && end[-1] == '\r') --end;
  if (p == end) return false;  // blank: the general path skips it
  int col = 0;
  while (true) {
    if (col >= nf) return false;  // too many columns: the general path reports it
    const char* next = nullptr;
    if (!Field(p, end, limit, &row[col], &next)) return false;
    ++col;
    if (next == end) break;
    if (*next != ',') return false;
    p = next + 1;
  }
  for (; col < nf; ++col) row[col] = std::numeric_limits<float>::quiet_NaN();
  return true;
}

}  // namespace tandem::compute::transform
