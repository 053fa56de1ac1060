#include "cli/api_client.h"

#include "absl/strings/match.h"
#include "common/http_status.h"
#include "common/uri.h"

namespace tandem::cli {

ApiClient::ApiClient(std::string server_url, std::string token, std::string ca_file)
    : token_(std::move(token)), ca_file_(std::move(ca_file)) {
  size_t from = 0;
  while (from <= server_url.size()) {
    size_t comma = server_url.find(',', from);
    if (comma == std::string::npos) comma = server_url.size();
    std::string one = server_url.substr(from, comma - from);
    while (!one.empty() && one.front() == ' ') one.erase(one.begin());
    while (!one.empty() && (one.back() == '/' || one.back() == ' ')) one.pop_back();
    if (!one.empty()) servers_.push_back(one);
    from = comma + 1;
  }
  if (servers_.empty()) servers_.push_back("");
  server_ = servers_[0];
}

namespace {

// Whether a failed request may go to another control plane: never sent
// ("cannot connect", see http_client.cc), or idempotent and not streamed.
bool MayFailOver(const http::ClientRequest& req, const Status& error) {
  if (error.code() != StatusCode::kUnavailable) return false;
  if (absl::StartsWith(error.message(), "cannot connect to ")) return true;
  if (req.on_body) return false;  // part of the body may have reached the caller
  const std::string& m = req.method;
  return m.empty() || m == "GET" || m == "HEAD" || m == "PUT" || m == "DELETE";
}

Status ErrorFromResponse(const http::ClientResponse& res) {
  auto j = ParseJson(res.body);
  if (j.ok() && j->is_object() && j->contains("error") && (*j)["error"].is_object()) {
    const Json& e = (*j)["error"];
    std::string code = e.value("code", "");
    std::string message = e.value("message", "");
    StatusCode c = code.empty() ? CodeFromHttpStatus(res.status) : CodeFromName(code);
    return Status(c, message);
  }
  // The OCI distribution API (/v2/): {"errors":[{"code","message","detail"}]}.
  if (j.ok() && j->is_object() && j->contains("errors") && (*j)["errors"].is_array() &&
      !(*j)["errors"].empty() && (*j)["errors"][0].is_object()) {
    const Json& e = (*j)["errors"][0];
    return Status(CodeFromHttpStatus(res.status),
                  e.value("code", "") + ": " + e.value("message", ""));
  }
  return Status(CodeFromHttpStatus(res.status),
                "HTTP " + std::to_string(res.status) + ": " + res.body.substr(0, 200));
}

}  // namespace

StatusOr<http::ClientResponse> ApiClient::Send(http::ClientRequest req) {
  if (!token_.empty()) req.headers["Authorization"] = "Bearer " + token_;
  if (req.ca_file.empty()) req.ca_file = ca_file_;
  auto res = client_.Do(req);
  // Failover: each other control plane once, in order.
  for (size_t tried = 1; !res.ok() && tried < servers_.size() && MayFailOver(req, res.status()) &&
                         req.url.starts_with(server_);
       ++tried) {
    std::string rest = req.url.substr(server_.size());
    current_ = (current_ + 1) % servers_.size();
    server_ = servers_[current_];
    req.url = server_ + rest;
    res = client_.Do(req);
  }
  if (!res.ok()) {
    if (res.status().code() == StatusCode::kFailedPrecondition &&
        absl::StartsWith(res.status().message(), "TLS:") && ca_file_.empty()) {
      return FailedPreconditionError(std::string(res.status().message()) +
                                     " (give the server's CA with --ca-file, TANDEM_CA_FILE or "
                                     "\"ca_file\" in the credentials file)");
    }
    if (res.status().code() == StatusCode::kUnavailable) {
      std::string all;
      for (const std::string& s : servers_) all += (all.empty() ? "" : ", ") + s;
      return UnavailableError("no control plane reachable at " + all + " (" +
                              std::string(res.status().message()) +
                              "; start one with `tandem up`, or set --server / TANDEM_SERVER)");
    }
    return res.status();
  }
  if (res->status == 401 && token_.empty()) {
    Status e = ErrorFromResponse(*res);
    return Status(e.code(), std::string(e.message()) +
                                " (no token: set TANDEM_TOKEN or run `tandem auth login`)");
  }
  if (res->status < 200 || res->status >= 300) return ErrorFromResponse(*res);
  return res;
}

StatusOr<http::ClientResponse> ApiClient::Request(http::ClientRequest req) {
  req.url = server_ + req.url;
  return Send(std::move(req));
}

StatusOr<Json> ApiClient::Call(const std::string& method, const std::string& path, const Json& body,
                               int64_t timeout_ms) {
  http::ClientRequest req;
  req.method = method;
  req.url = server_ + path;
  req.timeout_ms = timeout_ms;
  if (!body.is_null()) {
    req.body = body.dump();
    req.headers["Content-Type"] = "application/json";
  }
  ASSIGN_OR_RETURN(auto res, Send(std::move(req)));
  if (res.body.empty()) return Json::object();
  return ParseJson(res.body);
}

StatusOr<Json> ApiClient::ListAll(const std::string& path, const std::string& key, int limit) {
  Json all = Json::array();
  std::string token;
  do {
    std::string url = path + (path.find('?') == std::string::npos ? "?" : "&") +
                      "max_results=1000" +
                      (token.empty() ? "" : "&page_token=" + PercentEncode(token, "-._~"));
    ASSIGN_OR_RETURN(Json page, Call("GET", url));
    if (page.contains(key)) {
      for (auto& item : page[key]) all.push_back(item);
    }
    token = page.value("next_page_token", "");
  } while (!token.empty() && (limit == 0 || static_cast<int>(all.size()) < limit));
  if (limit > 0 && static_cast<int>(all.size()) > limit) all.erase(all.begin() + limit, all.end());
  return Json{{key, all}};
}

StatusOr<Json> ApiClient::Upload(const std::string& path, const std::string& file) {
  http::ClientRequest req;
  req.method = "PUT";
  req.url = server_ + path;
  req.body_file = file;
  req.timeout_ms = 0;
  req.headers["Content-Type"] = "application/octet-stream";
  ASSIGN_OR_RETURN(auto res, Send(std::move(req)));
  return ParseJson(res.body);
}

Status ApiClient::Download(const std::string& path,
                           const std::function<bool(std::string_view)>& on_chunk) {
  http::ClientRequest req;
  req.url = server_ + path;
  req.timeout_ms = 0;
  req.on_body = on_chunk;  // only 2xx bodies; an error document is collected
  return Send(std::move(req)).status();
}

Status ApiClient::Stream(const std::string& path,
                         const std::function<bool(std::string_view)>& on_chunk) {
  return Download(path, on_chunk);
}

}  // namespace tandem::cli
