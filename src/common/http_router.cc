#include "common/http_router.h"

#include <algorithm>
#include <utility>

#include "common/hex.h"

namespace tandem::http {
namespace {

// Splits "/a/b" into {"a", "b"}; "/" into {""}.
std::vector<std::string_view> SplitPath(std::string_view path) {
  std::vector<std::string_view> out;
  if (!path.empty() && path.front() == '/') path.remove_prefix(1);
  while (true) {
    size_t slash = path.find('/');
    out.push_back(path.substr(0, slash));
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
  }
  return out;
}

bool ValidName(std::string_view name) {
  if (name.empty()) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
  });
}

}  // namespace

bool PercentDecode(std::string_view in, std::string& out, bool plus_as_space) {
  out.clear();
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '%') {
      if (i + 2 >= in.size()) return false;
      int hi = HexDigitValue(in[i + 1]);
      int lo = HexDigitValue(in[i + 2]);
      if (hi < 0 || lo < 0) return false;
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else if (c == '+' && plus_as_space) {
      out.push_back(' ');
    } else {
      out.push_back(c);
    }
  }
  return true;
}

bool ParseQuery(std::string_view query, std::map<std::string, std::string>& out) {
  std::string key;
  std::string value;
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (pair.empty()) continue;
    size_t eq = pair.find('=');
    std::string_view k = pair.substr(0, eq);
    std::string_view v = eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1);
    if (!PercentDecode(k, key, true) || !PercentDecode(v, value, true)) return false;
    out.emplace(std::move(key), std::move(value));
  }
  return true;
}

Status Router::Add(std::string method, std::string pattern, Handler handler, RouteOptions options) {
  if (method.empty()) return InvalidArgumentError("empty HTTP method for route " + pattern);
  if (pattern.empty() || pattern.front() != '/') {
    return InvalidArgumentError("route pattern must start with '/': \"" + pattern + "\"");
  }
  RouteEntry entry;
  std::vector<std::string_view> parts = SplitPath(pattern);
  for (size_t i = 0; i < parts.size(); ++i) {
    std::string_view part = parts[i];
    bool opens = part.find('{') != std::string_view::npos;
    bool closes = part.find('}') != std::string_view::npos;
    if (!opens && !closes) {
      entry.segments.push_back({RouteEntry::SegKind::kLiteral, std::string(part)});
      continue;
    }
    if (part.size() < 3 || part.front() != '{' || part.back() != '}') {
      return InvalidArgumentError("route pattern \"" + pattern + "\": segment \"" +
                                  std::string(part) + "\" must be a whole {name}");
    }
    std::string_view name = part.substr(1, part.size() - 2);
    RouteEntry::SegKind kind = RouteEntry::SegKind::kParam;
    if (name.size() > 3 && name.substr(name.size() - 3) == "...") {
      if (i + 1 != parts.size()) {
        return InvalidArgumentError("route pattern \"" + pattern + "\": {" + std::string(name) +
                                    "} must be the last segment");
      }
      name.remove_suffix(3);
      kind = RouteEntry::SegKind::kRest;
    }
    if (!ValidName(name)) {
      return InvalidArgumentError("route pattern \"" + pattern + "\": bad parameter name \"" +
                                  std::string(name) + "\"");
    }
    for (const auto& s : entry.segments) {
      if (s.kind != RouteEntry::SegKind::kLiteral && s.text == name) {
        return InvalidArgumentError("route pattern \"" + pattern + "\": parameter \"" +
                                    std::string(name) + "\" appears twice");
      }
    }
    entry.segments.push_back({kind, std::string(name)});
  }
  for (const auto& r : routes_) {
    if (r.method == method && r.pattern == pattern) {
      return InvalidArgumentError("duplicate route " + method + " " + pattern);
    }
  }
  entry.method = std::move(method);
  entry.pattern = std::move(pattern);
  entry.handler = std::move(handler);
  entry.options = options;
  routes_.push_back(std::move(entry));
  return OkStatus();
}

Router::Match Router::Find(std::string_view method, std::string_view raw_path) const {
  Match result;
  std::vector<std::string_view> raw = SplitPath(raw_path);
  std::vector<std::string> decoded(raw.size());
  for (size_t i = 0; i < raw.size(); ++i) {
    if (!PercentDecode(raw[i], decoded[i])) {
      result.outcome = Outcome::kBadPath;
      return result;
    }
  }

  const RouteEntry* best = nullptr;
  std::vector<std::string> allowed;
  for (const RouteEntry& r : routes_) {
    // Match segment by segment.
    bool ok = true;
    size_t i = 0;
    for (; i < r.segments.size() && ok; ++i) {
      const auto& seg = r.segments[i];
      if (seg.kind == RouteEntry::SegKind::kRest) {
        ok = i < decoded.size();
        i = decoded.size();
        break;
      }
      if (i >= decoded.size()) {
        ok = false;
      } else if (seg.kind == RouteEntry::SegKind::kLiteral) {
        ok = seg.text == decoded[i];
      } else {
        ok = !decoded[i].empty();
      }
    }
    if (!ok || i != decoded.size()) continue;
    if (r.method != method) {
      if (std::find(allowed.begin(), allowed.end(), r.method) == allowed.end()) {
        allowed.push_back(r.method);
      }
      continue;
    }
    if (best == nullptr) {
      best = &r;
      continue;
    }
    // More specific: lexicographically smaller sequence of segment kinds.
    size_t n = std::min(best->segments.size(), r.segments.size());
    for (size_t k = 0; k < n; ++k) {
      if (r.segments[k].kind != best->segments[k].kind) {
        if (r.segments[k].kind < best->segments[k].kind) best = &r;
        break;
      }
    }
  }
  if (best == nullptr) {
    if (allowed.empty()) return result;
    result.outcome = Outcome::kMethodNotAllowed;
    std::sort(allowed.begin(), allowed.end());
    for (const auto& m : allowed) {
      if (!result.allow.empty()) result.allow += ", ";
      result.allow += m;
    }
    return result;
  }
  result.outcome = Outcome::kFound;
  result.route = best;
  for (size_t k = 0; k < best->segments.size(); ++k) {
    const auto& seg = best->segments[k];
    if (seg.kind == RouteEntry::SegKind::kParam) {
      result.params.emplace(seg.text, std::move(decoded[k]));
    } else if (seg.kind == RouteEntry::SegKind::kRest) {
      std::string rest;
      for (size_t j = k; j < decoded.size(); ++j) {
        if (j > k) rest.push_back('/');
        rest += decoded[j];
      }
      result.params.emplace(seg.text, std::move(rest));
    }
  }
  return result;
}

std::vector<std::string> Router::Routes() const {
  std::vector<std::string> out;
  out.reserve(routes_.size());
  for (const auto& r : routes_) out.push_back(r.method + " " + r.pattern);
  return out;
}

}  // namespace tandem::http
