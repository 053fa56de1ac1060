#include "compute/transform/csv_scan.h"

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "compute/transform/fast_csv.h"

namespace tandem::compute::transform {
namespace {

uint32_t Bits(float v) {
  uint32_t b;
  std::memcpy(&b, &v, sizeof(b));
  return b;
}

struct ScannedLine {
  size_t begin = 0, end = 0;  // offsets of the line (without '\n')
  bool parsed = false;
  std::vector<float> row;
};

std::vector<ScannedLine> Scan(const char* begin, const char* end, int nf) {
  std::vector<ScannedLine> out;
  CsvLineScanner scanner(begin, end);
  while (true) {
    ScannedLine l;
    l.row.assign(static_cast<size_t>(nf), -7.0f);
    const char *b, *e;
    const CsvLineScanner::Line kind = scanner.Next(nf, l.row.data(), &b, &e);
    if (kind == CsvLineScanner::Line::kEnd) break;
    l.begin = static_cast<size_t>(b - begin);
    l.end = static_cast<size_t>(e - begin);
    l.parsed = kind == CsvLineScanner::Line::kParsed;
    out.push_back(std::move(l));
  }
  return out;
}

// The scanner finds the same lines as splitting at '\n' and decides each line
// as ParseCsvLineFast does, with the same floats bit for bit.
void ExpectSameAsLineParser(const char* begin, const char* end, int nf) {
  const std::vector<ScannedLine> got = Scan(begin, end, nf);
  size_t i = 0;
  std::vector<float> want(static_cast<size_t>(nf));
  for (const char* p = begin; p < end; ++i) {
    const char* nl = static_cast<const char*>(std::memchr(p, '\n', static_cast<size_t>(end - p)));
    const char* e = nl == nullptr ? end : nl;
    const std::string line(p, e);
    SCOPED_TRACE("line " + std::to_string(i + 1) + " '" + line + "'");
    ASSERT_LT(i, got.size());
    EXPECT_EQ(got[i].begin, static_cast<size_t>(p - begin));
    EXPECT_EQ(got[i].end, static_cast<size_t>(e - begin));
    const bool parsed = ParseCsvLineFast(p, e, end, nf, want.data());
    ASSERT_EQ(got[i].parsed, parsed);
    for (int k = 0; parsed && k < nf; ++k) {
      ASSERT_EQ(Bits(got[i].row[k]), Bits(want[k])) << "column " << k + 1;
    }
    p = e + 1;
  }
  EXPECT_EQ(got.size(), i);
}

void ExpectSameAsLineParser(const std::string& text, int nf) {
  ExpectSameAsLineParser(text.data(), text.data() + text.size(), nf);
}

class CsvScanTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!CsvLineScanner::Supported()) GTEST_SKIP() << "no AVX-512 VBMI2 on this CPU";
  }
};

TEST_F(CsvScanTest, Lines) {
  const std::string text = "1,-2.5,3e2,.5\n1,2\r\n\n 1,2\n1,2,3,4,5\n-0,5.,-.25,0.0000000001\n7";
  const std::vector<ScannedLine> got = Scan(text.data(), text.data() + text.size(), 4);
  ASSERT_EQ(got.size(), 7u);
  ASSERT_TRUE(got[0].parsed);
  EXPECT_EQ(got[0].row, (std::vector<float>{1.0f, -2.5f, 300.0f, 0.5f}));
  ASSERT_TRUE(got[1].parsed);  // CRLF; absent trailing columns are missing
  EXPECT_EQ(text.substr(got[1].begin, got[1].end - got[1].begin), "1,2\r");
  EXPECT_EQ(got[1].row[1], 2.0f);
  EXPECT_TRUE(std::isnan(got[1].row[2]) && std::isnan(got[1].row[3]));
  EXPECT_FALSE(got[2].parsed);  // blank
  EXPECT_EQ(got[2].begin, got[2].end);
  EXPECT_FALSE(got[3].parsed);  // a space
  EXPECT_FALSE(got[4].parsed);  // too many columns
  ASSERT_TRUE(got[5].parsed);
  EXPECT_EQ(Bits(got[5].row[0]), Bits(-0.0f));
  EXPECT_EQ(got[5].row[1], 5.0f);
  EXPECT_EQ(got[5].row[2], -0.25f);
  EXPECT_EQ(got[5].row[3], 1e-10f);
  ASSERT_TRUE(got[6].parsed);  // no final '\n'
  EXPECT_EQ(got[6].row[0], 7.0f);
  EXPECT_EQ(got[6].end, text.size());
  EXPECT_TRUE(Scan(text.data(), text.data(), 4).empty());
  const std::string one_blank = "\n";
  ASSERT_EQ(Scan(one_blank.data(), one_blank.data() + 1, 4).size(), 1u);
}

