// Output formats shared by every CLI command: `-o table` (default, aligned
// columns), `-o json` (the API's JSON, pretty), `-o yaml`.
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

#include "common/json.h"
#include "common/status.h"

namespace tandem::cli {

enum class Format { kTable, kJson, kYaml };

StatusOr<Format> ParseFormat(const std::string& name);

// A column: header text and a JSON pointer-ish dotted path into each row
// ("name", "lineage.job_id"); arrays/objects are rendered compactly.
struct Column {
  std::string header;
  std::string path;
};

// Prints `rows` (a JSON array) as a table with `columns`, or the whole
// `document` as JSON/YAML. `document` is what the API returned.
void PrintList(std::ostream& out, Format format, const Json& document, const Json& rows,
               const std::vector<Column>& columns);

// Prints one object: as `key: value` lines for table format.
void PrintObject(std::ostream& out, Format format, const Json& object);

// Renders a cell value for tables: strings raw, null as "-", others compact JSON.
std::string CellText(const Json& v);

}  // namespace tandem::cli
