// The registry's naming rules, owned here and nowhere else: model names,
// aliases, tags, version sources and model references. Dependency-free (only
// common/status.h) so that compute, serving and the CLI can validate a name or
// parse a reference without linking the registry.
//
//   model name   [A-Za-z0-9][A-Za-z0-9._-]{0,127}
//   alias        [a-z0-9_-]{1,64}, not all digits (so `model@3` can never
//                mean a version)
//   tag          key 1..250 characters, value at most 5000
//   source       sha256:<64 lowercase hex> or scheme://...
//   reference    "name@alias", "name/3" or "name" (the latest READY version)
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"

namespace tandem::registry {

// A reference to a version: "name@alias", "name/3" or "name" (latest READY).
struct ModelRef {
  enum class Kind { kLatest, kAlias, kVersion };
  Kind kind = Kind::kLatest;
  std::string name;
  std::string alias;    // kAlias
  int64_t version = 0;  // kVersion
  std::string ToString() const;
  bool operator==(const ModelRef&) const = default;
};
// Bad syntax, name, alias or version -> InvalidArgument naming `ref`.
StatusOr<ModelRef> ParseModelRef(std::string_view ref);

// Validators (InvalidArgument naming the offending value).
Status ValidateModelName(std::string_view name);  // [A-Za-z0-9][A-Za-z0-9._-]{0,127}
Status ValidateAlias(std::string_view alias);     // [a-z0-9_-]{1,64}, not all digits
Status ValidateTag(std::string_view key, std::string_view value);  // key 1..250, value <= 5000
Status ValidateSource(std::string_view source);  // sha256:<64 hex> or scheme://...

}  // namespace tandem::registry
