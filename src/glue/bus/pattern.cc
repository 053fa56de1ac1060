#include "glue/bus/pattern.h"

#include <arpa/inet.h>

#include <array>
#include <cctype>
#include <cstring>
#include <string>

namespace tandem::bus {
namespace {

std::string Child(const std::string& path, const std::string& key) {
  return path.empty() ? key : path + "." + key;
}
std::string Index(const std::string& path, size_t i) {
  return path + "[" + std::to_string(i) + "]";
}
Status Invalid(const std::string& path, const std::string& what) {
  return InvalidArgumentError("event pattern: " + (path.empty() ? "<root>" : path) + ": " + what);
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// --- CIDR ------------------------------------------------------------------

struct Cidr {
  int family = 0;  // AF_INET or AF_INET6
  std::array<unsigned char, 16> addr{};
  int bits = 0;
};

bool ParseIp(const std::string& s, int* family, std::array<unsigned char, 16>* out) {
  out->fill(0);
  if (inet_pton(AF_INET, s.c_str(), out->data()) == 1) {
    *family = AF_INET;
    return true;
  }
  if (inet_pton(AF_INET6, s.c_str(), out->data()) == 1) {
    *family = AF_INET6;
    return true;
  }
  return false;
}

bool ParseCidr(const std::string& s, Cidr* c) {
  size_t slash = s.find('/');
  if (slash == std::string::npos) return false;
  if (!ParseIp(s.substr(0, slash), &c->family, &c->addr)) return false;
  std::string bits = s.substr(slash + 1);
  if (bits.empty() || bits.size() > 3) return false;
  for (char ch : bits) {
    if (!std::isdigit(static_cast<unsigned char>(ch))) return false;
  }
  c->bits = std::stoi(bits);
  return c->bits <= (c->family == AF_INET ? 32 : 128);
}

bool CidrContains(const Cidr& c, const std::string& ip) {
  int family = 0;
  std::array<unsigned char, 16> addr{};
  if (!ParseIp(ip, &family, &addr) || family != c.family) return false;
  int full = c.bits / 8, rest = c.bits % 8;
  if (std::memcmp(addr.data(), c.addr.data(), full) != 0) return false;
  if (rest == 0) return true;
  unsigned char mask = static_cast<unsigned char>(0xff << (8 - rest));
  return (addr[full] & mask) == (c.addr[full] & mask);
}

// --- wildcard ----------------------------------------------------------------

// '*' matches any run of characters; '\*' a literal '*', '\\' a backslash.
bool WildcardMatch(std::string_view pattern, std::string_view text) {
  struct Tok {
    char c;
    bool star;
  };
  std::vector<Tok> toks;
  for (size_t i = 0; i < pattern.size(); ++i) {
    if (pattern[i] == '\\' && i + 1 < pattern.size()) {
      toks.push_back({pattern[++i], false});
    } else {
      toks.push_back({pattern[i], pattern[i] == '*'});
    }
  }
  size_t p = 0, t = 0, star_p = std::string::npos, star_t = 0;
  while (t < text.size()) {
    if (p < toks.size() && toks[p].star) {
      star_p = p++;
      star_t = t;
    } else if (p < toks.size() && toks[p].c == text[t]) {
      ++p;
      ++t;
    } else if (star_p != std::string::npos) {
      p = star_p + 1;
      t = ++star_t;
    } else {
      return false;
    }
  }
  while (p < toks.size() && toks[p].star) ++p;
  return p == toks.size();
}

Status ValidateWildcard(const Json& v, const std::string& path) {
  if (!v.is_string()) return Invalid(path, "wildcard must be a string");
  const std::string& s = v.get_ref<const std::string&>();
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\') {
      if (i + 1 >= s.size() || (s[i + 1] != '*' && s[i + 1] != '\\')) {
        return Invalid(path, "wildcard: '\\' must escape '*' or '\\'");
      }
      ++i;
    } else if (s[i] == '*' && i + 1 < s.size() && s[i + 1] == '*') {
      return Invalid(path, "wildcard: consecutive '*' are not allowed");
    }
  }
  return OkStatus();
}

// --- validation --------------------------------------------------------------

Status ValidateObject(const Json& obj, const std::string& path);

bool IsOp(std::string_view op) {
  return op == "=" || op == "<" || op == "<=" || op == ">" || op == ">=";
}

Status ValidateNumeric(const Json& v, const std::string& path) {
  if (!v.is_array() || (v.size() != 2 && v.size() != 4)) {
    return Invalid(path, "numeric must be [op, number] or [op, number, op, number]");
  }
  for (size_t i = 0; i < v.size(); i += 2) {
    if (!v[i].is_string() || !IsOp(v[i].get<std::string>())) {
      return Invalid(Index(path, i), "numeric operator must be one of =, <, <=, >, >=");
    }
    if (!v[i + 1].is_number()) return Invalid(Index(path, i + 1), "numeric bound must be a number");
  }
  if (v.size() == 4) {
    std::string lo = v[0].get<std::string>(), hi = v[2].get<std::string>();
    if ((lo != ">" && lo != ">=") || (hi != "<" && hi != "<=")) {
      return Invalid(path, "a numeric range must be [\">\"|\">=\", low, \"<\"|\"<=\", high]");
    }
    if (v[1].get<double>() >= v[3].get<double>()) {
      return Invalid(path, "numeric range: low bound must be below the high bound");
    }
  }
  return OkStatus();
}

// "prefix"/"suffix": a string or {"equals-ignore-case": string}.
Status ValidateAffix(const Json& v, const std::string& path, const std::string& op) {
  if (v.is_string()) return OkStatus();
  if (v.is_object() && v.size() == 1 && v.contains("equals-ignore-case") &&
      v["equals-ignore-case"].is_string()) {
    return OkStatus();
  }
  return Invalid(path, op + " must be a string or {\"equals-ignore-case\": string}");
}

Status ValidateAnythingBut(const Json& v, const std::string& path) {
  if (v.is_string() || v.is_number()) return OkStatus();
  if (v.is_array()) {
    if (v.empty()) return Invalid(path, "anything-but list must not be empty");
    for (size_t i = 0; i < v.size(); ++i) {
      if (!v[i].is_string() && !v[i].is_number()) {
        return Invalid(Index(path, i), "anything-but values must be strings or numbers");
      }
    }
    return OkStatus();
  }
  if (v.is_object() && v.size() == 1) {
    const std::string key = v.begin().key();
    const Json& arg = v.begin().value();
    std::string sub = Child(path, key);
    if (key == "prefix" || key == "suffix") {
      if (!arg.is_string()) return Invalid(sub, key + " must be a string");
      return OkStatus();
    }
    if (key == "wildcard") return ValidateWildcard(arg, sub);
    if (key == "equals-ignore-case") {
      if (arg.is_string()) return OkStatus();
      if (arg.is_array() && !arg.empty()) {
        for (const auto& e : arg) {
          if (!e.is_string()) return Invalid(sub, "equals-ignore-case values must be strings");
        }
        return OkStatus();
      }
      return Invalid(sub, "equals-ignore-case must be a string or a list of strings");
    }
    return Invalid(path, "unknown anything-but operator '" + key + "'");
  }
  return Invalid(path,
                 "anything-but must be a string, number, list, or one of "
                 "{prefix|suffix|equals-ignore-case|wildcard}");
}

Status ValidateMatcher(const Json& m, const std::string& path) {
  if (m.size() != 1) return Invalid(path, "a matcher object must have exactly one operator");
  const std::string op = m.begin().key();
  const Json& v = m.begin().value();
  std::string sub = Child(path, op);
  if (op == "prefix" || op == "suffix") return ValidateAffix(v, sub, op);
  if (op == "equals-ignore-case") {
    return v.is_string() ? OkStatus() : Invalid(sub, "equals-ignore-case must be a string");
  }
  if (op == "wildcard") return ValidateWildcard(v, sub);
  if (op == "exists") return v.is_boolean() ? OkStatus() : Invalid(sub, "exists must be a boolean");
  if (op == "numeric") return ValidateNumeric(v, sub);
  if (op == "anything-but") return ValidateAnythingBut(v, sub);
  if (op == "cidr") {
    Cidr c;
    if (!v.is_string() || !ParseCidr(v.get<std::string>(), &c)) {
      return Invalid(sub, "cidr must be an IP prefix like \"10.0.0.0/24\"");
    }
    return OkStatus();
  }
  return Invalid(path, "unknown operator '" + op + "'");
}

Status ValidateLeaf(const Json& arr, const std::string& path) {
  if (arr.empty()) return Invalid(path, "match list must not be empty");
  for (size_t i = 0; i < arr.size(); ++i) {
    const Json& m = arr[i];
    if (m.is_array()) return Invalid(Index(path, i), "nested arrays are not allowed");
    if (m.is_object()) RETURN_IF_ERROR(ValidateMatcher(m, Index(path, i)));
  }
  return OkStatus();
}

Status ValidateObject(const Json& obj, const std::string& path) {
  if (!obj.is_object()) return Invalid(path, "must be a JSON object");
  if (obj.empty()) return Invalid(path, "must not be empty");
  for (auto it = obj.begin(); it != obj.end(); ++it) {
    std::string sub = Child(path, it.key());
    const Json& v = it.value();
    if (it.key() == "$or") {
      if (!v.is_array() || v.size() < 2) return Invalid(sub, "$or must be a list of 2+ patterns");
      for (size_t i = 0; i < v.size(); ++i) RETURN_IF_ERROR(ValidateObject(v[i], Index(sub, i)));
    } else if (v.is_object()) {
      RETURN_IF_ERROR(ValidateObject(v, sub));
    } else if (v.is_array()) {
      RETURN_IF_ERROR(ValidateLeaf(v, sub));
    } else {
      return Invalid(sub, "must be an array of match values or a nested object");
    }
  }
  return OkStatus();
}

// --- matching ----------------------------------------------------------------

bool ScalarEquals(const Json& a, const Json& b) {
  if (a.is_number() && b.is_number()) return a.get<double>() == b.get<double>();
  return a == b;
}

bool StartsWith(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }
bool EndsWith(std::string_view s, std::string_view p) {
  return s.size() >= p.size() && s.substr(s.size() - p.size()) == p;
}

bool AffixMatches(const Json& arg, const std::string& s, bool prefix) {
  if (arg.is_string()) {
    const std::string& a = arg.get_ref<const std::string&>();
    return prefix ? StartsWith(s, a) : EndsWith(s, a);
  }
  std::string a = Lower(arg["equals-ignore-case"].get<std::string>());
  std::string ls = Lower(s);
  return prefix ? StartsWith(ls, a) : EndsWith(ls, a);
}

bool NumericMatches(const Json& spec, double x) {
  for (size_t i = 0; i < spec.size(); i += 2) {
    const std::string& op = spec[i].get_ref<const std::string&>();
    double b = spec[i + 1].get<double>();
    bool ok = op == "="    ? x == b
              : op == "<"  ? x < b
              : op == "<=" ? x <= b
              : op == ">"  ? x > b
                           : x >= b;
    if (!ok) return false;
  }
  return true;
}

bool AnythingButMatches(const Json& arg, const Json& v) {
  if (arg.is_array()) {
    for (const auto& e : arg) {
      if (ScalarEquals(e, v)) return false;
    }
    return true;
  }
  if (!arg.is_object()) return !ScalarEquals(arg, v);
  if (!v.is_string()) return false;  // string-only operators
  const std::string& s = v.get_ref<const std::string&>();
  const std::string key = arg.begin().key();
  const Json& a = arg.begin().value();
  if (key == "prefix") return !StartsWith(s, a.get_ref<const std::string&>());
  if (key == "suffix") return !EndsWith(s, a.get_ref<const std::string&>());
  if (key == "wildcard") return !WildcardMatch(a.get_ref<const std::string&>(), s);
  // equals-ignore-case
  std::string ls = Lower(s);
  if (a.is_string()) return ls != Lower(a.get_ref<const std::string&>());
  for (const auto& e : a) {
    if (ls == Lower(e.get_ref<const std::string&>())) return false;
  }
  return true;
}

// One matcher against one present, non-array event value.
bool MatchValue(const Json& m, const Json& v) {
  if (v.is_object() || v.is_array()) return false;
  if (!m.is_object()) return ScalarEquals(m, v);
  const std::string& op = m.begin().key();
  const Json& arg = m.begin().value();
  if (op == "anything-but") return AnythingButMatches(arg, v);
  if (op == "numeric") return v.is_number() && NumericMatches(arg, v.get<double>());
  if (!v.is_string()) return false;  // the rest are string operators
  const std::string& s = v.get_ref<const std::string&>();
  if (op == "prefix") return AffixMatches(arg, s, true);
  if (op == "suffix") return AffixMatches(arg, s, false);
  if (op == "equals-ignore-case") return Lower(s) == Lower(arg.get_ref<const std::string&>());
  if (op == "wildcard") return WildcardMatch(arg.get_ref<const std::string&>(), s);
  if (op == "cidr") {
    Cidr c;
    return ParseCidr(arg.get<std::string>(), &c) && CidrContains(c, s);
  }
  return false;
}

// One matcher against a field (nullptr when absent).
bool MatchOne(const Json& m, const Json* field) {
  if (m.is_object() && m.contains("exists")) {
    bool want = m["exists"].get<bool>();
    return want == (field != nullptr);
  }
  if (field == nullptr) return false;
  if (field->is_array()) {
    for (const auto& e : *field) {
      if (MatchValue(m, e)) return true;
    }
    return false;
  }
  return MatchValue(m, *field);
}

bool MatchObject(const Json& pattern, const Json* event) {
  for (auto it = pattern.begin(); it != pattern.end(); ++it) {
    const Json& pv = it.value();
    if (it.key() == "$or") {
      bool any = false;
      for (const auto& alt : pv) {
        if (MatchObject(alt, event)) {
          any = true;
          break;
        }
      }
      if (!any) return false;
      continue;
    }
    const Json* field = nullptr;
    if (event != nullptr && event->is_object()) {
      auto f = event->find(it.key());
      if (f != event->end()) field = &*f;
    }
    bool ok = false;
    if (pv.is_object()) {
      if (field != nullptr && field->is_array()) {
        for (const auto& e : *field) {
          if (e.is_object() && MatchObject(pv, &e)) {
            ok = true;
            break;
          }
        }
      } else {
        ok = MatchObject(pv, field != nullptr && field->is_object() ? field : nullptr);
      }
    } else {
      for (const auto& m : pv) {
        if (MatchOne(m, field)) {
          ok = true;
          break;
        }
      }
    }
    if (!ok) return false;
  }
  return true;
}

}  // namespace

StatusOr<Pattern> Pattern::Parse(const Json& pattern) {
  RETURN_IF_ERROR(ValidateObject(pattern, ""));
  return Pattern(pattern);
}

StatusOr<Pattern> Pattern::ParseText(std::string_view text) {
  auto j = ParseJson(text);
  if (!j.ok()) return Annotate(j.status(), "event pattern");
  return Parse(*j);
}

bool Pattern::Matches(const Json& event) const { return MatchObject(json_, &event); }

}  // namespace tandem::bus
