// The CLI's view of the control plane: JSON calls under /api/v1 that turn
// transport failures into one clear message and API errors into Status.
//
// Several control planes (high availability): `server_url` may list several
// URLs separated by commas. A request that cannot connect (nothing was sent)
// goes to the next one; one whose connection broke mid-way (reset, empty
// reply) is re-sent only if its method is idempotent (GET, HEAD, PUT,
// DELETE) and it streams nothing to the caller. The URL that answered is
// used for the rest of the process.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/http_client.h"
#include "common/json.h"
#include "common/status.h"

namespace tandem::cli {

class ApiClient {
 public:
  // `token` ("" = none) is sent as `Authorization: Bearer <token>`;
  // `ca_file` ("" = the system's CAs) verifies an https:// server (every
  // one of them). `server_url`: one URL, or several separated by commas
  // (see above).
  explicit ApiClient(std::string server_url, std::string token = "", std::string ca_file = "");

  // `path` is relative to the server, e.g. "/api/v1/models". `body` is sent
  // as JSON unless null. Non-2xx -> Status from the `{"error":…}` body.
  StatusOr<Json> Call(const std::string& method, const std::string& path,
                      const Json& body = nullptr, int64_t timeout_ms = 60'000);
  // GETs every page of a list route (following next_page_token) until
  // `limit` items (0 = all); returns {"<key>": [...]}.
  StatusOr<Json> ListAll(const std::string& path, const std::string& key, int limit);
  // Uploads a file as the raw request body.
  StatusOr<Json> Upload(const std::string& path, const std::string& file);
  // Downloads to `on_chunk`.
  Status Download(const std::string& path, const std::function<bool(std::string_view)>& on_chunk);
  // A raw request; `req.url` is relative to the server ("/v2/..."). Non-2xx ->
  // Status from the body (tandem's or the OCI distribution spec's error shape).
  StatusOr<http::ClientResponse> Request(http::ClientRequest req);
  // Streams a long-lived response line by line (events tail).
  Status Stream(const std::string& path, const std::function<bool(std::string_view)>& on_chunk);

  // The URL in use (the first one until a failover).
  const std::string& server() const { return server_; }

 private:
  StatusOr<http::ClientResponse> Send(http::ClientRequest req);
  std::vector<std::string> servers_;
  size_t current_ = 0;
  std::string server_;
  std::string token_;
  std::string ca_file_;
  http::Client client_;
};

}  // namespace tandem::cli
