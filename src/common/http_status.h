// The one place where canonical status codes become HTTP statuses (REST edge).
#pragma once

#include <string_view>

#include "common/status.h"

namespace tandem {

// Storage that ran out (a full disk or quota: ENOSPC, EDQUOT; a file over the
// size the process may write: EFBIG): ResourceExhausted, marked (a payload)
// so that HttpStatusOf answers 507 Insufficient Storage instead of the 429 of
// a quota or a full queue. The message says the server is out of storage
// space, then `detail` (the failed call, the file, strerror).
Status InsufficientStorageError(std::string_view detail);
bool IsInsufficientStorage(const Status& s);

// Maps a canonical code to an HTTP status (OK -> 200, NotFound -> 404, ...).
int HttpStatusFromCode(StatusCode code);
// The HTTP status answering `s`: HttpStatusFromCode(s.code()), but 507
// Insufficient Storage for InsufficientStorageError (status.h).
int HttpStatusOf(const Status& s);

// Maps an HTTP status back to a canonical code (for the HTTP client side).
StatusCode CodeFromHttpStatus(int http_status);

// Canonical code name in SCREAMING_SNAKE_CASE, e.g. "NOT_FOUND".
std::string_view CodeName(StatusCode code);

// Inverse of CodeName; unknown names map to kUnknown.
StatusCode CodeFromName(std::string_view name);

}  // namespace tandem
