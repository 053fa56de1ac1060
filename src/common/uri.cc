#include "common/uri.h"

#include <cctype>

#include "common/hex.h"

namespace tandem {

std::string PercentDecode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    const int hi = s[i] == '%' && i + 2 < s.size() ? HexDigitValue(s[i + 1]) : -1;
    const int lo = hi >= 0 ? HexDigitValue(s[i + 2]) : -1;
    if (lo >= 0) {
      out += static_cast<char>(hi << 4 | lo);
      i += 2;
    } else if (s[i] == '+') {
      out += ' ';
    } else {
      out += s[i];
    }
  }
  return out;
}

std::string PercentEncode(std::string_view s, std::string_view keep) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || keep.find(static_cast<char>(c)) != std::string_view::npos) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

StatusOr<Uri> ParseUri(std::string_view text, std::string_view default_scheme) {
  Uri uri;
  uri.text = std::string(text);
  if (text.empty()) return InvalidArgumentError("empty URI");
  size_t sep = text.find("://");
  std::string_view rest;
  if (sep == std::string_view::npos) {
    if (default_scheme.empty()) {
      return InvalidArgumentError("URI '" + std::string(text) + "' has no scheme (expected scheme://...)");
    }
    uri.scheme = std::string(default_scheme);
    uri.path = std::string(text);
    return uri;
  }
  uri.scheme = std::string(text.substr(0, sep));
  for (char& c : uri.scheme) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  rest = text.substr(sep + 3);
  size_t q = rest.find('?');
  std::string_view query = q == std::string_view::npos ? "" : rest.substr(q + 1);
  rest = rest.substr(0, q);
  size_t slash = rest.find('/');
  uri.authority = std::string(rest.substr(0, slash));
  uri.path = slash == std::string_view::npos ? "" : PercentDecode(rest.substr(slash));
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view kv = query.substr(0, amp);
    size_t eq = kv.find('=');
    if (!kv.empty()) {
      uri.query[PercentDecode(kv.substr(0, eq))] =
          eq == std::string_view::npos ? "" : PercentDecode(kv.substr(eq + 1));
    }
    if (amp == std::string_view::npos) break;
    query = query.substr(amp + 1);
  }
  return uri;
}

}  // namespace tandem
