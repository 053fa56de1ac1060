// Error messages shown to users of other privilege than the operator (a
// job's failure reason, a model's load failure) must not name the control
// plane's own files: the caller logs the full message for the operator and
// shows users the message with those paths replaced by what the user knows
// (the path inside the job's sandbox, the model's name, an entry name).
#pragma once

#include <string>
#include <string_view>

namespace tandem {

// `message` with every occurrence of the directory `path` replaced by
// `shown_as`: "<path>/x" becomes "<shown_as>/x", or "x" when `shown_as` is
// empty (a name relative to the directory), and "<path>" alone becomes
// `shown_as`. Only whole path components match: "/a/b" does not touch
// "/a/bc". An empty `path` (or "/") changes nothing; a trailing '/' on it
// is ignored.
std::string ReplacePath(std::string_view message, std::string_view path, std::string_view shown_as);

// `message` with every path that starts with the directory `dir` (the
// path up to the next space, quote, comma or end of message, as messages
// print them: '…', "…", `…`) replaced by `placeholder` as a whole. For what
// ReplacePath's specific replacements left.
std::string HidePathsUnder(std::string_view message, std::string_view dir,
                           std::string_view placeholder);

}  // namespace tandem
