// Private to tandem_http: route table for http::Server, plus the URL helpers
// it needs (percent-decoding, query parsing). No Beast here, so it is
// unit-testable alone.
// Thread-safety: Add() before concurrent use; Find() is const and thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "common/http_server.h"
#include "common/status.h"

namespace tandem::http {

// Decodes %XX escapes (and '+' as space if `plus_as_space`). Returns false
// on a malformed escape ("%4", "%zz"); `out` is then unspecified.
bool PercentDecode(std::string_view in, std::string& out, bool plus_as_space = false);

// Parses "a=1&b=x%20y" into `out` (first occurrence of a key wins; a key
// without '=' maps to ""). Returns false on a malformed escape.
bool ParseQuery(std::string_view query, std::map<std::string, std::string>& out);

struct RouteEntry {
  std::string method;
  std::string pattern;
  Handler handler;
  RouteOptions options;

  // Parsed pattern: literal segments, `{name}` params and a final `{name...}`.
  enum class SegKind { kLiteral = 0, kParam = 1, kRest = 2 };
  struct Segment {
    SegKind kind;
    std::string text;  // literal text or parameter name
  };
  std::vector<Segment> segments;
};

class Router {
 public:
  // Adds a route. Malformed patterns (not starting with '/', unbalanced
  // braces, empty names, `{x...}` not last) and duplicates -> InvalidArgument.
  Status Add(std::string method, std::string pattern, Handler handler, RouteOptions options);

  enum class Outcome { kFound, kNotFound, kMethodNotAllowed, kBadPath };
  struct Match {
    Outcome outcome = Outcome::kNotFound;
    const RouteEntry* route = nullptr;          // kFound
    std::map<std::string, std::string> params;  // kFound, decoded
    std::string allow;                          // kMethodNotAllowed: "GET, POST"
  };
  // Matches the raw (still percent-encoded) path against the routes. When
  // several patterns match, the most specific wins (literal segments over
  // `{param}` over `{rest...}`, compared left to right).
  Match Find(std::string_view method, std::string_view raw_path) const;

  std::vector<std::string> Routes() const;  // "METHOD /pattern", in order added

 private:
  std::vector<RouteEntry> routes_;
};

}  // namespace tandem::http
