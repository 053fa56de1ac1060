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
// the point: *mantissa = +-m and *divisor = 10^f, both exact floats (the
// caller divides a row at a time: one correctly rounded division). Else false.
TANDEM_CSV_AVX512 inline bool VectorField(const char* f, size_t len, float* mantissa,
                                          float* divisor) {
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
  float m = static_cast<float>(low);
  uint32_t bits;
  std::memcpy(&bits, &m, sizeof(bits));
  bits |= minus << 31;  // -0 stays -0
  std::memcpy(mantissa, &bits, sizeof(bits));
  *divisor = kPow10[fraction];
  return true;
}

// row[i] /= divisor[i] for i < n: +-m / 10^f correctly rounded, which is
// the decimal's float (Clinger); a divisor of 1 leaves a value as it is.
TANDEM_CSV_AVX512 inline void DivideRow(float* row, const float* divisor, int n) {
  for (int i = 0; i < n; i += 16) {
    const __mmask16 k = static_cast<__mmask16>(_bzhi_u32(0xFFFF, static_cast<uint32_t>(n - i)));
    const __m512 v = _mm512_maskz_loadu_ps(k, row + i);
    const __m512 d = _mm512_maskz_loadu_ps(k, divisor + i);
    _mm512_mask_storeu_ps(row + i, k, _mm512_maskz_div_ps(k, v, d));
  }
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
  if (size_ > 0) Load(begin_, size_, &separators_, &newlines_);
}

// The ',' and '\n' bits of the 64 bytes at p (of which `left` are ours).
TANDEM_CSV_AVX512 void CsvLineScanner::Load(const char* p, size_t left, uint64_t* separators,
                                            uint64_t* newlines) {
  const __mmask64 valid = left >= 64 ? ~uint64_t{0} : _bzhi_u64(~uint64_t{0}, left);
  const __m512i block = _mm512_maskz_loadu_epi8(valid, p);
  *newlines = _mm512_cmpeq_epi8_mask(block, _mm512_set1_epi8('\n'));
  *separators = *newlines | _mm512_cmpeq_epi8_mask(block, _mm512_set1_epi8(','));
}

// The field of column `col` of the line [start, end) (the line has more
// than `col` columns), a trailing '\r' of the last one left out.
static void FindField(const char* start, const char* end, int col, const char** field,
               const char** field_end) {
  const char* p = start;
  for (int c = 0; c < col; ++c) {
    p = static_cast<const char*>(std::memchr(p, ',', static_cast<size_t>(end - p))) + 1;
  }
  const char* e = static_cast<const char*>(std::memchr(p, ',', static_cast<size_t>(end - p)));
  if (e == nullptr) {
    e = end;
    if (e > p && e[-1] == '\r') --e;
  }
  *field = p;
  *field_end = e;
}

// The hot loop keeps its state in locals and makes no calls: a field the
// vector path declines is only noted (`declined`), and parsed after the line
// by ParseFieldFast.
TANDEM_CSV_AVX512 CsvLineScanner::Line CsvLineScanner::Next(int nf, float* row,
                                                            const char** line,
                                                            const char** line_end) {
  if (line_ >= size_) return Line::kEnd;
  if (divisors_.size() < static_cast<size_t>(nf)) divisors_.resize(static_cast<size_t>(nf));
  float* const divisor = divisors_.data();
  const char* const begin = begin_;
  const size_t size = size_;
  size_t block = block_;
  uint64_t separators = separators_, newlines = newlines_;
  const char* const start = begin + line_;
  const char* field = start;
  const char* sep;
  int col = 0;
  uint64_t declined = 0;  // columns < 64 for ParseFieldFast
  bool declined_high = false;  // any column >= 64 (in declined_high_)
  bool other = false;     // too many columns: the general parser reports it
  while (true) {
    while (separators == 0) {
      if (size - block <= 64) {  // the last line, without '\n'
        block = size;
        break;
      }
      block += 64;
      Load(begin + block, size - block, &separators, &newlines);
    }
    bool newline = true;
    sep = end_;
    if (separators != 0) {
      const uint64_t i = _tzcnt_u64(separators);
      sep = begin + block + i;
      newline = ((newlines >> i) & 1) != 0;
      separators = _blsr_u64(separators);
    }
    const char* field_end = sep;
    if (newline && sep > field && sep[-1] == '\r') --field_end;  // CRLF
    if (col < nf) {
      const size_t len = static_cast<size_t>(field_end - field);
      if (!(len - 1 < 16 && VectorField(field, len, &row[col], &divisor[col]))) {
        if (col < 64) {
          declined |= uint64_t{1} << col;
        } else {  // wide rows: the rest of the columns in words
          const size_t word = static_cast<size_t>(col - 64) / 64;
          if (!declined_high) {
            declined_high_.assign(static_cast<size_t>(nf) / 64 + 1, 0);
            declined_high = true;
          }
          declined_high_[word] |= uint64_t{1} << (col % 64);
        }
      }
    } else {
      other = true;  // too many columns: the general parser reports it
    }
    ++col;
    if (newline) break;
    field = sep + 1;
  }
  block_ = block;
  separators_ = separators;
  newlines_ = newlines;
  *line = start;
  *line_end = sep;
  line_ = static_cast<size_t>(sep - begin) + 1;
  if (other) return Line::kOther;
  for (; declined != 0; declined = _blsr_u64(declined)) {
    const int c = static_cast<int>(_tzcnt_u64(declined));
    const char *f, *e;
    FindField(start, sep, c, &f, &e);
    if (!ParseFieldFast(f, e, end_, &row[c])) return Line::kOther;
    divisor[c] = 1.0f;
  }
  for (size_t w = 0; declined_high && w < declined_high_.size(); ++w) {
    for (uint64_t bits = declined_high_[w]; bits != 0; bits = _blsr_u64(bits)) {
      const int c = 64 + static_cast<int>(w * 64 + _tzcnt_u64(bits));
      const char *f, *e;
      FindField(start, sep, c, &f, &e);
      if (!ParseFieldFast(f, e, end_, &row[c])) return Line::kOther;
      divisor[c] = 1.0f;
    }
  }
  DivideRow(row, divisor, col);
  for (; col < nf; ++col) row[col] = std::numeric_limits<float>::quiet_NaN();
  return Line::kParsed;
}

}  // namespace tandem::compute::transform
