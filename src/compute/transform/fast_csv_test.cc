#include "compute/transform/fast_csv.h"

#include <gtest/gtest.h>

#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

namespace tandem::compute::transform {
namespace {

uint32_t Bits(float v) {
  uint32_t b;
  std::memcpy(&b, &v, sizeof(b));
  return b;
}

// Whenever the fast parser accepts a field, its value is bit for bit
// std::from_chars's; a plain decimal it declines would only cost speed, but
// the common forms must take the fast path.
void ExpectSameAsFromChars(const std::string& s, bool must_accept) {
  SCOPED_TRACE("field '" + s + "'");
  float fast = 0, slow = 0;
  const bool ok = ParseFloatFast(s.data(), s.data() + s.size(), &fast);
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), slow);
  const bool slow_ok = ec == std::errc() && p == s.data() + s.size();
  if (ok) {
    ASSERT_TRUE(slow_ok);
    ASSERT_EQ(Bits(fast), Bits(slow));
  }
  if (must_accept) {
    ASSERT_TRUE(ok);
  }
}

TEST(FastCsv, FieldsEqualFromChars) {
  for (const char* s :
       {"0", "-0", "1", "-1", ".5", "5.", "0.5", "-.25", "1e10", "1e-10", "1e-11", "1e+5", "1E5",
        "3.4028235e38", "3.4028236e38", "1e39", "1e-45", "1e-46", "16777216", "16777217",
        "16777219", "123456789012345678901234", "0.00000000000000000000000000001",
        "0000000000000000000000000123.5", "9999999999999999999", "0.1", "0.2", "0.3",
        "1.00000005960464477539", "1.0000000596046447754", "7.038531e-26"}) {
    ExpectSameAsFromChars(s, false);
  }
  for (const char* s : {"0", "-0", "1", ".5", "5.", "1e10", "1e-10", "-1.23457e-05", "16777216"}) {
    ExpectSameAsFromChars(s, true);
  }
  // Not plain decimals, or malformed: declined (the general parser decides).
  for (const char* s : {"", "-", ".", "e5", "1e", "1e+", "+1", " 1", "1 ", "1.2.3", "nan", "inf",
                        "-inf", "0x10", "1,", "1\t"}) {
    float v = 0;
    EXPECT_FALSE(ParseFloatFast(s, s + std::strlen(s), &v)) << "'" << s << "'";
  }
  std::mt19937 rng(5);
  std::normal_distribution<float> normal(0, 1);
  std::uniform_real_distribution<double> log_scale(-40, 38);
  const char* formats[] = {"%.6g", "%.9g", "%g", "%.3f", "%e", "%.17g", "%.1f", "%.12e"};
  char buf[64];
  for (int i = 0; i < 200000; ++i) {
    float x = normal(rng);
    if (i % 3 == 1) x = static_cast<float>(std::pow(10.0, log_scale(rng))) * (i % 2 ? -1 : 1);
    const char* fmt = formats[i % 8];
    std::snprintf(buf, sizeof(buf), fmt, static_cast<double>(x));
    ExpectSameAsFromChars(buf, fmt[2] == '6' && std::fabs(x) > 1e-4f && std::fabs(x) < 1e6f);
    if (HasFatalFailure()) return;
  }
  // Shortest forms (what the engine itself writes) of random bit patterns.
  for (int i = 0; i < 200000; ++i) {
    const uint32_t bits = static_cast<uint32_t>(rng());
    float x;
    std::memcpy(&x, &bits, sizeof(x));
    if (!std::isfinite(x)) continue;
    auto r = std::to_chars(buf, buf + sizeof(buf), x);
    ExpectSameAsFromChars(std::string(buf, r.ptr), false);
    if (HasFatalFailure()) return;
  }
}

TEST(FastCsv, Lines) {
  float row[4];
  auto parse = [&](const std::string& line, int nf) {
    for (float& v : row) v = -7;
    const std::string padded = line + std::string(32, '7');  // readable past the line
    const bool ok = ParseCsvLineFast(line.data(), line.data() + line.size(),
                                     line.data() + line.size(), nf, row);
    float again[4];
    const bool padded_ok = ParseCsvLineFast(padded.data(), padded.data() + line.size(),
                                            padded.data() + padded.size(), nf, again);
    EXPECT_EQ(ok, padded_ok) << "'" << line << "'";
    for (int i = 0; ok && padded_ok && i < nf; ++i) {
      EXPECT_EQ(Bits(row[i]), Bits(again[i])) << "'" << line << "' column " << i;
    }
    return ok;
  };
  ASSERT_TRUE(parse("1,-2.5,3e2,.5", 4));
  EXPECT_EQ(row[0], 1.0f);
  EXPECT_EQ(row[1], -2.5f);
  EXPECT_EQ(row[2], 300.0f);
  EXPECT_EQ(row[3], 0.5f);
  ASSERT_TRUE(parse("1,2\r", 4));  // CRLF; absent trailing columns are missing
  EXPECT_EQ(row[1], 2.0f);
  EXPECT_TRUE(std::isnan(row[2]) && std::isnan(row[3]));
  // Everything else goes to the general parser (which skips, trims or reports).
  for (const char* line : {"", "\r", " ", "1,2,3,4,5", "1,,3", "1,2,", ",1", "1, 2", " 1,2",
                           "1,2 ", "1,2\r\r", "1,x", "1,nan", "\"1\",2", "1;2", "1,2\t"}) {
    EXPECT_FALSE(parse(line, 4)) << "'" << line << "'";
  }
}

}  // namespace
}  // namespace tandem::compute::transform
