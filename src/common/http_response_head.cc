#include "common/http_response_head.h"

#include <boost/beast/http/status.hpp>
#include <charconv>
#include <string_view>

namespace tandem::http::detail {
namespace {

bool IEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

bool Clean(std::string_view s) { return s.find_first_of(std::string_view("\r\n\0", 3)) == s.npos; }

void AppendNumber(uint64_t n, std::string& out) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof(buf), n);
  out.append(buf, r.ptr);
}

}  // namespace

bool FormatResponseHead(int status, const Headers& headers, uint64_t content_length, bool& close,
                        std::string& out) {
  if (status < 200 || status > 599 || status == 204 || status == 304) return false;
  out.clear();
  out.append("HTTP/1.1 ");
  AppendNumber(static_cast<uint64_t>(status), out);
  out.push_back(' ');
  auto reason =
      boost::beast::http::obsolete_reason(static_cast<boost::beast::http::status>(status));
  out.append(reason.data(), reason.size());
  out.append("\r\n");
  for (const auto& [name, value] : headers) {
    if (IEquals(name, "content-length") || IEquals(name, "transfer-encoding")) continue;
    if (IEquals(name, "connection")) {
      if (IEquals(value, "close")) close = true;
      continue;
    }
    if (IEquals(name, "server")) continue;  // always `Server: tandem`
    if (name.empty() || !Clean(name) || !Clean(value)) return false;
    out.append(name);
    out.append(": ");
    out.append(value);
    out.append("\r\n");
  }
  out.append("Server: tandem\r\n");
  if (close) out.append("Connection: close\r\n");
  out.append("Content-Length: ");
  AppendNumber(content_length, out);
  out.append("\r\n\r\n");
  return true;
}

}  // namespace tandem::http::detail
