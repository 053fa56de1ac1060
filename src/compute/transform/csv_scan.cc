#include "compute/transform/csv_scan.h"

#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <limits>

#include "compute/transform/fast_csv.h"

// Everything that runs AVX-512 instructions carries this; the engine only
// constructs a scanner when Supported().
#define TANDEM_CSV_AVX512 \
  __attribute__((target("avx512f,avx512bw,avx512vl,avx512vbmi2,bmi,bmi2,popcnt")))

namespace tandem::compute::transform {
namespace {

// kPow10Plus1[f + 1] = 10^f, and 1 for 0 ('no point'): 16 entries, one
// 512-bit register (those past 10^10 are never used).
constexpr float kPow10Plus1[16] = {1e0f, 1e0f, 1e1f, 1e2f, 1e3f, 1e4f, 1e5f, 1e6f,
                                   1e7f, 1e8f, 1e9f, 1e10f, 1.0f, 1.0f, 1.0f, 1.0f};
constexpr float kPow10[16] = {1e0f, 1e1f, 1e2f, 1e3f, 1e4f, 1e5f, 1e6f, 1e7f,
                              1e8f, 1e9f, 1e10f, 1.0f, 1.0f, 1.0f, 1.0f, 1.0f};

// The field [f, f + len), 1 <= len <= 16, if it is [-]digits[.digits] with
// at least one digit, its digits' value m < 2^24 and at most 10 of them after
// the point: *mantissa = +-m and *divisor = 10^f, both exact floats (the
// caller divides: one correctly rounded division). Else false. The one-field
// path, for a group VectorFields4 declines.
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

// Bit 16k of the result: whether lane k (bits 16k..16k+15) of `x` has any bit.
inline uint64_t LaneAny(uint64_t x) {
  x |= x >> 8;
  x |= x >> 4;
  x |= x >> 2;
  x |= x >> 1;
  return x & 0x0001000100010001ull;
}

// Up to four fields at once, one per 128-bit lane: field k is [end[k] -
// len[k], end[k]) with 1 <= len[k] <= 16 (k < n <= 4). If every one is
// [-]digits[.digits] (the same forms VectorField takes: at least one digit,
// at most one '.', '-' only first) with its digits' value m < 2^24 and at
// most 10 digits after the point, row[k] = +-m / 10^f (one correctly rounded
// division: the decimal's float, Clinger's fast path) for k < n and true;
// else false and the caller takes the fields one by one.
//
// Each field is loaded right-aligned in its lane (a masked load ending at
// the separator: nothing before the field is read, so nothing can fault),
// so its last digit is byte 15 whatever its length. The '.' is closed up by
// taking the bytes up to it from the lane shifted by one byte; the digits,
// their non-digits zeroed, are then one base-10 number per lane summed by
// three multiply-adds for all four fields.
TANDEM_CSV_AVX512 inline bool VectorFields4(const char* const* end, const uint32_t* len, int n,
                                            float* row) {
  uint32_t lane[4] = {0, 0, 0, 0};
  const char* at[4] = {end[0], end[0], end[0], end[0]};
  for (int k = 0; k < n; ++k) {
    lane[k] = (0xFFFFu << (16 - len[k])) & 0xFFFFu;
    // 16 bytes ending at the separator; the address may lie before the
    // range (only the field's bytes are loaded), so it is computed as an
    // integer, not by pointer arithmetic out of the range.
    at[k] = reinterpret_cast<const char*>(reinterpret_cast<uintptr_t>(end[k]) - 16);
  }
  // Masked loads: bytes outside the field are neither read nor able to fault.
  __m512i text = _mm512_castsi128_si512(
      _mm_maskz_loadu_epi8(static_cast<__mmask16>(lane[0]), at[0]));
  text = _mm512_inserti32x4(text, _mm_maskz_loadu_epi8(static_cast<__mmask16>(lane[1]), at[1]), 1);
  text = _mm512_inserti32x4(text, _mm_maskz_loadu_epi8(static_cast<__mmask16>(lane[2]), at[2]), 2);
  text = _mm512_inserti32x4(text, _mm_maskz_loadu_epi8(static_cast<__mmask16>(lane[3]), at[3]), 3);
  const uint64_t in_field = uint64_t{lane[0]} | uint64_t{lane[1]} << 16 |
                            uint64_t{lane[2]} << 32 | uint64_t{lane[3]} << 48;
  const __m512i values = _mm512_sub_epi8(text, _mm512_set1_epi8('0'));
  const uint64_t digits = _mm512_cmplt_epu8_mask(values, _mm512_set1_epi8(10));
  const uint64_t dot = _mm512_cmpeq_epi8_mask(text, _mm512_set1_epi8('.'));
  const uint64_t minus = _mm512_cmpeq_epi8_mask(text, _mm512_set1_epi8('-'));
  constexpr uint64_t kLaneFirst = 0x0001000100010001ull;
  constexpr uint64_t kLaneLast = 0x8000800080008000ull;
  // Each field's first byte (the lowest of its lane) and last byte (byte 15).
  const uint64_t first = in_field & ~((in_field << 1) & ~kLaneFirst);
  const uint64_t last = in_field & kLaneLast;
  // The lanes with a '.', as their bit 0; bits below each lane's first '.'.
  const uint64_t dotted = LaneAny(dot);
  const uint64_t below_dot = dot - dotted;
  bool ok = (digits | dot | (minus & first)) == in_field &&  // only these, '-' first
            (below_dot & dot) == 0 &&                         // at most one '.'
            // ends in a digit, or a digit and '.': at least one digit
            ((digits & last) | (dot & last & (digits << 1))) == last;
  if (!ok) return false;
  // The digits with the '.' closed up: bytes up to the '.' from one byte
  // lower (a lane without '.' as it is), non-digits zero.
  const __m512i d = _mm512_maskz_mov_epi8(digits, values);
  const __m512i merged = _mm512_mask_blend_epi8(below_dot | dot, d, _mm512_bslli_epi128(d, 1));
  // Per lane: bytes 0-7 and 8-15 as two base-10 numbers (32-bit elements 0 and 1).
  const __m512i base100 = _mm512_maddubs_epi16(merged, _mm512_set1_epi16(0x010A));
  const __m512i base1e4 = _mm512_madd_epi16(base100, _mm512_set1_epi32(0x00010064));
  const __m512i base1e8 = _mm512_madd_epi16(_mm512_packus_epi32(base1e4, base1e4),
                                            _mm512_set1_epi32(0x00012710));
  // High halves zero and low ones < 2^24 (an exact float), in every lane.
  // (_mm512_set_epi32 lists elements 15 down to 0.)
  const __m512i limit = _mm512_set_epi32(1 << 24, 1, 1 << 24, 1, 1 << 24, 1, 1 << 24, 1, 1 << 24, 1,
                                         1 << 24, 1, 1 << 24, 1, 1 << 24, 1);
  if (_mm512_cmplt_epu32_mask(base1e8, limit) != 0xFFFF) return false;
  // Per lane, summed by one vpsadbw: 16 - the '.''s byte (f + 1 for f
  // digits after the point; 0 without one) + 128 if '-'. The sum lands in
  // element 1 of the lane, beside the lane's number.
  const __m512i weights = _mm512_maskz_broadcast_i32x4(
      0xFFFF, _mm_setr_epi8(16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1));
  const __m512i marks = _mm512_mask_mov_epi8(_mm512_maskz_mov_epi8(dot, weights), minus,
                                             _mm512_set1_epi8(static_cast<char>(0x80)));
  const __m512i halves = _mm512_maskz_slli_epi64(0xFF, _mm512_sad_epu8(marks, _mm512_setzero_si512()), 32);
  const __m512i sums = _mm512_add_epi32(halves, _mm512_maskz_shuffle_epi32(0xFFFF, halves, _MM_PERM_BADC));
  if (_mm512_mask_cmpgt_epu32_mask(0x2222, _mm512_and_si512(sums, _mm512_set1_epi32(127)),
                                   _mm512_set1_epi32(11)) != 0) {
    return false;  // more than 10 digits after the point
  }
  // +-m (the sign bit or'ed in: -0 stays -0) and 10^f, gathered to the low
  // four elements, then one correctly rounded 128-bit division: the
  // decimal's float (Clinger's fast path).
  const __m512i sign = _mm512_maskz_slli_epi32(0x2222, _mm512_and_si512(sums, _mm512_set1_epi32(128)), 24);
  const __m512 m = _mm512_castsi512_ps(_mm512_or_si512(
      _mm512_castps_si512(_mm512_maskz_cvtepi32_ps(0x2222, base1e8)), sign));
  const __m512 power = _mm512_maskz_permutexvar_ps(0x2222, sums, _mm512_loadu_ps(kPow10Plus1));
  const __m512 both = _mm512_permutex2var_ps(
      m, _mm512_setr_epi32(1, 5, 9, 13, 17, 21, 25, 29, 0, 0, 0, 0, 0, 0, 0, 0), power);
  _mm_mask_storeu_ps(row, static_cast<__mmask8>((1u << n) - 1),
                     _mm_div_ps(_mm512_maskz_extractf32x4_ps(0xF, both, 0),
                                _mm512_maskz_extractf32x4_ps(0xF, both, 1)));
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
  if (size_ > 0) Load(begin_, size_, &separators_, &newlines_);
}

// The ',' and '\n' bits of the 64 bytes at p (of which `left` are ours).
TANDEM_CSV_AVX512 void CsvLineScanner::Load(const char* p, size_t left, uint64_t* separators,
                                            uint64_t* newlines) {
  const __mmask64 valid = left >= 64 ? ~uint64_t{0} : _bzhi_u64(~uint64_t{0}, left);
  _mm_prefetch(p + 1024, _MM_HINT_T0);  // a prefetch never faults, even past the end
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

// The hot loop keeps its state in locals and makes no calls: it notes where
// each field ends, then the fields are converted four at a time
// (VectorFields4), a group it declines one by one (VectorField), and a field
// that declines too is only noted (`declined`) and parsed after the line by
// ParseFieldFast.
TANDEM_CSV_AVX512 CsvLineScanner::Line CsvLineScanner::Next(int nf, float* row,
                                                            const char** line,
                                                            const char** line_end) {
  if (line_ >= size_) return Line::kEnd;
  if (ends_.size() < static_cast<size_t>(nf)) ends_.resize(static_cast<size_t>(nf));
  const char** const ends = ends_.data();
  const char* const begin = begin_;
  const size_t size = size_;
  size_t block = block_;
  uint64_t separators = separators_, newlines = newlines_;
  const char* const start = begin + line_;
  const char* sep;
  int col = 0;
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
    if (col < nf) ends[col] = sep;
    ++col;
    if (newline) break;
  }
  block_ = block;
  separators_ = separators;
  newlines_ = newlines;
  *line = start;
  *line_end = sep;
  line_ = static_cast<size_t>(sep - begin) + 1;
  if (col > nf) return Line::kOther;  // too many columns: the general parser reports it
  if (sep > start && sep[-1] == '\r') ends[col - 1] = sep - 1;  // CRLF
  uint64_t declined = 0;  // columns < 64 for ParseFieldFast
  bool declined_high = false;  // any column >= 64 (in declined_high_)
  auto decline = [&](int c) {
    if (c < 64) {
      declined |= uint64_t{1} << c;
    } else {  // wide rows: the rest of the columns in words
      const size_t word = static_cast<size_t>(c - 64) / 64;
      if (!declined_high) {
        declined_high_.assign(static_cast<size_t>(nf) / 64 + 1, 0);
        declined_high = true;
      }
      declined_high_[word] |= uint64_t{1} << (c % 64);
    }
  };
  const char* field = start;
  for (int c = 0; c < col; c += 4) {
    const int n = std::min(4, col - c);
    uint32_t len[4];
    bool fit = true;
    for (int k = 0; k < n; ++k) {
      const char* f = k == 0 ? field : ends[c + k - 1] + 1;
      len[k] = static_cast<uint32_t>(ends[c + k] - f);
      fit &= len[k] - 1 < 16;
    }
    if (!(fit && VectorFields4(ends + c, len, n, row + c))) {
      for (int k = 0; k < n; ++k) {
        const char* f = k == 0 ? field : ends[c + k - 1] + 1;
        float m, divisor;
        if (len[k] - 1 < 16 && VectorField(f, len[k], &m, &divisor)) {
          row[c + k] = m / divisor;
        } else {
          decline(c + k);
        }
      }
    }
    field = ends[c + n - 1] + 1;
  }
  for (; declined != 0; declined = _blsr_u64(declined)) {
    const int c = static_cast<int>(_tzcnt_u64(declined));
    const char *f, *e;
    FindField(start, sep, c, &f, &e);
    if (!ParseFieldFast(f, e, end_, &row[c])) return Line::kOther;
  }
  for (size_t w = 0; declined_high && w < declined_high_.size(); ++w) {
    for (uint64_t bits = declined_high_[w]; bits != 0; bits = _blsr_u64(bits)) {
      const int c = 64 + static_cast<int>(w * 64 + _tzcnt_u64(bits));
      const char *f, *e;
      FindField(start, sep, c, &f, &e);
      if (!ParseFieldFast(f, e, end_, &row[c])) return Line::kOther;
      }
  }
  for (; col < nf; ++col) row[col] = std::numeric_limits<float>::quiet_NaN();
  return Line::kParsed;
}

}  // namespace tandem::compute::transform
