// The status line and header block of a non-streamed HTTP/1.1 response,
// written straight into a reusable string (http::Server's keep-alive fast path:
// Beast's serializer with its field list cost ~10% of a small request's CPU).
// The bytes are those Beast wrote for the same response: the handler's headers
// as given (sorted, as Headers is), then `Server: tandem`, `Connection: close`
// when closing, `Content-Length`.
#pragma once

#include <cstdint>
#include <string>

#include "common/http_server.h"

namespace tandem::http::detail {

// Replaces `out` with the head of a response `status` with `headers` (the
// handler's; its content-length, transfer-encoding and connection entries are
// not copied: a `connection: close` entry sets `close`), a body of
// `content_length` bytes, `Connection: close` if `close`. Returns false (out
// unspecified) where the general path must write it: a status outside
// 200..599 or 204 or 304 (no Content-Length there), or a header name or value
// with CR, LF or NUL.
bool FormatResponseHead(int status, const Headers& headers, uint64_t content_length, bool& close,
                        std::string& out);

}  // namespace tandem::http::detail
