#include "compute/tuning/space.h"

#include <algorithm>
#include <cmath>

namespace tandem::compute::tuning {
namespace {

// Forward transform of x into the scaling's space.
double Fwd(Scaling s, double x) {
  switch (s) {
    case Scaling::kLogarithmic:
      return std::log(x);
    case Scaling::kReverseLogarithmic:
      return -std::log1p(-x);
    default:
      return x;
  }
}

double Inv(Scaling s, double t) {
  switch (s) {
    case Scaling::kLogarithmic:
      return std::exp(t);
    case Scaling::kReverseLogarithmic:
      return -std::expm1(-t);
    default:
      return t;
  }
}

double Upper(const ParameterRange& r) { return r.type == ParamType::kInteger ? r.max + 1 : r.max; }

}  // namespace

double ToUnit(const ParameterRange& r, const Json& value) {
  if (r.type == ParamType::kCategorical) {
    for (size_t i = 0; i < r.values.size(); ++i) {
      if (r.values[i] == value) return (static_cast<double>(i) + 0.5) / r.values.size();
    }
    return -1;
  }
  if (!value.is_number()) return -1;
  double x = value.get<double>();
  // Integers sit at the middle of their cell [x, x + 1).
  if (r.type == ParamType::kInteger) x += 0.5;
  double lo = Fwd(r.scaling, r.min), hi = Fwd(r.scaling, Upper(r));
  if (r.type == ParamType::kInteger && r.scaling == Scaling::kLogarithmic) {
    // Cells in log space: [ln x, ln(x + 1)); use the cell's log-midpoint.
    x = std::sqrt(value.get<double>() * (value.get<double>() + 1));
  }
  return std::clamp((Fwd(r.scaling, x) - lo) / (hi - lo), 0.0, 1.0);
}

Json FromUnit(const ParameterRange& r, double u) {
  u = std::clamp(u, 0.0, 1.0);
  if (r.type == ParamType::kCategorical) {
    size_t i = std::min(r.values.size() - 1, static_cast<size_t>(u * r.values.size()));
    return r.values[i];
  }
  double lo = Fwd(r.scaling, r.min), hi = Fwd(r.scaling, Upper(r));
  double x = Inv(r.scaling, lo + u * (hi - lo));
  if (r.type == ParamType::kInteger) {
    return static_cast<int64_t>(std::clamp(std::floor(x), r.min, r.max));
  }
  return std::clamp(x, r.min, r.max);
}

Rng::Rng(uint64_t seed, uint64_t stream) {
  // splitmix64 of (seed, stream) so nearby seeds give unrelated streams.
  uint64_t z = seed * 0x9E3779B97F4A7C15ULL + stream + 0x632BE59BD9B4E019ULL;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  gen_.seed(z ^ (z >> 31));
}

double Rng::Uniform() { return static_cast<double>(gen_() >> 11) * 0x1.0p-53; }

double Rng::Normal() {
  double u1 = 0;
  while (u1 <= 0) u1 = Uniform();
  double u2 = Uniform();
  return std::sqrt(-2 * std::log(u1)) * std::cos(2 * M_PI * u2);
}

uint64_t Rng::Below(uint64_t n) { return n == 0 ? 0 : static_cast<uint64_t>(Uniform() * n) % n; }

}  // namespace tandem::compute::tuning
