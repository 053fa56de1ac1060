// What `tandem` says about a command it does not know: names it and
// suggests the closest known ones ("did you mean ...?").
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace tandem::cli {

// Known commands close to `typed` (a small edit distance, or one a prefix of
// the other), closest first; empty if none is close.
std::vector<std::string> SuggestCommands(std::string_view typed,
                                         const std::vector<std::string>& known);

// "unknown command 'tandem images'" plus a suggestion line if one is close
// and where to find the list. `parent` is the command it was given to
// ("tandem", "tandem models").
std::string UnknownCommandMessage(const std::string& parent, std::string_view typed,
                                  const std::vector<std::string>& known);

}  // namespace tandem::cli
