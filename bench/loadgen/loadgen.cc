#include "loadgen.h"

#include <strings.h>

#include <cctype>
#include <cmath>
#include <cstdlib>

namespace tandem::loadgen {
namespace {

bool IEquals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

}  // namespace

int64_t ParseResponse(std::string_view buf, ParsedResponse* out) {
  size_t head_end = buf.find("\r\n\r\n");
  if (head_end == std::string_view::npos) {
    if (buf.size() >= 5 && buf.substr(0, 5) != "HTTP/") return -1;
    return buf.size() > (64 << 10) ? -1 : 0;
  }
  std::string_view head = buf.substr(0, head_end);
  size_t line_end = head.find("\r\n");
  std::string_view status_line = head.substr(0, line_end);
  if (status_line.size() < 12 || status_line.substr(0, 7) != "HTTP/1.") return -1;
  bool http10 = status_line[7] == '0';
  if (status_line[8] != ' ' || !std::isdigit(status_line[9]) || !std::isdigit(status_line[10]) ||
      !std::isdigit(status_line[11])) {
    return -1;
  }
  out->status =
      (status_line[9] - '0') * 100 + (status_line[10] - '0') * 10 + (status_line[11] - '0');
  int64_t content_length = -1;
  bool chunked = false;
  bool keep_alive = false;
  out->close = false;
  size_t pos = line_end == std::string_view::npos ? head.size() : line_end + 2;
  while (pos < head.size()) {
    size_t e = head.find("\r\n", pos);
    if (e == std::string_view::npos) e = head.size();
    std::string_view line = head.substr(pos, e - pos);
    pos = e + 2;
    size_t colon = line.find(':');
    if (colon == std::string_view::npos) return -1;
    std::string_view name = line.substr(0, colon);
    std::string_view value = Trim(line.substr(colon + 1));
    if (IEquals(name, "content-length")) {
      char* end = nullptr;
      std::string v(value);
      content_length = std::strtoll(v.c_str(), &end, 10);
      if (v.empty() || *end != '\0' || content_length < 0) return -1;
    } else if (IEquals(name, "transfer-encoding")) {
      chunked = value.find("chunked") != std::string_view::npos;
    } else if (IEquals(name, "connection")) {
      if (IEquals(value, "close")) out->close = true;
      if (IEquals(value, "keep-alive")) keep_alive = true;
    }
  }
  if (http10 && !keep_alive) out->close = true;
  size_t body_start = head_end + 4;
  if (chunked) {
    out->body.clear();
    size_t p = body_start;
    while (true) {
      size_t e = buf.find("\r\n", p);
      if (e == std::string_view::npos) return 0;
      std::string size_text(buf.substr(p, e - p));
      char* end = nullptr;
      long long n = std::strtoll(size_text.c_str(), &end, 16);
      if (size_text.empty() || n < 0 || (*end != '\0' && *end != ';')) return -1;
      p = e + 2;
      if (n == 0) {
        // Trailers end with an empty line.
        size_t t = buf.find("\r\n", p);
        while (t != std::string_view::npos && t != p) {
          p = t + 2;
          t = buf.find("\r\n", p);
        }
        if (t == std::string_view::npos) return 0;
        return static_cast<int64_t>(t + 2);
      }
      if (buf.size() < p + n + 2) return 0;
      out->body.append(buf.substr(p, n));
      if (buf.substr(p + n, 2) != "\r\n") return -1;
      p += n + 2;
    }
  }
  if (content_length < 0) {
    // No length: 1xx/204/304 have no body; otherwise the body runs to close,
    // which a keep-alive load generator does not support.
    if (out->status == 204 || out->status == 304 || out->status / 100 == 1) {
      out->body.clear();
      return static_cast<int64_t>(body_start);
    }
    return -1;
  }
  if (buf.size() < body_start + content_length) return 0;
  out->body.assign(buf.substr(body_start, content_length));
  return static_cast<int64_t>(body_start + content_length);
}

int64_t Percentile(const std::vector<int64_t>& sorted, double p) {
  if (sorted.empty()) return 0;
  double rank = std::ceil(p / 100.0 * static_cast<double>(sorted.size()));
  size_t idx = rank < 1 ? 0 : static_cast<size_t>(rank) - 1;
  if (idx >= sorted.size()) idx = sorted.size() - 1;
  return sorted[idx];
}

bool SplitUrl(const std::string& url, std::string* host, int* port, std::string* path) {
  const std::string scheme = "http://";
  if (url.rfind(scheme, 0) != 0) return false;
  std::string rest = url.substr(scheme.size());
  size_t slash = rest.find('/');
  std::string authority = rest.substr(0, slash);
  *path = slash == std::string::npos ? "/" : rest.substr(slash);
  size_t colon = authority.rfind(':');
  if (colon == std::string::npos) {
    *host = authority;
    *port = 80;
  } else {
    *host = authority.substr(0, colon);
    char* end = nullptr;
    long p = std::strtol(authority.c_str() + colon + 1, &end, 10);
    if (*end != '\0' || p <= 0 || p > 65535) return false;
    *port = static_cast<int>(p);
  }
  return !host->empty();
}

bool SplitUrlWithScheme(const std::string& url, bool* tls, std::string* host, int* port,
                        std::string* path) {
  *tls = url.rfind("https://", 0) == 0;
  if (!*tls) return SplitUrl(url, host, port, path);
  const bool explicit_port =
      url.find(':', 8) != std::string::npos && url.find(':', 8) < url.find('/', 8);
  if (!SplitUrl("http://" + url.substr(8), host, port, path)) return false;
  if (!explicit_port) *port = 443;
  return true;
}

}  // namespace tandem::loadgen
