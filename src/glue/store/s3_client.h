// The S3 REST layer under S3Store: URI/credential configuration, URL and Host
// construction for path-style and virtual-host addressing, SigV4 signing,
// retries with exponential backoff, and S3 error documents mapped to Status.
// libcurl (via tandem_http's Client) and OpenSSL stay in the .cc files.
//
// Thread-safety: an S3Client is safe to use from many threads (it keeps a
// small pool of HTTP connections).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "common/status.h"
#include "glue/store/sigv4.h"

namespace tandem::http {
class Client;
struct ClientRequest;
}

namespace tandem::store {

inline constexpr uint64_t kS3MinPartSize = 5ULL << 20;
inline constexpr uint64_t kS3DefaultPartSize = 16ULL << 20;
// S3's limit for one PUT (5 GiB); also the default multipart threshold (see
// docs/backends/s3.md for why: a single streamed PUT was fastest at every
// size measured).
inline constexpr uint64_t kS3MaxPutSize = 5ULL << 30;
inline constexpr uint64_t kS3DefaultMultipartThreshold = kS3MaxPutSize;

// Everything an `s3://bucket/prefix?...` URI configures (see docs/backends/s3.md).
struct S3Config {
  std::string bucket;
  std::string prefix;         // "" or "a/b" (no leading/trailing '/')
  std::string scheme;         // "http" | "https"
  std::string endpoint_host;  // "127.0.0.1:9000", "s3.us-east-1.amazonaws.com"
  std::string region = "us-east-1";
  bool virtual_host = false;  // bucket.endpoint_host instead of endpoint_host/bucket
  sigv4::Credentials credentials;
  uint64_t part_size = kS3DefaultPartSize;  // multipart part size
  // Blobs up to this size go in one streamed PUT, larger ones multipart.
  uint64_t multipart_threshold = kS3DefaultMultipartThreshold;
  int concurrency = 4;  // multipart parts / ranged GETs in flight per transfer (URI default:
                        // DefaultS3Concurrency())
  int max_retries = 5;                      // retries after the first attempt
  int64_t backoff_base_ms = 100;            // doubled per retry, capped at backoff_max_ms
  int64_t backoff_max_ms = 5'000;
  int64_t timeout_ms = 300'000;  // per HTTP request
};

// The `concurrency` an s3:// URI gets by default: 4 per core, 4 to 16.
int DefaultS3Concurrency();

// Parses `s3://bucket/prefix?endpoint=..&region=..&addressing=path|virtual
// &part_size=..&multipart_threshold=..&concurrency=..&max_retries=..&access_key_id=..&secret_access_key=..
// &session_token=..`. Credentials missing from the URI come from
// AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN, the region
// from AWS_REGION / AWS_DEFAULT_REGION. InvalidArgument naming the parameter.
StatusOr<S3Config> ParseS3Uri(std::string_view uri);

// One S3 request. `key` is the full object key in the bucket ("" = the
// bucket itself); `query` values are unencoded.
struct S3Request {
  std::string method = "GET";
  std::string key;
  std::vector<std::pair<std::string, std::string>> query;
  std::map<std::string, std::string> headers;  // extra headers to sign and send
  std::string body;
  // The body's SHA-256 (64 hex) if the caller has it already (signed as
  // x-amz-content-sha256 without hashing the body again); "" = hash it.
  std::string payload_sha256;

  // Large bodies streamed instead of held in memory. Each is a factory
  // called once per attempt, so a retry starts over from the first byte.
  // Upload: `upload_size` bytes (instead of `body`; payload_sha256 must be
  // set) pulled through the source: it fills up to n bytes and returns how
  // many, or an error, which aborts the request (the server never sees the
  // whole body) and is what Do returns (not retried).
  using Source = std::function<StatusOr<size_t>(char* buf, size_t n)>;
  std::function<Source()> upload;
  uint64_t upload_size = 0;
  // Download: a 2xx response's body goes to the sink as it arrives
  // (S3Response::body stays empty); an error from the sink stops the
  // transfer and is what Do returns (not retried).
  using Sink = std::function<Status(std::string_view data)>;
  std::function<Sink()> download;
};

struct S3Response {
  int status = 0;
  std::map<std::string, std::string> headers;  // lowercase names
  std::string body;
};

class S3Client {
 public:
  // `sleep` (for backoff) defaults to std::this_thread::sleep_for.
  explicit S3Client(S3Config config, Clock* clock = nullptr,
                    std::function<void(int64_t ms)> sleep = nullptr);
  ~S3Client();
  S3Client(const S3Client&) = delete;
  S3Client& operator=(const S3Client&) = delete;

  const S3Config& config() const { return config_; }

  // Called after every HTTP attempt with the request and the status received
  // (0 for a transport error). For tests and metrics; set before use.
  using Observer = std::function<void(const S3Request&, int status)>;
  void set_observer(Observer observer) { observer_ = std::move(observer); }

  // Sends the request (signed), retrying transport errors, 5xx, SlowDown and
  // RequestTimeout with exponential backoff and jitter. A 2xx response is
  // returned; anything else becomes a Status (see ErrorFor). A 404 on a HEAD
  // (no error document) is NotFound.
  StatusOr<S3Response> Do(const S3Request& request);
  // The same, moving the body into the HTTP request instead of copying it
  // (large parts).
  StatusOr<S3Response> Do(S3Request&& request);

  // The URL and Host header the request goes to (for tests and messages).
  std::string Url(const S3Request& request) const;
  std::string Host() const;
  std::string CanonicalUri(std::string_view key) const;

  // Signs `request` at `unix_seconds`: returns every header to send (host,
  // x-amz-date, x-amz-content-sha256, x-amz-security-token, authorization and
  // the request's own headers).
  std::map<std::string, std::string> SignedHeaders(const S3Request& request,
                                                   int64_t unix_seconds) const;

  // Maps an S3 error response to a Status naming the bucket/key:
  // NoSuchBucket -> NotFound, NoSuchKey/NoSuchUpload/404 -> NotFound,
  // AccessDenied/InvalidAccessKeyId/SignatureDoesNotMatch/403 -> PermissionDenied,
  // SlowDown/5xx -> Unavailable, PreconditionFailed/412 -> Aborted,
  // InvalidRange/416 -> OutOfRange, other 4xx -> InvalidArgument/FailedPrecondition.
  Status ErrorFor(const S3Request& request, const S3Response& response) const;

 private:
  // Do's body: `req` carries the URL and body (method, timeout) already.
  StatusOr<S3Response> Send(const S3Request& request, http::ClientRequest& req);
  std::unique_ptr<http::Client> Acquire();
  void Release(std::unique_ptr<http::Client> client);

  S3Config config_;
  Clock* clock_;
  std::function<void(int64_t)> sleep_;
  Observer observer_;
  absl::Mutex mu_;
  std::vector<std::unique_ptr<http::Client>> pool_ ABSL_GUARDED_BY(mu_);
};

// XML helpers for S3 responses (tiny, tolerant; entities decoded).
// Text of the first <tag>...</tag> in `xml` ("" if absent).
std::string XmlText(std::string_view xml, std::string_view tag);
// Inner XML of every <tag>...</tag> block, in order.
std::vector<std::string_view> XmlBlocks(std::string_view xml, std::string_view tag);
std::string XmlEscape(std::string_view s);

// ISO 8601 "2026-11-30T08:40:13.797Z" -> Unix micros; InvalidArgument otherwise.
StatusOr<int64_t> ParseIso8601Micros(std::string_view s);

}  // namespace tandem::store
