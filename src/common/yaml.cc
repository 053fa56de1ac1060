#include "common/yaml.h"

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <sstream>
#include <string_view>

#include "common/utf8.h"
#include "yaml-cpp/depthguard.h"
#include "yaml-cpp/yaml.h"

namespace tandem {
namespace {

Json ScalarToJson(const YAML::Node& n) {
  const std::string& s = n.Scalar();
  if (n.Tag() == "!") return s;  // quoted scalar: always a string
  if (s == "null" || s == "~" || s.empty()) return s.empty() && n.Tag() == "!" ? Json(s) : Json();
  if (s == "true" || s == "True" || s == "TRUE") return true;
  if (s == "false" || s == "False" || s == "FALSE") return false;
  // Integer?
  {
    size_t pos = 0;
    try {
      long long v = std::stoll(s, &pos, 10);
      if (pos == s.size()) return v;
    } catch (...) {
    }
  }
  {
    size_t pos = 0;
    try {
      double v = std::stod(s, &pos);
      if (pos == s.size() && s.find_first_of("0123456789") != std::string::npos) return v;
    } catch (...) {
    }
  }
  return s;
}

Status NotUtf8() { return InvalidArgumentError("YAML text is not valid UTF-8"); }

// Converts a parsed document, bounding what aliases can expand to: each
// alias is copied where it is used, so nine nested levels of ten references
// ("billion laughs") would otherwise build 10^9 nodes from a 1 KiB text.
class Converter {
 public:
  explicit Converter(uint64_t max_nodes) : max_nodes_(max_nodes) {}

  StatusOr<Json> Convert(const YAML::Node& n, int depth) {
    if (++nodes_ > max_nodes_) {
      return ResourceExhaustedError("YAML document expands to more than " +
                                    std::to_string(max_nodes_) +
                                    " nodes (aliases are expanded where used)");
    }
    switch (n.Type()) {
      case YAML::NodeType::Null:
      case YAML::NodeType::Undefined:
        return Json(nullptr);
      case YAML::NodeType::Scalar:
        if (!IsValidUtf8(n.Scalar())) return NotUtf8();
        return ScalarToJson(n);
      case YAML::NodeType::Sequence:
      case YAML::NodeType::Map:
        break;
    }
    if (depth >= kMaxJsonDepth) {
      return InvalidArgumentError("YAML nested deeper than " + std::to_string(kMaxJsonDepth) +
                                  " levels");
    }
    if (n.IsSequence()) {
      Json arr = Json::array();
      for (const auto& e : n) {
        ASSIGN_OR_RETURN(Json v, Convert(e, depth + 1));
        arr.push_back(std::move(v));
      }
      return arr;
    }
    Json obj = Json::object();
    for (const auto& kv : n) {
      ASSIGN_OR_RETURN(Json v, Convert(kv.second, depth + 1));
      if (!kv.first.IsScalar()) return InvalidArgumentError("YAML map keys must be plain scalars");
      if (!IsValidUtf8(kv.first.Scalar())) return NotUtf8();
      obj[kv.first.Scalar()] = std::move(v);
    }
    return obj;
  }

 private:
  uint64_t max_nodes_;
  uint64_t nodes_ = 0;
};

void Emit(YAML::Emitter& out, const Json& v) {
  if (v.is_object()) {
    out << YAML::BeginMap;
    for (const auto& [k, e] : v.items()) {
      out << YAML::Key << k << YAML::Value;
      Emit(out, e);
    }
    out << YAML::EndMap;
  } else if (v.is_array()) {
    out << YAML::BeginSeq;
    for (const auto& e : v) Emit(out, e);
    out << YAML::EndSeq;
  } else if (v.is_string()) {
    out << v.get<std::string>();
  } else if (v.is_null()) {
    out << YAML::Null;
  } else {
    out << v.dump();
  }
}

}  // namespace

StatusOr<Json> ParseYaml(std::string_view text) {
  try {
    YAML::Node root = YAML::Load(std::string(text));
    // An alias-free document has fewer nodes than bytes.
    return Converter(std::max<uint64_t>(kMaxYamlNodes, text.size())).Convert(root, 0);
  } catch (const YAML::DeepRecursion& e) {
    // yaml-cpp's own guard (2000 levels, far below what would exhaust the
    // stack) says only "bad file": name the limit the caller can act on.
    return InvalidArgumentError("YAML nested deeper than " + std::to_string(kMaxJsonDepth) +
                                " levels (at line " + std::to_string(e.mark.line + 1) +
                                ", column " + std::to_string(e.mark.column + 1) + ")");
  } catch (const YAML::Exception& e) {
    return InvalidArgumentError("malformed YAML at line " + std::to_string(e.mark.line + 1) +
                                ", column " + std::to_string(e.mark.column + 1) + ": " + e.msg);
  }
}

StatusOr<Json> ReadYamlFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return NotFoundError("cannot read '" + path + "'");
  std::stringstream ss;
  ss << in.rdbuf();
  auto j = ParseYaml(ss.str());
  if (!j.ok()) return Annotate(j.status(), path);
  return j;
}

std::string ToYaml(const Json& value) {
  YAML::Emitter out;
  Emit(out, value);
  return std::string(out.c_str()) + "\n";
}

}  // namespace tandem
