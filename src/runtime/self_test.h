// Self-tests shipped with a model (self_test.jsonl): one JSON object per line,
// {"input": [f0, ..., fN] (null = missing), "output": [expected...],
//  "tolerance": 1e-6 (optional, default 1e-5)}.
#pragma once

#include <string>
#include <vector>

#include "common/status.h"
#include "runtime/predictor.h"

namespace tandem::runtime {

inline constexpr double kDefaultSelfTestTolerance = 1e-5;

struct SelfTestCase {
  int line = 0;               // 1-based line in the file
  std::vector<float> input;   // NaN = missing
  std::vector<float> output;  // expected scores
  double tolerance = kDefaultSelfTestTolerance;
};

// Parses JSON Lines text; blank lines are skipped. A malformed line ->
// InvalidArgument naming `source` and the line.
StatusOr<std::vector<SelfTestCase>> ParseSelfTest(const std::string& text,
                                                  const std::string& source);
// Reads and parses a self-test file (NotFound if missing).
StatusOr<std::vector<SelfTestCase>> ReadSelfTest(const std::string& path);

// Predicts every case and compares |got - expected| <= tolerance. The first
// mismatch -> FailedPrecondition naming `source`, the line and the output.
Status RunSelfTest(const Predictor& predictor, const std::vector<SelfTestCase>& cases,
                   const std::string& source);

}  // namespace tandem::runtime
