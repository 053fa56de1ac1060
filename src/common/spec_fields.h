// Typed field access for user-written specs (job specs, deployment specs,
// tuning specs): every error is InvalidArgument naming the full field path
// and what was expected ("'resources.cpus' must be a number between 0 and 64,
// got \"two\"", "unknown field 'resources.cpu'").
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/json.h"
#include "common/status.h"

namespace tandem::spec {

// "a string", "an integer", "a mapping", ... for messages.
std::string TypeName(const Json& v);
// "'<path>' must be <expected>, got <type of got>".
Status TypeError(const std::string& path, std::string_view expected, const Json& got);
// Refuses keys of `obj` outside `known`, naming `prefix + key`.
Status CheckKnown(const Json& obj, const std::string& prefix, const std::set<std::string>& known);
StatusOr<std::string> String(const Json& v, const std::string& path);
// An integer within [lo, hi].
StatusOr<int64_t> Integer(const Json& v, const std::string& path, int64_t lo, int64_t hi);
// A number within [lo, hi].
StatusOr<double> Number(const Json& v, const std::string& path, double lo, double hi);
// A number > 0.
StatusOr<double> PositiveNumber(const Json& v, const std::string& path);
// A string equal to one of `allowed` ("'<path>' must be one of a, b or c").
StatusOr<std::string> OneOf(const Json& v, const std::string& path,
                            const std::vector<std::string>& allowed);
// A list of strings.
StatusOr<std::vector<std::string>> StringList(const Json& v, const std::string& path);
// The mapping `doc[key]` (an empty mapping when absent), e.g. one module's
// section of the configuration; anything else -> InvalidArgument naming `key`.
StatusOr<Json> Section(const Json& doc, const std::string& key);

}  // namespace tandem::spec
