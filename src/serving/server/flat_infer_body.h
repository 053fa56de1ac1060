// The common /infer body, {"model": NAME, "features": [v, v, ...]} (with an
// optional "version": string or integer), read by one strict scan without
// building a JSON document: one row of numbers, null (NaN) or booleans (1/0).
//
// Anything else — a matrix, {name: value} features, other keys, a string
// feature, a string with an escape or a non-ASCII byte, a number out of
// double's range, malformed JSON — returns nullopt, and the caller parses the
// body the general way (which also words every error). The values are
// converted exactly as the general path does (to double, then float).
//
// Thread-safety: a pure function.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tandem::serving::server {

struct FlatInferBody {
  std::string model;
  std::string version;  // "" = the served one
  std::vector<float> features;
};

std::optional<FlatInferBody> ParseFlatInferBody(std::string_view body);

}  // namespace tandem::serving::server
