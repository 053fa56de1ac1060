// The search space of a tuning job: parameter ranges mapped to and from the
// unit interval in their scaling's space, so samplers work on [0, 1] per
// parameter whatever its type and scaling.
//
//   Linear              u = (x - min) / (max - min)
//   Logarithmic         u = (ln x - ln min) / (ln max - ln min)
//   ReverseLogarithmic  u = (-ln(1 - x) + ln(1 - min)) / (ln(1 - min) - ln(1 - max))
//   Integer             as its scaling over [min, max + 1), then floored, so
//                       every integer gets its share of the unit interval
//   Categorical         u in [0, 1) picks value floor(u * n)
//
// Also: Rng, the deterministic random stream samplers use (mt19937_64 seeded
// through splitmix64, with our own double mapping, so results do not depend
// on the standard library's distributions).
#pragma once

#include <cstdint>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "common/json.h"
#include "compute/tuning/spec.h"

namespace tandem::compute::tuning {

// parameter name -> value (number or categorical value).
using Params = std::map<std::string, Json>;

// A finished trial, as samplers see it: lower `loss` is better (the objective
// value, negated for Maximize).
struct Observation {
  Params params;
  double loss = 0;
};

// Maps a value of `r` to [0, 1] (clamped). Categorical: the value's index
// midpoint, (i + 0.5) / n; a value not in the list maps to -1.
double ToUnit(const ParameterRange& r, const Json& value);
// Maps u in [0, 1] back to a value of `r` (always within the range).
Json FromUnit(const ParameterRange& r, double u);

// A seeded, platform-independent random stream.
class Rng {
 public:
  // One stream per (seed, stream): e.g. per trial index, so a restarted
  // tuning job suggests exactly what it would have.
  Rng(uint64_t seed, uint64_t stream);
  double Uniform();            // [0, 1)
  double Normal();             // N(0, 1), Box-Muller
  uint64_t Below(uint64_t n);  // [0, n)

 private:
  std::mt19937_64 gen_;
};

}  // namespace tandem::compute::tuning
