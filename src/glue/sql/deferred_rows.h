// Multi-row inserts held back like Transaction::ExecDeferred: a batch's
// rows in a few statements instead of one each (fewer statements for the
// server to parse, plan and run), with few distinct texts per connection.
#pragma once

#include <cstddef>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "glue/sql/database.h"

namespace tandem::sql {

// Inserts rows within `tx` with Transaction::ExecDeferred. `insert` is the
// statement up to VALUES ("INSERT INTO t (a, b)"); `values` holds the rows'
// parameters one row after the other, `columns` per row. The rows go in
// order, in statements of a power of two rows each (so a connection
// prepares few distinct texts), at most 64 rows and 999 parameters per
// statement; no rows, no statement. `suffix` follows each statement's rows
// (e.g. "ON CONFLICT (...) DO NOTHING"). InvalidArgument if `values` is not
// whole rows.
Status ExecDeferredRows(Transaction& tx, std::string_view insert, size_t columns,
                        const std::vector<Value>& values, std::string_view suffix = {});

}  // namespace tandem::sql
