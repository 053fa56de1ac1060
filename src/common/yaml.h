// YAML documents (specs, tandem.yaml) read into JSON values so one set of
// validators serves both. Malformed YAML -> InvalidArgument with line/column.
#pragma once

#include <cstdint>
#include <string_view>

#include "common/json.h"

namespace tandem {

// A document may expand (aliases are copied where used) to at most
// max(kMaxYamlNodes, its size in bytes) nodes.
inline constexpr uint64_t kMaxYamlNodes = 100'000;

// Parses a YAML (or JSON, a YAML subset) document. Scalars that look like
// integers, floats or booleans become JSON numbers/booleans unless quoted.
// Malformed -> InvalidArgument; deeper than kMaxJsonDepth -> InvalidArgument;
// more nodes than allowed above (a "billion laughs" of aliases) ->
// ResourceExhausted, found before the expansion is built.
StatusOr<Json> ParseYaml(std::string_view text);

// Reads and parses a YAML or JSON file.
StatusOr<Json> ReadYamlFile(const std::string& path);

// Renders a JSON value as block YAML (for `-o yaml`).
std::string ToYaml(const Json& value);

}  // namespace tandem
