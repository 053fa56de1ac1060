#include "api/rest.h"

#include <charconv>

#include "common/http_status.h"

namespace tandem::api {

void WriteError(http::Response& res, const Status& status) {
  Json body = {{"error",
                {{"code", std::string(CodeName(status.code()))},
                 {"message", std::string(status.message())}}}};
  // A message may quote what the client sent: never throw on its bytes.
  res.Json(HttpStatusOf(status),
           body.dump(-1, ' ', false, Json::error_handler_t::replace));
}

void WriteJson(http::Response& res, const Json& body, int code) {
  res.Json(code, body.dump(-1, ' ', false, Json::error_handler_t::replace));
}

StatusOr<Json> JsonBody(const http::Request& req) {
  if (req.body.empty()) return Json::object();
  ASSIGN_OR_RETURN(Json j, ParseJson(req.body));
  if (!j.is_object()) return InvalidArgumentError("request body must be a JSON object");
  return j;
}

Status CheckFields(const Json& body, std::initializer_list<std::string_view> allowed) {
  for (const auto& [k, v] : body.items()) {
    bool ok = false;
    for (auto a : allowed) ok = ok || k == a;
    if (!ok) return InvalidArgumentError("unknown field '" + k + "'");
  }
  return OkStatus();
}

StatusOr<int64_t> QueryInt(const http::Request& req, const std::string& name, int64_t fallback) {
  auto it = req.query.find(name);
  if (it == req.query.end() || it->second.empty()) return fallback;
  int64_t v = 0;
  const std::string& s = it->second;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || ptr != s.data() + s.size()) {
    return InvalidArgumentError("query parameter '" + name + "' must be an integer, got '" + s +
                                "'");
  }
  return v;
}

StatusOr<PageParams> ReadPageParams(const http::Request& req, int default_max, int limit) {
  PageParams p;
  ASSIGN_OR_RETURN(int64_t max, QueryInt(req, "max_results", default_max));
  if (max < 1 || max > limit) {
    return InvalidArgumentError("max_results must be between 1 and " + std::to_string(limit));
  }
  p.max_results = static_cast<int>(max);
  p.page_token = req.Query("page_token");
  return p;
}

}  // namespace tandem::api
