// The one place where canonical status codes become HTTP statuses (REST edge).
#pragma once

#include <string_view>

#include "common/status.h"

namespace tandem {

// Maps a canonical code to an HTTP status (OK -> 200, NotFound -> 404, ...).
int HttpStatusFromCode(StatusCode code);

// Maps an HTTP status back to a canonical code (for the HTTP client side).
StatusCode CodeFromHttpStatus(int http_status);

// Canonical code name in SCREAMING_SNAKE_CASE, e.g. "NOT_FOUND".
std::string_view CodeName(StatusCode code);

// Inverse of CodeName; unknown names map to kUnknown.
StatusCode CodeFromName(std::string_view name);

}  // namespace tandem
