// The transform engine's CSV reader on CPUs with AVX-512 (BW, VL, VBMI2):
// cuts a batch into lines and parses each line's fields in one pass, with the
// same results as ParseCsvLineFast (fast_csv.h) line for line.
//
// Separators are found 64 bytes at a time (one compare per ',' and '\n' per
// block, positions taken from the bit masks), so there is no per-line memchr
// and no per-byte loop. A line's fields are then converted four at a time,
// one per 128-bit lane of a 512-bit register: each field of 1..16 bytes is
// loaded right-aligned at its separator (a masked load that never touches
// bytes outside the field, so no padding is needed and nothing can fault at
// either end of a mapping), byte classes become 64-bit masks checked for
// [-]digits[.digits] (no exponent) all four at once, the '.' is closed up by
// a one-byte shift, the digits are summed by three multiply-adds, the digits
// after the point and the sign by one vpsadbw, and m x 10^-f with m < 2^24
// and f <= 10 is one correctly rounded float division per group (Clinger's
// fast path, as ParseCsvLineFast). A group with any other field is taken
// field by field (one masked left-aligned load each); a field that declines
// there too is handed to ParseFieldFast, and a line any of them declines
// (blank, spaces, quotes, '+', empty fields, too many columns, errors) is
// returned as kOther for the general parser, so values and error messages
// never change.
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
