// http::Request and http::Response helpers (http_server.h), apart from the
// server's connection handling in http_server.cc.
#include <string>
#include <string_view>
#include <utility>

#include "common/http_server.h"

namespace tandem::http {

std::string Request::Header(std::string_view name) const {
  std::string key(name);
  for (char& c : key) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  auto it = headers.find(key);
  return it == headers.end() ? std::string() : it->second;
}

std::string Request::Query(std::string_view name, std::string_view fallback) const {
  auto it = query.find(std::string(name));
  return it == query.end() ? std::string(fallback) : it->second;
}

void Response::Json(int code, std::string json_text) {
  status = code;
  body = std::move(json_text);
  headers["content-type"] = "application/json";
}

void Response::Text(int code, std::string text) {
  status = code;
  body = std::move(text);
  headers["content-type"] = "text/plain; charset=utf-8";
}

}  // namespace tandem::http
