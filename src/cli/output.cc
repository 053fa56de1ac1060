#include "cli/output.h"

#include <algorithm>
#include <cstdio>
#include <ostream>

#include "common/yaml.h"

namespace tandem::cli {

StatusOr<Format> ParseFormat(const std::string& name) {
  if (name == "table" || name.empty()) return Format::kTable;
  if (name == "json") return Format::kJson;
  if (name == "yaml") return Format::kYaml;
  return InvalidArgumentError("unknown output format '" + name + "' (use json, table or yaml)");
}

std::string CellText(const Json& v) {
  if (v.is_null()) return "-";
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object() && v.empty()) return "-";
  if (v.is_object()) {
    std::string s;
    for (const auto& [k, e] : v.items()) {
      if (!s.empty()) s += ",";
      s += k + "=" + CellText(e);
    }
    return s;
  }
  if (v.is_number_float()) {
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%.6g", v.get<double>());  // tables: 6 significant digits
    return buf;
  }
  if (v.is_array()) {
    std::string s;
    for (const auto& e : v) {
      if (!s.empty()) s += ",";
      s += CellText(e);
    }
    return s.empty() ? "-" : s;
  }
  return v.dump();
}

namespace {

Json Lookup(const Json& row, const std::string& path) {
  const Json* cur = &row;
  size_t start = 0;
  while (start <= path.size()) {
    size_t dot = path.find('.', start);
    std::string key =
        path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (!cur->is_object() || !cur->contains(key)) return nullptr;
    cur = &(*cur)[key];
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return *cur;
}

}  // namespace

void PrintList(std::ostream& out, Format format, const Json& document, const Json& rows,
               const std::vector<Column>& columns) {
  if (format == Format::kJson) {
    out << document.dump(2) << "\n";
    return;
  }
  if (format == Format::kYaml) {
    out << ToYaml(document);
    return;
  }
  std::vector<std::vector<std::string>> cells;
  std::vector<size_t> width;
  for (const auto& c : columns) width.push_back(c.header.size());
  for (const auto& row : rows) {
    std::vector<std::string> line;
    for (size_t i = 0; i < columns.size(); ++i) {
      std::string text = CellText(Lookup(row, columns[i].path));
      if (text.size() > 60) text = text.substr(0, 57) + "...";
      width[i] = std::max(width[i], text.size());
      line.push_back(std::move(text));
    }
    cells.push_back(std::move(line));
  }
  auto print_line = [&](const std::vector<std::string>& line) {
    for (size_t i = 0; i < line.size(); ++i) {
      out << line[i];
      if (i + 1 < line.size()) out << std::string(width[i] - line[i].size() + 2, ' ');
    }
    out << "\n";
  };
  std::vector<std::string> headers;
  for (const auto& c : columns) headers.push_back(c.header);
  print_line(headers);
  for (const auto& line : cells) print_line(line);
}

void PrintObject(std::ostream& out, Format format, const Json& object) {
  if (format == Format::kJson) {
    out << object.dump(2) << "\n";
    return;
  }
  if (format == Format::kYaml || !object.is_object()) {
    out << ToYaml(object);
    return;
  }
  size_t width = 0;
  for (const auto& [k, v] : object.items()) width = std::max(width, k.size());
  for (const auto& [k, v] : object.items()) {
    out << k << ":" << std::string(width - k.size() + 1, ' ') << CellText(v) << "\n";
  }
}

}  // namespace tandem::cli
