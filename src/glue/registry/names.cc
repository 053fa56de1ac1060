#include "glue/registry/names.h"

#include <cctype>

namespace tandem::registry {
namespace {

bool IsAlnum(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; }

std::string Quote(std::string_view s) {
  constexpr size_t kMax = 200;
  std::string out = "'" + std::string(s.substr(0, kMax));
  if (s.size() > kMax) out += "...";
  return out + "'";
}

// Parses a positive decimal version number; 0 when `s` is not one.
int64_t ParseVersionNumber(std::string_view s) {
  if (s.empty() || s.size() > 18 || s.front() == '0') return 0;
  int64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return 0;
    v = v * 10 + (c - '0');
  }
  return v;
}

}  // namespace

std::string ModelRef::ToString() const {
  switch (kind) {
    case Kind::kAlias:
      return name + "@" + alias;
    case Kind::kVersion:
      return name + "/" + std::to_string(version);
    case Kind::kLatest:
      break;
  }
  return name;
}

Status ValidateModelName(std::string_view name) {
  bool ok = !name.empty() && name.size() <= 128 && IsAlnum(name.front());
  for (char c : name) ok = ok && (IsAlnum(c) || c == '.' || c == '_' || c == '-');
  if (ok) return OkStatus();
  return InvalidArgumentError("invalid model name " + Quote(name) +
                              ": expected 1-128 characters of [A-Za-z0-9._-] starting with a "
                              "letter or digit");
}

Status ValidateAlias(std::string_view alias) {
  bool ok = !alias.empty() && alias.size() <= 64;
  bool all_digits = true;
  for (char c : alias) {
    bool lower_or_digit = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    ok = ok && (lower_or_digit || c == '_' || c == '-');
    all_digits = all_digits && c >= '0' && c <= '9';
  }
  if (ok && !all_digits) return OkStatus();
  return InvalidArgumentError("invalid alias " + Quote(alias) +
                              ": expected 1-64 characters of [a-z0-9_-], not all digits");
}

Status ValidateTag(std::string_view key, std::string_view value) {
  if (key.empty() || key.size() > 250) {
    return InvalidArgumentError("invalid tag key " + Quote(key) + ": must be 1-250 characters");
  }
  if (value.size() > 5000) {
    return InvalidArgumentError("value of tag " + Quote(key) + " is " +
                                std::to_string(value.size()) +
                                " characters long; at most 5000 allowed");
  }
  return OkStatus();
}

Status ValidateSource(std::string_view source) {
  if (source.starts_with("sha256:")) {
    std::string_view hex = source.substr(7);
    bool ok = hex.size() == 64;
    for (char c : hex) ok = ok && ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'));
    if (ok) return OkStatus();
    return InvalidArgumentError("invalid source digest " + Quote(source) +
                                ": expected sha256: followed by 64 lowercase hex digits");
  }
  size_t colon = source.find("://");
  bool ok = colon != std::string_view::npos && colon > 0 && source.size() > colon + 3 &&
            std::isalpha(static_cast<unsigned char>(source.front()));
  for (size_t i = 0; ok && i < colon; ++i) {
    char c = source[i];
    ok = IsAlnum(c) || c == '+' || c == '-' || c == '.';
  }
  if (ok) return OkStatus();
  if (source.empty()) return InvalidArgumentError("model version source is required");
  return InvalidArgumentError("invalid source " + Quote(source) +
                              ": expected an artifact digest (sha256:...) or a URI "
                              "(scheme://...)");
}

StatusOr<ModelRef> ParseModelRef(std::string_view ref) {
  ModelRef out;
  std::string_view name = ref;
  auto bad = [&](const Status& why) {
    return InvalidArgumentError("invalid model reference " + Quote(ref) +
                                " (expected name, "
                                "name@alias or name/version): " +
                                std::string(why.message()));
  };
  if (size_t at = ref.find('@'); at != std::string_view::npos) {
    name = ref.substr(0, at);
    out.kind = ModelRef::Kind::kAlias;
    out.alias = std::string(ref.substr(at + 1));
    if (Status st = ValidateAlias(out.alias); !st.ok()) return bad(st);
  } else if (size_t slash = ref.find('/'); slash != std::string_view::npos) {
    name = ref.substr(0, slash);
    out.kind = ModelRef::Kind::kVersion;
    out.version = ParseVersionNumber(ref.substr(slash + 1));
    if (out.version <= 0) {
      return bad(InvalidArgumentError("version " + Quote(ref.substr(slash + 1)) +
                                      " is not a positive integer"));
    }
  }
  if (Status st = ValidateModelName(name); !st.ok()) return bad(st);
  out.name = std::string(name);
  return out;
}

}  // namespace tandem::registry
