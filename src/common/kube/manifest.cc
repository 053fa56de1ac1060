#include "common/kube/manifest.h"

#include <cctype>

namespace tandem::kube {
namespace {

// A string that YAML reads back as the same string when written plain:
// it starts with a letter or '/' (no indicator, no number, no sexagesimal)
// and has no blank, no '#' and no ": " (':' and '@' inside are plain).
bool PlainSafe(const std::string& s) {
  if (s.empty() || !(std::isalpha(static_cast<unsigned char>(s[0])) || s[0] == '/')) return false;
  if (s.back() == ':') return false;
  for (char c : s) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '/' ||
          c == '-' || c == ':' || c == '@')) {
      return false;
    }
  }
  std::string lower;
  for (char c : s) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (const char* word : {"true", "false", "yes", "no", "on", "off", "y", "n", "null"}) {
    if (lower == word) return false;
  }
  return true;
}

// A scalar or an empty collection, written inline; JSON's quoting of a
// string is a valid YAML double-quoted scalar.
std::string Inline(const Json& v) {
  if (v.is_string()) {
    const auto& s = v.get_ref<const std::string&>();
    return PlainSafe(s) ? s : v.dump();
  }
  return v.dump();
}

bool IsBlock(const Json& v) { return (v.is_object() || v.is_array()) && !v.empty(); }

// A multi-line string written as a literal block (`|`) reads back exactly
// when it ends with one newline, starts with no blank and has only
// printable characters and no trailing blanks on a line.
bool LiteralSafe(const std::string& s) {
  if (s.size() < 2 || s.back() != '\n' || s[s.size() - 2] == '\n' || s[0] == ' ' || s[0] == '\n') {
    return false;
  }
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '\n') {
      if (i > 0 && s[i - 1] == ' ') return false;
      continue;
    }
    if (c < 0x20 || c > 0x7e) return false;
  }
  return true;
}

void Literal(const std::string& s, size_t indent, std::string& out) {
  const std::string pad(indent, ' ');
  out += " |\n";
  size_t start = 0;
  while (start < s.size()) {
    size_t end = s.find('\n', start);
    std::string line = s.substr(start, end - start);
    out += line.empty() ? "\n" : pad + line + "\n";
    start = end + 1;
  }
}

void Block(const Json& v, size_t indent, std::string& out) {
  const std::string pad(indent, ' ');
  if (v.is_object()) {
    for (const auto& [k, e] : v.items()) {
      out += pad + Inline(Json(k)) + ":";
      if (IsBlock(e)) {
        out += "\n";
        Block(e, indent + 2, out);
      } else if (e.is_string() && LiteralSafe(e.get_ref<const std::string&>())) {
        Literal(e.get_ref<const std::string&>(), indent + 2, out);
      } else {
        out += " " + Inline(e) + "\n";
      }
    }
    return;
  }
  for (const Json& e : v) {
    if (IsBlock(e)) {
      std::string child;
      Block(e, indent + 2, child);
      out += pad + "- " + child.substr(indent + 2);
    } else {
      out += pad + "- " + Inline(e) + "\n";
    }
  }
}

}  // namespace

StatusOr<ManifestFormat> ParseManifestFormat(const std::string& text) {
  if (text == "yaml") return ManifestFormat::kYaml;
  if (text == "json") return ManifestFormat::kJson;
  return InvalidArgumentError("the manifest format must be yaml or json, got '" +
                              text.substr(0, 40) + "'");
}

std::string ToBlockYaml(const Json& value) {
  if (!IsBlock(value)) return Inline(value) + "\n";
  std::string out;
  Block(value, 0, out);
  return out;
}

std::string WriteManifest(const std::vector<Json>& objects, ManifestFormat format) {
  if (format == ManifestFormat::kJson) {
    Json list = {{"apiVersion", "v1"}, {"kind", "List"}, {"items", Json::array()}};
    for (const Json& o : objects) list["items"].push_back(o);
    return list.dump(2) + "\n";
  }
  std::string out;
  for (const Json& o : objects) out += "---\n" + ToBlockYaml(o);
  return out;
}

}  // namespace tandem::kube
