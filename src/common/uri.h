// Backend URIs: `sqlite:///abs/path.db`, `file:///abs/dir`, `postgres://u@h/db`,
// `s3://bucket/prefix?endpoint=...`. The scheme chooses the backend.
#pragma once

#include <map>
#include <string>
#include <string_view>

#include "common/status.h"

namespace tandem {

struct Uri {
  std::string scheme;     // "sqlite", "file", ...
  std::string authority;  // "user@host:port" (may be empty)
  std::string path;       // "/abs/path" (percent-decoded)
  std::map<std::string, std::string> query;
  std::string text;       // the original text
};

// Parses `scheme://authority/path?k=v&...`. A bare path ("/x" or "./x") is
// accepted as `file` scheme when `default_scheme` is "file".
StatusOr<Uri> ParseUri(std::string_view text, std::string_view default_scheme = "");

// Percent-decoding and -encoding of URI components.
std::string PercentDecode(std::string_view s);
std::string PercentEncode(std::string_view s, std::string_view keep = "-._~/");

}  // namespace tandem
