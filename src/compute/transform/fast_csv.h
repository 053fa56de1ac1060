// The fast path of the transform engine's CSV reading and writing: plain
// decimal numbers parsed in one pass over a line, with results identical to
// the general parser's (std::from_chars, correctly rounded), and scores
// printed shortest-round-trip (std::to_chars) into a caller's buffer.
//
// ParseCsvLineFast accepts only lines it is sure about (fields like -12.5,
// .5, 1e-05, 7; no spaces, quotes, '+', empty fields or extra columns) and
// returns false for anything else, errors included: the caller then runs the
// general parser on that line, so values and error messages never differ.
//
// Decimal -> float: a decimal of at most 19 significant digits m x 10^e with
// m < 2^24 and |e| <= 10 is one correctly rounded float operation (m and
// 10^|e| are exact floats: Clinger's fast path); any other field goes to
// std::from_chars.
#pragma once

#include <cstddef>

namespace tandem::compute::transform {

// Parses [p, end) (one line without its '\n'; a trailing '\r' is allowed)
// into row[0, nf), absent trailing columns NaN; bytes up to `limit` (>= end,
// e.g. the end of the buffer holding the line) may be read. False: use the
// general parser (row contents then unspecified).
bool ParseCsvLineFast(const char* p, const char* end, const char* limit, int nf, float* row);

// One field by the fast rules; false if it is not a plain decimal number
// (the general parser decides). For tests.
bool ParseFloatFast(const char* p, const char* end, float* value);

// The field [p, end) by the fast rules (all of it a plain decimal number);
// bytes up to `limit` (>= end) may be read. For the block scanner
// (csv_scan.h), whose vector path declines what this one decides.
bool ParseFieldFast(const char* p, const char* end, const char* limit, float* value);

}  // namespace tandem::compute::transform
