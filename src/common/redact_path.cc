#include "common/redact_path.h"

namespace tandem {
namespace {

std::string_view TrimSlash(std::string_view path) {
  while (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
  return path;
}

// Whether `c` may continue a path component (so "/a/b" followed by it is
// another name, e.g. "/a/bc", "/a/b-2", "/a/b.old").
bool ContinuesName(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_' || c == '.' || c == '~' || c == '+' || c == '@';
}

bool EndsPath(char c) {
  return c == ' ' || c == '\'' || c == '"' || c == '`' || c == ',' || c == '\n' || c == '\t';
}

}  // namespace

std::string ReplacePath(std::string_view message, std::string_view path,
                        std::string_view shown_as) {
  path = TrimSlash(path);
  if (path.empty() || path == "/") return std::string(message);
  std::string out;
  out.reserve(message.size());
  size_t pos = 0;
  for (size_t hit = message.find(path); hit != std::string_view::npos;
       hit = message.find(path, pos)) {
    const size_t end = hit + path.size();
    if (end < message.size() && ContinuesName(message[end])) {  // another name
      out.append(message.substr(pos, end - pos));
      pos = end;
      continue;
    }
    out.append(message.substr(pos, hit - pos));
    pos = end;
    if (shown_as.empty() && end < message.size() && message[end] == '/') {
      ++pos;  // "<path>/x" -> "x"
    } else {
      out.append(shown_as);
    }
  }
  out.append(message.substr(pos));
  return out;
}

std::string HidePathsUnder(std::string_view message, std::string_view dir,
                           std::string_view placeholder) {
  dir = TrimSlash(dir);
  if (dir.empty() || dir == "/") return std::string(message);
  std::string out;
  out.reserve(message.size());
  size_t pos = 0;
  for (size_t hit = message.find(dir); hit != std::string_view::npos;
       hit = message.find(dir, pos)) {
    size_t end = hit + dir.size();
    if (end < message.size() && ContinuesName(message[end])) {  // another name
      out.append(message.substr(pos, end - pos));
      pos = end;
      continue;
    }
    while (end < message.size() && !EndsPath(message[end])) ++end;
    out.append(message.substr(pos, hit - pos));
    out.append(placeholder);
    pos = end;
  }
  out.append(message.substr(pos));
  return out;
}

}  // namespace tandem
