// Pieces of tandem-loadgen, an open-loop HTTP load generator: an incremental
// HTTP/1.1 response parser and latency percentiles.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace tandem::loadgen {

struct ParsedResponse {
  int status = 0;
  bool close = false;  // "connection: close" (or HTTP/1.0 without keep-alive)
  std::string body;
};

// Parses one complete response at the start of `buf` (content-length or
// chunked bodies). Returns the bytes it spans, 0 if more bytes are needed,
// -1 if `buf` is not a valid HTTP/1.x response.
int64_t ParseResponse(std::string_view buf, ParsedResponse* out);

// Nearest-rank percentile (p in [0, 100]) of ascending `sorted`; 0 if empty.
int64_t Percentile(const std::vector<int64_t>& sorted, double p);

// Splits "http://host:port/path" (no TLS). False if malformed.
bool SplitUrl(const std::string& url, std::string* host, int* port, std::string* path);
// Also "https://host[:port]/path" (*tls = true; default port 443).
bool SplitUrlWithScheme(const std::string& url, bool* tls, std::string* host, int* port,
                        std::string* path);

}  // namespace tandem::loadgen
