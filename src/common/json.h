// JSON for the control plane (nlohmann::json). Parse errors become
// InvalidArgument with the position, never exceptions. Documents nest at most
// kMaxJsonDepth arrays/objects deep, so code walking them recursively (dump,
// YAML output, pattern matching) cannot run out of stack on hostile input.
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"
#include "nlohmann/json.hpp"

namespace tandem {

using Json = nlohmann::json;

inline constexpr int kMaxJsonDepth = 64;

// Parses `text`; malformed input -> InvalidArgument naming the byte offset;
// nesting deeper than kMaxJsonDepth -> InvalidArgument naming the limit (the
// parse stops there, before building the rest).
StatusOr<Json> ParseJson(std::string_view text);

// Typed field access for request bodies and specs: a missing field with no
// default or a field of the wrong type -> InvalidArgument naming the field.
StatusOr<std::string> GetString(const Json& obj, std::string_view field);
StatusOr<std::string> GetStringOr(const Json& obj, std::string_view field,
                                  std::string_view fallback);
StatusOr<int64_t> GetIntOr(const Json& obj, std::string_view field, int64_t fallback);

}  // namespace tandem
