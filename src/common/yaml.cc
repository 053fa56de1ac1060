#include "common/yaml.h"

#include <fstream>
#include <sstream>

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

Json ToJson(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      return nullptr;
    case YAML::NodeType::Scalar:
      return ScalarToJson(n);
    case YAML::NodeType::Sequence: {
      Json arr = Json::array();
      for (const auto& e : n) arr.push_back(ToJson(e));
      return arr;
    }
    case YAML::NodeType::Map: {
      Json obj = Json::object();
      for (const auto& kv : n) obj[kv.first.as<std::string>()] = ToJson(kv.second);
      return obj;
    }
  }
  return nullptr;
}

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
    return ToJson(root);
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
