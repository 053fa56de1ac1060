#include "glue/sql/deferred_rows.h"

#include <cstddef>
#include <string>

namespace tandem::sql {

Status ExecDeferredRows(Transaction& tx, std::string_view insert, size_t columns,
                        const std::vector<Value>& values, std::string_view suffix) {
  if (columns == 0 || values.size() % columns != 0) {
    return InvalidArgumentError("ExecDeferredRows: " + std::to_string(values.size()) +
                                " values are not whole rows of " + std::to_string(columns) +
                                " [in: " + std::string(insert.substr(0, 80)) + "]");
  }
  constexpr size_t kMaxRows = 64, kMaxParams = 999;
  size_t cap = 1;
  while (cap * 2 <= kMaxRows && cap * 2 * columns <= kMaxParams) cap *= 2;
  std::string row = "(";
  for (size_t c = 0; c < columns; ++c) row += c == 0 ? "?" : ", ?";
  row += ")";
  size_t left = values.size() / columns, next = 0;
  while (left > 0) {
    size_t rows = cap;
    while (rows > left) rows /= 2;
    std::string sql(insert);
    sql += " VALUES ";
    for (size_t r = 0; r < rows; ++r) {
      if (r > 0) sql += ", ";
      sql += row;
    }
    if (!suffix.empty()) {
      sql += ' ';
      sql += suffix;
    }
    std::vector<Value> params(values.begin() + static_cast<std::ptrdiff_t>(next),
                              values.begin() + static_cast<std::ptrdiff_t>(next + rows * columns));
    RETURN_IF_ERROR(tx.ExecDeferred(sql, params));
    next += rows * columns;
    left -= rows;
  }
  return OkStatus();
}

}  // namespace tandem::sql
