#include "serving/server/flat_infer_body.h"

#include <charconv>
#include <cmath>
#include <cstdint>
#include <limits>

namespace tandem::serving::server {
namespace {

// A strict scanner for exactly the shape in the header: each token is checked
// against JSON's grammar, and anything it does not handle itself (another
// key, a nested value, an escape or a non-ASCII byte in a string, a number
// out of double's range) gives up, so the general parser sees it.
class Scanner {
 public:
  explicit Scanner(std::string_view s) : p_(s.data()), end_(s.data() + s.size()) {}

  bool Parse(FlatInferBody& out) {
    SkipSpace();
    if (!Eat('{')) return false;
    bool seen_model = false, seen_features = false, seen_version = false;
    for (;;) {
      SkipSpace();
      std::string_view key;
      if (!String(key)) return false;  // also `{}` and a trailing comma
      SkipSpace();
      if (!Eat(':')) return false;
      SkipSpace();
      if (key == "model") {
        std::string_view v;
        if (seen_model || !String(v)) return false;
        seen_model = true;
        out.model.assign(v);
      } else if (key == "features") {
        if (seen_features || !Features(out.features)) return false;
        seen_features = true;
      } else if (key == "version") {
        if (seen_version || !Version(out.version)) return false;
        seen_version = true;
      } else {
        return false;
      }
      SkipSpace();
      if (Eat('}')) break;
      if (!Eat(',')) return false;
    }
    SkipSpace();
    return p_ == end_ && seen_model && seen_features;
  }

 private:
  void SkipSpace() {
    while (p_ < end_ && (*p_ == ' ' || *p_ == '\n' || *p_ == '\r' || *p_ == '\t')) ++p_;
  }
  bool Eat(char c) {
    if (p_ >= end_ || *p_ != c) return false;
    ++p_;
    return true;
  }
  bool Literal(std::string_view word) {
    if (static_cast<size_t>(end_ - p_) < word.size() || std::string_view(p_, word.size()) != word) {
      return false;
    }
    p_ += word.size();
    return true;
  }
  // A string of printable ASCII without escapes.
  bool String(std::string_view& out) {
    if (!Eat('"')) return false;
    const char* start = p_;
    while (p_ < end_ && *p_ != '"') {
      const unsigned char c = static_cast<unsigned char>(*p_);
      if (c < 0x20 || c >= 0x80 || c == '\\') return false;
      ++p_;
    }
    if (p_ >= end_) return false;
    out = std::string_view(start, static_cast<size_t>(p_ - start));
    ++p_;
    return true;
  }
  // A JSON number token; `integer`: no fraction, no exponent.
  bool Number(std::string_view& token, bool& integer) {
    const char* start = p_;
    Eat('-');
    if (p_ >= end_) return false;
    if (*p_ == '0') {
      ++p_;
    } else if (*p_ >= '1' && *p_ <= '9') {
      while (p_ < end_ && *p_ >= '0' && *p_ <= '9') ++p_;
    } else {
      return false;
    }
    integer = true;
    if (p_ < end_ && *p_ == '.') {
      integer = false;
      ++p_;
      if (!Digits()) return false;
    }
    if (p_ < end_ && (*p_ == 'e' || *p_ == 'E')) {
      integer = false;
      ++p_;
      if (p_ < end_ && (*p_ == '+' || *p_ == '-')) ++p_;
      if (!Digits()) return false;
    }
    token = std::string_view(start, static_cast<size_t>(p_ - start));
    return true;
  }
  bool Digits() {
    const char* start = p_;
    while (p_ < end_ && *p_ >= '0' && *p_ <= '9') ++p_;
    return p_ > start;
  }
  // As nlohmann reads a number: an integer that fits int64 or uint64 as that
  // integer, anything else as a double (strtod); then to double.
  static bool ToDouble(std::string_view t, bool integer, double& out) {
    const char* b = t.data();
    const char* e = t.data() + t.size();
    if (integer) {
      if (t.front() == '-') {
        int64_t i = 0;
        if (auto r = std::from_chars(b, e, i); r.ec == std::errc() && r.ptr == e) {
          out = static_cast<double>(i);
          return true;
        }
      } else {
        uint64_t u = 0;
        if (auto r = std::from_chars(b, e, u); r.ec == std::errc() && r.ptr == e) {
          out = static_cast<double>(u);
          return true;
        }
      }
    }
    auto r = std::from_chars(b, e, out);
    return r.ec == std::errc() && r.ptr == e;  // out of range: the general parser
  }
  bool Features(std::vector<float>& out) {
    if (!Eat('[')) return false;
    SkipSpace();
    if (Eat(']')) return true;
    for (;;) {
      SkipSpace();
      if (p_ >= end_) return false;
      if (*p_ == 'n') {
        if (!Literal("null")) return false;
        out.push_back(NAN);
      } else if (*p_ == 't') {
        if (!Literal("true")) return false;
        out.push_back(1.0f);
      } else if (*p_ == 'f') {
        if (!Literal("false")) return false;
        out.push_back(0.0f);
      } else {
        std::string_view token;
        bool integer = false;
        double v = 0;
        if (!Number(token, integer) || !ToDouble(token, integer, v)) return false;
        out.push_back(static_cast<float>(v));
      }
      SkipSpace();
      if (Eat(']')) return true;
      if (!Eat(',')) return false;
    }
  }
  // A string, or an integer written as nlohmann's std::to_string of it.
  bool Version(std::string& out) {
    if (p_ < end_ && *p_ == '"') {
      std::string_view v;
      if (!String(v)) return false;
      out.assign(v);
      return true;
    }
    std::string_view token;
    bool integer = false;
    if (!Number(token, integer) || !integer) return false;
    const char* e = token.data() + token.size();
    if (token.front() == '-') {
      int64_t i = 0;
      auto r = std::from_chars(token.data(), e, i);
      if (r.ec != std::errc() || r.ptr != e) return false;
      out = std::to_string(i);
    } else {
      uint64_t u = 0;
      auto r = std::from_chars(token.data(), e, u);
      if (r.ec != std::errc() || r.ptr != e) return false;
      out = std::to_string(u);
    }
    return true;
  }

  const char* p_;
  const char* end_;
};

}  // namespace

std::optional<FlatInferBody> ParseFlatInferBody(std::string_view body) {
  FlatInferBody out;
  out.features.reserve(64);
  if (!Scanner(body).Parse(out)) return std::nullopt;
  return out;
}

}  // namespace tandem::serving::server
