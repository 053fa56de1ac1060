#include "common/spec_fields.h"

namespace tandem::spec {

std::string TypeName(const Json& v) {
  if (v.is_null()) return "null";
  if (v.is_boolean()) return "a boolean";
  if (v.is_number_integer()) return "an integer";
  if (v.is_number()) return "a number";
  if (v.is_string()) return "a string";
  if (v.is_array()) return "a list";
  return "a mapping";
}

Status TypeError(const std::string& path, std::string_view expected, const Json& got) {
  return InvalidArgumentError("'" + path + "' must be " + std::string(expected) + ", got " +
                              TypeName(got));
}

Status CheckKnown(const Json& obj, const std::string& prefix, const std::set<std::string>& known) {
  for (const auto& [k, v] : obj.items()) {
    if (!known.count(k)) return InvalidArgumentError("unknown field '" + prefix + k + "'");
  }
  return OkStatus();
}

StatusOr<std::string> String(const Json& v, const std::string& path) {
  if (!v.is_string()) return TypeError(path, "a string", v);
  return v.get<std::string>();
}

StatusOr<int64_t> Integer(const Json& v, const std::string& path, int64_t lo, int64_t hi) {
  std::string range = "an integer between " + std::to_string(lo) + " and " + std::to_string(hi);
  if (!v.is_number_integer()) return TypeError(path, range, v);
  if (v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(hi)) {
    return InvalidArgumentError("'" + path + "' must be " + range + ", got " + v.dump());
  }
  int64_t x = v.get<int64_t>();
  if (x < lo || x > hi) {
    return InvalidArgumentError("'" + path + "' must be " + range + ", got " + v.dump());
  }
  return x;
}

StatusOr<double> Number(const Json& v, const std::string& path, double lo, double hi) {
  std::string range = "a number between " + std::to_string(lo) + " and " + std::to_string(hi);
  if (!v.is_number()) return TypeError(path, range, v);
  double x = v.get<double>();
  if (!(x >= lo && x <= hi)) {
    return InvalidArgumentError("'" + path + "' must be " + range + ", got " + v.dump());
  }
  return x;
}

StatusOr<double> PositiveNumber(const Json& v, const std::string& path) {
  if (!v.is_number()) return TypeError(path, "a positive number", v);
  double x = v.get<double>();
  if (!(x > 0))
    return InvalidArgumentError("'" + path + "' must be a positive number, got " + v.dump());
  return x;
}

StatusOr<std::string> OneOf(const Json& v, const std::string& path,
                            const std::vector<std::string>& allowed) {
  std::string expected;
  for (size_t i = 0; i < allowed.size(); ++i) {
    if (i > 0) expected += i + 1 == allowed.size() ? " or " : ", ";
    expected += allowed[i];
  }
  if (!v.is_string()) return TypeError(path, "one of " + expected, v);
  std::string s = v.get<std::string>();
  for (const auto& a : allowed) {
    if (s == a) return s;
  }
  return InvalidArgumentError("'" + path + "' must be one of " + expected + ", got " + v.dump());
}

StatusOr<std::vector<std::string>> StringList(const Json& v, const std::string& path) {
  if (!v.is_array()) return TypeError(path, "a list of strings", v);
  std::vector<std::string> out;
  for (size_t i = 0; i < v.size(); ++i) {
    ASSIGN_OR_RETURN(std::string s, String(v[i], path + "[" + std::to_string(i) + "]"));
    out.push_back(std::move(s));
  }
  return out;
}

StatusOr<Json> Section(const Json& doc, const std::string& key) {
  if (!doc.is_object() || !doc.contains(key) || doc[key].is_null()) return Json::object();
  if (!doc[key].is_object()) return TypeError(key, "a mapping", doc[key]);
  return doc[key];
}

}  // namespace tandem::spec
