// The transform engine's CSV reader on CPUs with AVX-512 (BW, VL, VBMI2):
// cuts a batch into lines and parses each line's fields in one pass, with the
// same results as ParseCsvLineFast (fast_csv.h) line for line.
//
// Separators are found 64 bytes at a time (one compare per ',' and '\n' per
// block, positions taken from the bit masks), so there is no per-line memchr
// and no per-byte loop. A field of 1..16 bytes that is [-]digits[.digits]
// (no exponent) is converted without a branch on its digits: one masked
// 16-byte load (which never touches bytes past the field, so no padding is
// needed), byte classes as mask registers, the digits compressed together
// (vpcompressb) and summed by three multiply-adds; m x 10^-f with m < 2^24
// and f <= 10 is then one correctly rounded float division (Clinger's fast
// path, as ParseCsvLineFast), done for the whole row with one vector divide. Any other field is handed to ParseFieldFast,
// and a line either of them declines (blank, spaces, quotes, '+', empty
// fields, too many columns, errors) is returned as kOther for the general
// parser, so values and error messages never change.
//
// Thread-safety: one scanner per thread; Supported() is thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace tandem::compute::transform {

class CsvLineScanner {
 public:
  // Whether this CPU runs the scanner (else use ParseCsvLineFast per line).
  static bool Supported();

  // Scans [begin, end): lines end at '\n' (the last one may lack it).
  CsvLineScanner(const char* begin, const char* end);

  enum class Line {
    kParsed,  // the line's fields are in row[0, nf), absent trailing ones NaN
    kOther,   // not for the fast path: the general parser decides (row unspecified)
    kEnd,     // no more lines
  };
  // The next line: [*line, *line_end) without its '\n' (a trailing '\r' is
  // part of it). Requires Supported().
  Line Next(int nf, float* row, const char** line, const char** line_end);

 private:
  static void Load(const char* p, size_t left, uint64_t* separators, uint64_t* newlines);

  const char* begin_;
  const char* end_;
  size_t size_;
  size_t line_ = 0;   // offset of the next line
  size_t block_ = 0;  // offset of the current 64-byte block
  uint64_t separators_ = 0;  // ',' and '\n' in the block not yet consumed
  uint64_t newlines_ = 0;    // '\n' in the block
  std::vector<const char*> ends_;  // where each field of the line ends
  std::vector<uint64_t> declined_high_;  // the line's declined columns >= 64, as bits
};

}  // namespace tandem::compute::transform
