#include "compute/transform/csv_scan.h"

#include <immintrin.h>

#include <cstring>
#include <limits>

#include "compute/transform/fast_csv.h"

// Everything that runs AVX-512 instructions carries this; the engine only
// constructs a scanner when Supported().
#define TANDEM_CSV_AVX512 \
  __attribute__((target("avx512f,avx512bw,avx512vl,avx512vbmi2,bmi,bmi2,popcnt")))

namespace tandem::compute::transform {
namespace {

constexpr float kPow10[] = {1e0f, 1e1f, 1e2f, 1e3f, 1e4f, 1e5f,
                            1e6f, 1e7f, 1e8f, 1e9f, 1e10f};

// The field [f, f + len), 1 <= len <= 16, if it is [-]digits[.digits] with
// at least one digit, its digits' value m < 2^24 and at most 10 of them after
// the point: m / 10^f, correctly rounded (both exact floats). Else false.
TANDEM_CSV_AVX512 inline bool VectorField(const char* f, size_t len, float* value) {
  const uint32_t in_field = _bzhi_u32(0xFFFF, static_cast<uint32_t>(len));
  // Masked: bytes past the field are neither read nor able to fault.
  const __m128i text = _mm_maskz_loadu_epi8(static_cast<__mmask16>(in_field), f);
  const __m128i values = _mm_sub_epi8(text, _mm_set1_epi8('0'));
  const __m128i ten = _mm_set1_epi8(10);
  const uint32_t digits = _mm_cmplt_epu8_mask(values, ten);  // zero bytes past the field: no
  const uint32_t dot = _mm_cmpeq_epi8_mask(text, _mm_set1_epi8('.'));
  const uint32_t minus =
      static_cast<uint32_t>(static_cast<uint8_t>(_mm_cvtsi128_si32(text)) == '-');
  // Digits after the point: those above the dot's bit (none without a dot).
  const int fraction = _mm_popcnt_u32(digits & (0u - (dot << 1)));
  // The digits least significant first (bytes reversed, then compressed to
  // the bottom; the rest zero), summed in base 100, 10^4, 10^8.
  const __m128i reversed =
      _mm_shuffle_epi8(values, _mm_setr_epi8(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0));
  const __m128i packed =
      _mm_maskz_compress_epi8(_mm_cmplt_epu8_mask(reversed, ten), reversed);
  const __m128i base100 = _mm_maddubs_epi16(packed, _mm_set1_epi16(0x0A01));
  const __m128i base1e4 = _mm_madd_epi16(base100, _mm_set1_epi32(0x00640001));
  const __m128i base1e8 =
      _mm_madd_epi16(_mm_packus_epi32(base1e4, base1e4), _mm_set1_epi32(0x27100001));
  const uint32_t low = static_cast<uint32_t>(_mm_cvtsi128_si32(base1e8));  // digits 0-7
  const uint32_t high = static_cast<uint32_t>(_mm_extract_epi32(base1e8, 1));  // digits 8-15
  if ((digits | dot | minus) != in_field || digits == 0 || (dot & (dot - 1)) != 0 || high != 0 ||
      low >= (1u << 24) || fraction > 10) {
    return false;
  }
  float v = static_cast<float>(low) / kPow10[fraction];
  uint32_t bits;
  std::memcpy(&bits, &v, sizeof(bits));
  bits |= minus << 31;
  std::memcpy(value, &bits, sizeof(bits));
  return true;
}

}  // namespace

bool CsvLineScanner::Supported() {
  static const bool supported = __builtin_cpu_supports("avx512f") &&
                                __builtin_cpu_supports("avx512bw") &&
                                __builtin_cpu_supports("avx512vl") &&
                                __builtin_cpu_supports("avx512vbmi2") &&
                                __builtin_cpu_supports("bmi") && __builtin_cpu_supports("bmi2") &&
                                __builtin_cpu_supports("popcnt");
  return supported;
}

CsvLineScanner::CsvLineScanner(const char* begin, const char* end)
    : begin_(begin), end_(end), size_(static_cast<size_t>(end - begin)) {
  if (size_ > 0) LoadBlock();
}

TANDEM_CSV_AVX512 void CsvLineScanner::LoadBlock() {
  const size_t left = size_ - block_;
  const __mmask64 valid = left >= 64 ? ~uint64_t{0} : _bzhi_u64(~uint64_t{0}, left);
  const __m512i block = _mm512_maskz_loadu_epi8(valid, begin_ + block_);
  newlines_ = _mm512_cmpeq_epi8_mask(block, _mm512_set1_epi8('\n'));
  separators_ = newlines_ | _mm512_cmpeq_epi8_mask(block, _mm512_set1_epi8(','));
}

TANDEM_CSV_AVX512 inline bool CsvLineScanner::NextSeparator(const char** at, bool* newline) {
  while (separators_ == 0) {
    if (size_ - block_ <= 64) {
      block_ = size_;
      return false;
    }
    block_ += 64;
    LoadBlock();
  }
  const uint64_t i = _tzcnt_u64(separators_);
  *at = begin_ + block_ + i;
  *newline = ((newlines_ >> i) & 1) != 0;
  separators_ = _blsr_u64(separators_);
  return true;
}

TANDEM_CSV_AVX512 CsvLineScanner::Line CsvLineScanner::Next(int nf, float* row,
                                                            const char** line,
                                                            const char** line_end) {
  if (line_ >= size_) return Line::kEnd;
  const char* const start = begin_ + line_;
  const char* field = start;
  int col = 0;
  bool ok = true;
  while (true) {
    const char* sep;
    bool newline;
    if (!NextSeparator(&sep, &newline)) {  // the last line, without '\n'
      sep = end_;
      newline = true;
    }
    const char* field_end = sep;
    if (newline && sep > field && sep[-1] == '\r') --field_end;  // CRLF
    if (ok) {
      if (col >= nf) {
        ok = false;  // too many columns: the general parser reports it
      } else {
        const size_t len = static_cast<size_t>(field_end - field);
        ok = (len - 1 < 16 && VectorField(field, len, &row[col])) ||
             ParseFieldFast(field, field_end, end_, &row[col]);
        ++col;
      }
    }
    if (newline) {
      *line = start;
      *line_end = sep;
      line_ = static_cast<size_t>(sep - begin_) + 1;
      if (!ok) return Line::kOther;
      for (; col < nf; ++col) row[col] = std::numeric_limits<float>::quiet_NaN();
      return Line::kParsed;
    }
    field = sep + 1;
  }
}

}  // namespace tandem::compute::transform