TEST_F(CsvScanTest, OddLinesDecideAsTheLineParser) {
  const std::string odd =
      "\n\r\n\r\r\n \n1,2,3,4,5\n1,,3\n1,2,\n,1\n1, 2\n 1,2\n1,2 \n1,2\r\r\n1,x\n1,nan\n"
      "\"1\",2\n1;2\n1,2\t\n+1,2\n1e5,2E-3,1e+2,1e\n1.2.3\n--1\n1-\n-\n.\n-.\n5.\n.5\n"
      "0.00000000001\n0.0000000001\n16777215,16777216,16777217,-16777215\n"
      "1234567890123456,12345678901234567,0000000000000001,00000000000000001\n"
      "123456789.1234567,1234567.123456789,-9999999.99999999\n"
      "0.000000000000000000000000000001,3.4028236e38,1e-46\n"
      "1\r2,3\n1,2\r,3\n\r1\n";
  for (int nf : {1, 2, 4, 5}) {
    SCOPED_TRACE("nf " + std::to_string(nf));
    ExpectSameAsLineParser(odd, nf);
    ExpectSameAsLineParser(odd.substr(0, odd.size() - 1), nf);  // no final '\n'
    if (HasFatalFailure()) return;
  }
}

// Random lines in many number formats, crossing 64-byte blocks anywhere.
TEST_F(CsvScanTest, RandomLinesEqualTheLineParser) {
  std::mt19937 rng(11);
  std::normal_distribution<float> normal(0, 1);
  std::uniform_real_distribution<double> log_scale(-40, 38);
  const char* formats[] = {"%.6g", "%.9g", "%g", "%.3f", "%e", "%.17g", "%.1f", "%.12e", "%.0f"};
  std::string text;
  char buf[64];
  for (int line = 0; line < 20000; ++line) {
    const int fields = 1 + static_cast<int>(rng() % 24);
    for (int k = 0; k < fields; ++k) {
      if (k > 0) text += ',';
      float x = normal(rng);
      if (rng() % 3 == 0) x = static_cast<float>(std::pow(10.0, log_scale(rng)));
      if (rng() % 2 == 0) x = -x;
      std::snprintf(buf, sizeof(buf), formats[rng() % 9], static_cast<double>(x));
      text += buf;
      if (rng() % 500 == 0) text += " x"[rng() % 2];  // an odd field now and then
    }
    if (rng() % 50 == 0) text += '\r';
    text += '\n';
  }
  for (int nf : {8, 24}) {
    ExpectSameAsLineParser(text, nf);
    if (HasFatalFailure()) return;
  }
}

// Rows wider than 64 columns (declined fields past column 64 are noted
// apart), with exponents, long fields and odd ones anywhere.
TEST_F(CsvScanTest, WideLinesEqualTheLineParser) {
  std::mt19937 rng(13);
  std::string text;
  const char* fields[] = {"1", "-2.5", "1e5", "-3.25E-2", "123456789012345678", "0.1234567890123",
                          ".5", "7.", "x", "", " 1", "16777217"};
  for (int line = 0; line < 3000; ++line) {
    const int n = 1 + static_cast<int>(rng() % 200);
    for (int k = 0; k < n; ++k) {
      if (k > 0) text += ',';
      // Mostly plain numbers, so that many lines are parsed.
      text += fields[rng() % 20 < 17 ? rng() % 8 : rng() % 12];
    }
    text += '\n';
  }
  for (int nf : {64, 65, 130, 200}) {
    SCOPED_TRACE("nf " + std::to_string(nf));
    ExpectSameAsLineParser(text, nf);
    if (HasFatalFailure()) return;
  }
}

// Every field the scanner takes is std::from_chars's float bit for bit; the
// engine's own %.6g-style inputs always take the fast path.
TEST_F(CsvScanTest, FieldsEqualFromChars) {
  std::mt19937 rng(5);
  std::normal_distribution<float> normal(0, 1);
  std::uniform_real_distribution<double> log_scale(-40, 38);
  const char* formats[] = {"%.6g", "%.9g", "%g", "%.3f", "%.7f", "%.17g", "%.1f", "%.10f"};
  char buf[64];
  float v;
  for (int i = 0; i < 400000; ++i) {
    float x = normal(rng);
    if (i % 3 == 1) x = static_cast<float>(std::pow(10.0, log_scale(rng))) * (i % 2 ? -1 : 1);
    const char* fmt = formats[i % 8];
    const int n = std::snprintf(buf, sizeof(buf), fmt, static_cast<double>(x));
    const std::vector<ScannedLine> got = Scan(buf, buf + n, 1);
    ASSERT_EQ(got.size(), 1u);
    auto [p, ec] = std::from_chars(buf, buf + n, v);
    SCOPED_TRACE(std::string("field '") + buf + "'");
    if (got[0].parsed) {
      ASSERT_TRUE(ec == std::errc() && p == buf + n);
      ASSERT_EQ(Bits(got[0].row[0]), Bits(v));
    }
    if (fmt[2] == '6' && std::fabs(x) > 1e-4f && std::fabs(x) < 1e6f) {
      ASSERT_TRUE(got[0].parsed);
    }
  }
}

