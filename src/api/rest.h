// Helpers for the REST edge: the one place where Status becomes an HTTP
// response (`{"error":{"code":"NOT_FOUND","message":"..."}}`), JSON bodies
// are parsed, and pagination parameters are read the same way on every route.
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>

#include "common/http_server.h"
#include "common/json.h"
#include "common/status.h"

namespace tandem::api {

// Writes `{"error":{"code":…,"message":…}}` with the status's HTTP code.
void WriteError(http::Response& res, const Status& status);
// Writes a JSON body with `code` (200 by default).
void WriteJson(http::Response& res, const Json& body, int code = 200);
// Writes `value` or its error.
template <typename T, typename F>
void WriteResult(http::Response& res, const StatusOr<T>& value, F&& to_json, int code = 200) {
  if (!value.ok()) return WriteError(res, value.status());
  WriteJson(res, to_json(*value), code);
}

// Adapts `fn(Request&) -> StatusOr<Json>` into a handler that writes the
// JSON with `ok_code`, or the error.
template <typename F>
http::Handler JsonHandler(F fn, int ok_code = 200) {
  return [fn, ok_code](http::Request& req, http::Response& res) {
    StatusOr<Json> out = fn(req);
    if (!out.ok()) return WriteError(res, out.status());
    WriteJson(res, *out, ok_code);
  };
}

// Parses the request body as a JSON object; an empty body is `{}`.
StatusOr<Json> JsonBody(const http::Request& req);

// InvalidArgument naming the first field of `body` not in `allowed`.
Status CheckFields(const Json& body, std::initializer_list<std::string_view> allowed);

// Pagination shared by every list route: `?max_results=N&page_token=T`.
struct PageParams {
  int max_results = 100;
  std::string page_token;
};
StatusOr<PageParams> ReadPageParams(const http::Request& req, int default_max = 100,
                                    int limit = 1000);

// Reads an integer query parameter; malformed -> InvalidArgument naming it.
StatusOr<int64_t> QueryInt(const http::Request& req, const std::string& name, int64_t fallback);

}  // namespace tandem::api
