#include "train_xgboost/data_reader.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <optional>
#include <sstream>
#include <tuple>

namespace tandem::train_xgboost {
namespace {

constexpr float kMissing = std::numeric_limits<float>::quiet_NaN();
// The dense reader refuses absurd LibSVM indices rather than allocating them.
constexpr size_t kMaxFeatures = 1'000'000;

std::string_view Trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

// Parses a whole token as a float; NaN for "nan", nullopt for anything else
// that is not a finite number.
std::optional<float> ParseFloat(std::string_view s) {
  if (!s.empty() && s.front() == '+') s.remove_prefix(1);
  float v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || ptr != s.data() + s.size() || std::isinf(v)) return std::nullopt;
  return v;
}

std::string Where(std::string_view name, size_t line) {
  return std::string(name) + ":" + std::to_string(line) + ": ";
}

bool HasLetter(std::string_view s) {
  return std::any_of(s.begin(), s.end(),
                     [](unsigned char c) { return std::isalpha(c) && c != 'e' && c != 'E'; });
}

// Calls fn(line_number, line) for each non-blank line, CR stripped.
template <typename Fn>
Status ForEachLine(std::string_view text, Fn fn) {
  size_t line_no = 0;
  while (!text.empty()) {
    size_t end = text.find('\n');
    std::string_view line = text.substr(0, end);
    text.remove_prefix(end == std::string_view::npos ? text.size() : end + 1);
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (Trim(line).empty()) continue;
    RETURN_IF_ERROR(fn(line_no, line));
  }
  return OkStatus();
}

}  // namespace

void Dataset::Widen(size_t width) {
  if (width <= num_features) return;
  std::vector<float> wide(num_rows * width, kMissing);
  for (size_t i = 0; i < num_rows; ++i) {
    std::copy_n(Row(i), num_features, wide.begin() + i * width);
  }
  features = std::move(wide);
  num_features = width;
}

Status Dataset::Append(const Dataset& other, std::string_view what) {
  if (other.num_rows == 0) return OkStatus();
  if (num_rows == 0) {
    *this = other;
    return OkStatus();
  }
  Dataset more = other;
  if (variable_width && num_features < more.num_features) Widen(more.num_features);
  if (more.variable_width && more.num_features < num_features) more.Widen(num_features);
  if (more.num_features != num_features) {
    return InvalidArgumentError(std::string(what) + " has " + std::to_string(more.num_features) +
                                " features, expected " + std::to_string(num_features));
  }
  features.insert(features.end(), more.features.begin(), more.features.end());
  labels.insert(labels.end(), more.labels.begin(), more.labels.end());
  num_rows += more.num_rows;
  variable_width = variable_width && more.variable_width;
  return OkStatus();
}

StatusOr<Dataset> ParseCsv(std::string_view text, std::string_view name) {
  Dataset d;
  size_t width = 0;  // fields per line, label included
  std::vector<std::string_view> fields;
  RETURN_IF_ERROR(ForEachLine(text, [&](size_t line_no, std::string_view line) -> Status {
    fields.clear();
    size_t start = 0;
    while (true) {
      size_t comma = line.find(',', start);
      fields.push_back(Trim(line.substr(start, comma - start)));
      if (comma == std::string_view::npos) break;
      start = comma + 1;
    }
    if (width == 0) {
      if (fields.size() < 2) {
        return InvalidArgumentError(Where(name, line_no) +
                                    "a CSV row needs a label and at least one feature");
      }
      width = fields.size();
    } else if (fields.size() != width) {
      return InvalidArgumentError(Where(name, line_no) + "expected " + std::to_string(width) +
                                  " fields (label + features), found " +
                                  std::to_string(fields.size()));
    }
    std::optional<float> label = ParseFloat(fields[0]);
    if (!label || std::isnan(*label)) {
      if (d.num_rows == 0 && HasLetter(line)) {
        return InvalidArgumentError(Where(name, line_no) +
                                    "looks like a header row; CSV input must have no header "
                                    "and the label in the first column");
      }
      return InvalidArgumentError(Where(name, line_no) + "column 1: label '" +
                                  std::string(fields[0]) + "' is not a number");
    }
    d.labels.push_back(*label);
    for (size_t j = 1; j < fields.size(); ++j) {
      if (fields[j].empty()) {
        d.features.push_back(kMissing);
        continue;
      }
      std::optional<float> v = ParseFloat(fields[j]);
      if (!v) {
        return InvalidArgumentError(Where(name, line_no) + "column " + std::to_string(j + 1) +
                                    ": '" + std::string(fields[j]) + "' is not a finite number");
      }
      d.features.push_back(*v);
    }
    ++d.num_rows;
    return OkStatus();
  }));
  d.num_features = width == 0 ? 0 : width - 1;
  return d;
}