// Fields are converted four at a time (one per 128-bit lane, a group
// declined as a whole is retried field by field): lines of 1..9 fields, so
// every group size and every position of an odd field within a group, each
// field std::from_chars's float bit for bit; lines of %.6g-style fields are
// always parsed.
TEST_F(CsvScanTest, FieldGroupsEqualFromChars) {
  std::mt19937 rng(17);
  std::normal_distribution<float> normal(0, 1);
  std::uniform_real_distribution<double> log_scale(-40, 38);
  const char* formats[] = {"%.6g", "%.9g", "%g", "%.3f", "%.7f", "%.17g", "%.1f", "%.10f", "%.0f"};
  const char* odd[] = {"5.", ".5", "-.5", "-0", "0000000000000001", "16777216", "16777217",
                       "-0.0000000001", "0.00000000001", "1e5", "123456789.5"};
  char buf[64];
  for (int line = 0; line < 30000; ++line) {
    const int nf = 1 + static_cast<int>(rng() % 9);
    const bool plain = line % 2 == 0;  // only %.6g of |x| in (1e-4, 1e6)
    std::vector<std::string> fields;
    std::string text;
    for (int k = 0; k < nf; ++k) {
      float x = normal(rng);
      std::string f;
      if (plain) {
        std::snprintf(buf, sizeof(buf), "%.6g", static_cast<double>(x));
        f = buf;
        if (std::fabs(x) <= 1e-4f) f = "0.5";
      } else if (rng() % 4 == 0) {
        f = odd[rng() % 11];
      } else {
        if (rng() % 3 == 0) x = static_cast<float>(std::pow(10.0, log_scale(rng)));
        if (rng() % 2 == 0) x = -x;
        std::snprintf(buf, sizeof(buf), formats[rng() % 9], static_cast<double>(x));
        f = buf;
      }
      if (k > 0) text += ',';
      text += f;
      fields.push_back(f);
    }
    SCOPED_TRACE("line '" + text + "'");
    const std::vector<ScannedLine> got = Scan(text.data(), text.data() + text.size(), nf);
    ASSERT_EQ(got.size(), 1u);
    if (plain) {
      ASSERT_TRUE(got[0].parsed);
    }
    if (!got[0].parsed) continue;
    for (int k = 0; k < nf; ++k) {
      const std::string& f = fields[static_cast<size_t>(k)];
      float v;
      auto [p, ec] = std::from_chars(f.data(), f.data() + f.size(), v);
      ASSERT_TRUE(ec == std::errc() && p == f.data() + f.size()) << "field '" << f << "'";
      ASSERT_EQ(Bits(got[0].row[static_cast<size_t>(k)]), Bits(v)) << "field '" << f << "'";
    }
  }
}

// Fields are loaded ending at their separators: text starting right after an
// unmapped page is never read before its start, every length.
TEST_F(CsvScanTest, NoReadBeforeTheStart) {
  const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  void* m = ::mmap(nullptr, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(m, MAP_FAILED);
  char* const begin = static_cast<char*>(m) + page;
  ASSERT_EQ(::mprotect(m, page, PROT_NONE), 0);
  const std::string rows = "-0.0753507,1.4174,1.37527\n5,-.5,6.\n0.826921,-0.705459,-1.22935\n9,8,7";
  std::memcpy(begin, rows.data(), rows.size());
  for (size_t len = 0; len <= rows.size(); ++len) {
    ExpectSameAsLineParser(begin, begin + len, 3);
    if (HasFatalFailure()) break;
  }
  ::munmap(m, 2 * page);
}

// The scanner never reads past the end of its range: text ending right
// before an unmapped page, every length, with and without a final '\n'.
TEST_F(CsvScanTest, NoReadPastTheEnd) {
  const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  void* m = ::mmap(nullptr, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(m, MAP_FAILED);
  char* const guard = static_cast<char*>(m) + page;
  ASSERT_EQ(::mprotect(guard, page, PROT_NONE), 0);
  const std::string rows = "-0.0753507,1.4174,1.37527\n0.826921,-0.705459,-1.22935\n9,8,7";
  for (size_t len = 0; len <= rows.size(); ++len) {
    char* begin = guard - len;
    std::memcpy(begin, rows.data(), len);
    ExpectSameAsLineParser(begin, guard, 3);
    if (HasFatalFailure()) break;
  }
  ::munmap(m, 2 * page);
}

}  // namespace
}  // namespace tandem::compute::transform
