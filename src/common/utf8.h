// Whether a byte string is well-formed UTF-8. JSON strings must be: dumping
// one that is not throws, so text from outside (YAML scalars, request paths
// and queries) is checked where it enters.
#pragma once

#include <string_view>

namespace tandem {

// No overlong forms, surrogates or values past U+10FFFF.
bool IsValidUtf8(std::string_view s);

}  // namespace tandem
