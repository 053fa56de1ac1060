// Training data for tandem-train-xgboost: CSV and LibSVM files read into a
// dense row-major float matrix (NaN = missing) plus labels.
//
// CSV follows SageMaker's built-in XGBoost convention: the label is the first
// column, there is no header row, an empty field (or "nan") is a missing value.
// LibSVM: `label idx:value ...` with 0-based feature indices (XGBoost's
// default); an absent index is a missing value. Both formats are held densely,
// which suits the small-to-medium data this trainer is meant for.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace tandem::train_xgboost {

enum class DataFormat { kCsv, kLibSvm };

struct Dataset {
  size_t num_rows = 0;
  size_t num_features = 0;
  std::vector<float> features;  // num_rows * num_features, row-major, NaN = missing
  std::vector<float> labels;    // num_rows
  // LibSVM data has no fixed width: it may be widened (see Widen) to match
  // another data set. CSV widths must match exactly.
  bool variable_width = false;

  const float* Row(size_t i) const { return features.data() + i * num_features; }
  // Pads every row with missing values up to `width` (>= num_features).
  void Widen(size_t width);
  // Appends `other`'s rows; widths must agree (after widening LibSVM data).
  Status Append(const Dataset& other, std::string_view what);
};

// Parses CSV text; `name` (a file name) prefixes error messages, which also
// carry the 1-based line and column, e.g. "train.csv:3: column 5: 'abc' is
// not a number". Blank lines are skipped; CRLF line ends are accepted.
StatusOr<Dataset> ParseCsv(std::string_view text, std::string_view name);

// Parses LibSVM text; errors are named as for ParseCsv.
StatusOr<Dataset> ParseLibSvm(std::string_view text, std::string_view name);

// The format of a channel file: from `content_type` if non-empty ("text/csv",
// "text/libsvm", "application/x-libsvm", with optional ";parameters"), else
// from the extension (.csv; .libsvm, .svm, .txt). InvalidArgument otherwise.
StatusOr<DataFormat> FormatOf(const std::string& path, std::string_view content_type);

// Reads one file in the given format. NotFound if it cannot be opened.
StatusOr<Dataset> ReadDataFile(const std::string& path, DataFormat format);

// The files of a channel, in the order ReadChannel reads them: the file
// itself, or a directory's regular files (hidden files and names starting
// with '_' skipped) in name order. NotFound / InvalidArgument as ReadChannel.
StatusOr<std::vector<std::string>> ChannelFiles(const std::string& path);

// Reads a channel: a file, or a directory whose regular files (hidden files
// and names starting with '_' skipped, e.g. Spark's _SUCCESS) are read in
// name order and concatenated. NotFound for a missing path,
// InvalidArgument for an empty channel or mixed widths.
StatusOr<Dataset> ReadChannel(const std::string& path, std::string_view content_type);

}  // namespace tandem::train_xgboost