StatusOr<Dataset> ParseLibSvm(std::string_view text, std::string_view name) {
  Dataset d;
  d.variable_width = true;
  std::vector<std::tuple<size_t, size_t, float>> cells;  // row, column, value
  RETURN_IF_ERROR(ForEachLine(text, [&](size_t line_no, std::string_view line) -> Status {
    line = line.substr(0, line.find('#'));
    std::istringstream tokens{std::string(line)};
    std::string token;
    if (!(tokens >> token)) return OkStatus();  // a comment line
    std::optional<float> label = ParseFloat(token);
    if (!label || std::isnan(*label)) {
      return InvalidArgumentError(Where(name, line_no) + "label '" + token + "' is not a number");
    }
    d.labels.push_back(*label);
    while (tokens >> token) {
      size_t colon = token.find(':');
      if (colon == std::string::npos) {
        return InvalidArgumentError(Where(name, line_no) + "'" + token +
                                    "' is not an index:value pair");
      }
      std::string_view idx_text = std::string_view(token).substr(0, colon);
      if (idx_text == "qid") continue;
      size_t idx = 0;
      auto [ptr, ec] = std::from_chars(idx_text.data(), idx_text.data() + idx_text.size(), idx);
      std::optional<float> v = ParseFloat(std::string_view(token).substr(colon + 1));
      if (ec != std::errc() || ptr != idx_text.data() + idx_text.size() || idx_text.empty()) {
        return InvalidArgumentError(Where(name, line_no) + "'" + token +
                                    "': the index is not a non-negative integer");
      }
      if (idx >= kMaxFeatures) {
        return InvalidArgumentError(Where(name, line_no) + "'" + token +
                                    "': feature index too large (max " +
                                    std::to_string(kMaxFeatures - 1) + ")");
      }
      if (!v) {
        return InvalidArgumentError(Where(name, line_no) + "'" + token +
                                    "': the value is not a finite number");
      }
      d.num_features = std::max(d.num_features, idx + 1);
      cells.emplace_back(d.num_rows, idx, *v);
    }
    ++d.num_rows;
    return OkStatus();
  }));
  d.features.assign(d.num_rows * d.num_features, kMissing);
  for (const auto& [row, col, v] : cells) d.features[row * d.num_features + col] = v;
  return d;
}

StatusOr<DataFormat> FormatOf(const std::string& path, std::string_view content_type) {
  std::string type(Trim(content_type.substr(0, content_type.find(';'))));
  std::transform(type.begin(), type.end(), type.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  if (type == "text/csv" || type == "csv") return DataFormat::kCsv;
  if (type == "text/libsvm" || type == "text/x-libsvm" || type == "application/x-libsvm" ||
      type == "libsvm") {
    return DataFormat::kLibSvm;
  }
  if (!type.empty() && type != "application/octet-stream") {
    return InvalidArgumentError("unsupported content type '" + std::string(content_type) +
                                "' for " + path + " (use text/csv or text/libsvm)");
  }
  std::string ext = std::filesystem::path(path).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  if (ext == ".csv") return DataFormat::kCsv;
  if (ext == ".libsvm" || ext == ".svm" || ext == ".txt") return DataFormat::kLibSvm;
  return InvalidArgumentError("cannot tell the format of " + path +
                              ": name it .csv, .libsvm, .svm or .txt, or give the channel a "
                              "content type (text/csv, text/libsvm)");
}

StatusOr<Dataset> ReadDataFile(const std::string& path, DataFormat format) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFoundError("cannot open " + path + ": " + std::strerror(errno));
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return InternalError("cannot read " + path);
  return format == DataFormat::kCsv ? ParseCsv(text.str(), path) : ParseLibSvm(text.str(), path);
}

StatusOr<std::vector<std::string>> ChannelFiles(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::file_status st = fs::status(path, ec);
  if (ec || !fs::exists(st)) return NotFoundError("channel path " + path + " does not exist");
  std::vector<std::string> files;
  if (fs::is_directory(st)) {
    for (const auto& entry : fs::directory_iterator(path, ec)) {
      std::string fname = entry.path().filename().string();
      if (fname.starts_with('.') || fname.starts_with('_')) continue;
      if (entry.is_regular_file()) files.push_back(entry.path().string());
    }
    if (ec) return InternalError("cannot list " + path + ": " + ec.message());
    std::sort(files.begin(), files.end());
    if (files.empty()) return InvalidArgumentError("channel directory " + path + " has no files");
  } else {
    files.push_back(path);
  }
  return files;
}

StatusOr<Dataset> ReadChannel(const std::string& path, std::string_view content_type) {
  ASSIGN_OR_RETURN(std::vector<std::string> files, ChannelFiles(path));
  Dataset all;
  for (const std::string& file : files) {
    ASSIGN_OR_RETURN(DataFormat format, FormatOf(file, content_type));
    ASSIGN_OR_RETURN(Dataset d, ReadDataFile(file, format));
    RETURN_IF_ERROR(all.Append(d, file));
  }
  if (all.num_rows == 0) return InvalidArgumentError("channel " + path + " has no data rows");
  return all;
}

}  // namespace tandem::train_xgboost
