// AWS Signature Version 4 (header-based authorization) for the S3 backend.
// Pure functions over strings: no I/O, no OpenSSL in this header. Checked
// against the AWS SigV4 test suite and the S3 API reference examples
// (sigv4_test.cc).
//
//   sigv4::Request r{"GET", "/bucket/key", {{"list-type", "2"}},
//                    {{"host", "s3.example.com"}, {"x-amz-date", amz_date}, ...},
//                    payload_sha256_hex};
//   headers["authorization"] = sigv4::Authorization(r, creds, "us-east-1", "s3", amz_date);
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tandem::store::sigv4 {

struct Credentials {
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;  // optional (temporary credentials): sent as x-amz-security-token
};

struct Request {
  std::string method;         // "GET", "PUT", ...
  std::string canonical_uri;  // the path exactly as sent, already URI-encoded ("/b/a%20b")
  // Query parameters, NOT encoded ("prefix" -> "a b"); a valueless one
  // ("?uploads") has an empty value.
  std::vector<std::pair<std::string, std::string>> query;
  // Headers to sign, as sent (names any case; must include host and
  // x-amz-date). Repeated names are joined with ',' in order.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string payload_sha256;  // hex SHA-256 of the body, or "UNSIGNED-PAYLOAD"
};

// RFC 3986 unreserved characters kept, everything else %XX (uppercase hex);
// '/' kept only when `keep_slash` (object key paths).
std::string UriEncode(std::string_view s, bool keep_slash);

// "a=1&b=2": encoded names/values sorted by encoded name, then value.
std::string CanonicalQueryString(const std::vector<std::pair<std::string, std::string>>& query);

// The canonical request; `signed_headers` (if not null) receives "host;x-amz-date".
std::string CanonicalRequest(const Request& request, std::string* signed_headers = nullptr);

// "AWS4-HMAC-SHA256\n<amz_date>\n<scope>\n<hex sha256 of canonical request>".
std::string StringToSign(std::string_view amz_date, std::string_view scope,
                         std::string_view canonical_request);

// Hex signature of `string_to_sign` with the key derived from the secret.
std::string Signature(std::string_view secret_access_key, std::string_view date,
                      std::string_view region, std::string_view service,
                      std::string_view string_to_sign);

// The full Authorization header value:
// "AWS4-HMAC-SHA256 Credential=<id>/<date>/<region>/<service>/aws4_request,
//  SignedHeaders=..., Signature=...".
std::string Authorization(const Request& request, const Credentials& credentials,
                          std::string_view region, std::string_view service,
                          std::string_view amz_date);

// "YYYYMMDDTHHMMSSZ" for a Unix time in seconds (UTC).
std::string AmzDate(int64_t unix_seconds);

// Hex SHA-256 / raw HMAC-SHA256 helpers.
std::string HexSha256(std::string_view data);
std::string HmacSha256(std::string_view key, std::string_view data);

}  // namespace tandem::store::sigv4
