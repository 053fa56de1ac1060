#include "glue/store/s3_client.h"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <random>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "common/http_client.h"
#include "common/uri.h"
#include "glue/store/object_store.h"
#include "glue/store/sha256.h"

namespace tandem::store {
namespace {

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v == nullptr ? "" : v;
}

StatusOr<int64_t> PositiveInt(const std::map<std::string, std::string>& q, const std::string& name,
                              int64_t def, int64_t min) {
  auto it = q.find(name);
  if (it == q.end()) return def;
  const std::string& v = it->second;
  char* end = nullptr;
  errno = 0;
  long long n = std::strtoll(v.c_str(), &end, 10);
  if (v.empty() || *end != '\0' || errno != 0 || n < min) {
    return InvalidArgumentError("s3:// URI parameter " + name + "='" + v +
                                "' must be an integer >= " + std::to_string(min));
  }
  return static_cast<int64_t>(n);
}

// libcurl's buffers for streamed bodies. An upload's read callback is asked
// for up to this much at a time (libcurl's default: 64 KiB). A download is
// received in up to this much per recv (fewer system calls), but libcurl 7.88
// still hands it to the write callback in pieces of at most 16 KiB
// (CURL_MAX_WRITE_SIZE) whatever the buffer: the download's sink is called
// about 16 times per MiB (bench/s3/README.md, "Where tandem's get time goes").
constexpr size_t kStreamBuffer = 1 << 20;

bool Retryable(const Status& s) {
  return s.code() == StatusCode::kUnavailable || s.code() == StatusCode::kDeadlineExceeded;
}

bool RetryableResponse(const S3Response& r) {
  if (r.status >= 500) return true;
  const std::string code = XmlText(r.body, "Code");
  return code == "SlowDown" || code == "RequestTimeout" || code == "InternalError" ||
         r.status == 429;
}

std::string XmlUnescape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '&') {
      out += s[i];
      continue;
    }
    size_t semi = s.find(';', i);
    if (semi == std::string_view::npos) {
      out += s[i];
      continue;
    }
    std::string_view ent = s.substr(i + 1, semi - i - 1);
    if (ent == "amp") {
      out += '&';
    } else if (ent == "lt") {
      out += '<';
    } else if (ent == "gt") {
      out += '>';
    } else if (ent == "quot") {
      out += '"';
    } else if (ent == "apos") {
      out += '\'';
    } else if (ent.size() > 1 && ent[0] == '#') {
      unsigned long cp = ent[1] == 'x'
                             ? std::strtoul(std::string(ent.substr(2)).c_str(), nullptr, 16)
                             : std::strtoul(std::string(ent.substr(1)).c_str(), nullptr, 10);
      if (cp < 0x80) {
        out += static_cast<char>(cp);
      } else if (cp < 0x800) {
        out += static_cast<char>(0xC0 | (cp >> 6));
        out += static_cast<char>(0x80 | (cp & 0x3F));
      } else if (cp < 0x10000) {
        out += static_cast<char>(0xE0 | (cp >> 12));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
      } else {
        out += static_cast<char>(0xF0 | (cp >> 18));
        out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
      }
    } else {
      out.append(s.substr(i, semi - i + 1));
    }
    i = semi;
  }
  return out;
}

// Position just after the opening <tag> or <tag ...> at or after `from`.
size_t FindOpen(std::string_view xml, std::string_view tag, size_t from, size_t* start) {
  const std::string open = "<" + std::string(tag);
  for (size_t p = xml.find(open, from); p != std::string_view::npos; p = xml.find(open, p + 1)) {
    size_t after = p + open.size();
    if (after < xml.size() && (xml[after] == '>' || xml[after] == ' ')) {
      size_t gt = xml.find('>', after);
      if (gt == std::string_view::npos) return std::string_view::npos;
      if (start != nullptr) *start = p;
      return gt + 1;
    }
  }
  return std::string_view::npos;
}

}  // namespace

int DefaultS3Concurrency() {
  // Transfers wait on the network and the server more than on this CPU:
  // 4 streams per core (8 on 2 cores beat 4 in bench/s3), 4 to 16.
  const unsigned cores = std::thread::hardware_concurrency();
  return static_cast<int>(std::clamp<unsigned>(4 * (cores == 0 ? 1 : cores), 4, 16));
}

std::string XmlEscape(std::string_view s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::vector<std::string_view> XmlBlocks(std::string_view xml, std::string_view tag) {
  std::vector<std::string_view> out;
  const std::string close = "</" + std::string(tag) + ">";
  size_t pos = 0;
  for (;;) {
    size_t body = FindOpen(xml, tag, pos, nullptr);
    if (body == std::string_view::npos) return out;
    size_t end = xml.find(close, body);
    if (end == std::string_view::npos) return out;
    out.push_back(xml.substr(body, end - body));
    pos = end + close.size();
  }
}

std::string XmlText(std::string_view xml, std::string_view tag) {
  const std::string close = "</" + std::string(tag) + ">";
  size_t body = FindOpen(xml, tag, 0, nullptr);
  if (body == std::string_view::npos) return "";
  size_t end = xml.find(close, body);
  if (end == std::string_view::npos) return "";
  return XmlUnescape(xml.substr(body, end - body));
}

StatusOr<int64_t> ParseIso8601Micros(std::string_view s) {
  std::tm tm{};
  int frac_digits = 0;
  int64_t frac = 0;
  const std::string str(s);
  int consumed = 0;
  if (std::sscanf(str.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                  &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &consumed) != 6) {
    return InvalidArgumentError("bad ISO 8601 time '" + str + "'");
  }
  size_t i = static_cast<size_t>(consumed);
  if (i < str.size() && str[i] == '.') {
    for (++i; i < str.size() && std::isdigit(static_cast<unsigned char>(str[i])); ++i) {
      if (frac_digits < 6) {
        frac = frac * 10 + (str[i] - '0');
        ++frac_digits;
      }
    }
  }
  if (i >= str.size() || str[i] != 'Z')
    return InvalidArgumentError("bad ISO 8601 time '" + str + "'");
  while (frac_digits < 6) {
    frac *= 10;
    ++frac_digits;
  }
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return static_cast<int64_t>(::timegm(&tm)) * 1'000'000 + frac;
}

StatusOr<S3Config> ParseS3Uri(std::string_view text) {
  ASSIGN_OR_RETURN(Uri uri, ParseUri(text));
  if (uri.scheme != "s3") {
    return InvalidArgumentError("not an s3:// URI: '" + std::string(text) + "'");
  }
  static const char* const kKnown[] = {
      "endpoint",    "region",        "addressing",        "part_size",
      "max_retries", "access_key_id", "secret_access_key", "session_token",
      "timeout_ms",  "concurrency",   "multipart_threshold"};
  for (const auto& [k, v] : uri.query) {
    if (std::find(std::begin(kKnown), std::end(kKnown), k) == std::end(kKnown)) {
      return InvalidArgumentError(
          "unknown s3:// URI parameter '" + k +
          "' (known: endpoint, region, addressing, part_size, multipart_threshold, "
          "concurrency, max_retries, timeout_ms, access_key_id, secret_access_key, "
          "session_token)");
    }
  }
  S3Config c;
  c.bucket = uri.authority;
  if (c.bucket.size() < 3 || c.bucket.size() > 63 ||
      c.bucket.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789.-") != std::string::npos) {
    return InvalidArgumentError("invalid S3 bucket name '" + c.bucket + "' in '" +
                                std::string(text) +
                                "' (3-63 characters: lowercase letters, digits, '.', '-')");
  }
  c.prefix = uri.path;
  while (!c.prefix.empty() && c.prefix.front() == '/') c.prefix.erase(0, 1);
  while (!c.prefix.empty() && c.prefix.back() == '/') c.prefix.pop_back();
  if (!c.prefix.empty()) {
    if (Status s = ValidateKey(c.prefix); !s.ok()) {
      return InvalidArgumentError("invalid prefix in s3:// URI '" + std::string(text) +
                                  "': " + std::string(s.message()));
    }
  }
  auto q = [&](const char* k) -> std::string {
    auto it = uri.query.find(k);
    return it == uri.query.end() ? "" : it->second;
  };
  c.region = q("region");
  if (c.region.empty()) c.region = Env("AWS_REGION");
  if (c.region.empty()) c.region = Env("AWS_DEFAULT_REGION");
  if (c.region.empty()) c.region = "us-east-1";

  std::string endpoint = q("endpoint");
  const bool custom_endpoint = !endpoint.empty();
  if (!custom_endpoint) endpoint = "https://s3." + c.region + ".amazonaws.com";
  size_t sep = endpoint.find("://");
  if (sep == std::string::npos) {
    return InvalidArgumentError("s3:// URI parameter endpoint='" + endpoint +
                                "' must be http://host[:port] or https://host[:port]");
  }
  c.scheme = endpoint.substr(0, sep);
  c.endpoint_host = endpoint.substr(sep + 3);
  while (!c.endpoint_host.empty() && c.endpoint_host.back() == '/') c.endpoint_host.pop_back();
  if ((c.scheme != "http" && c.scheme != "https") || c.endpoint_host.empty() ||
      c.endpoint_host.find_first_of("/?#@ ") != std::string::npos) {
    return InvalidArgumentError("s3:// URI parameter endpoint='" + endpoint +
                                "' must be http://host[:port] or https://host[:port] (no path)");
  }
  const std::string addressing = q("addressing");
  if (addressing.empty()) {
    // AWS: virtual-host (unless the bucket has dots, which breaks TLS
    // wildcards); custom endpoints (MinIO, s3rver, ...): path-style.
    c.virtual_host = !custom_endpoint && c.bucket.find('.') == std::string::npos;
  } else if (addressing == "path" || addressing == "virtual") {
    c.virtual_host = addressing == "virtual";
  } else {
    return InvalidArgumentError("s3:// URI parameter addressing='" + addressing +
                                "' must be 'path' or 'virtual'");
  }
  ASSIGN_OR_RETURN(int64_t part,
                   PositiveInt(uri.query, "part_size", static_cast<int64_t>(kS3DefaultPartSize),
                               static_cast<int64_t>(kS3MinPartSize)));
  c.part_size = static_cast<uint64_t>(part);
  ASSIGN_OR_RETURN(int64_t threshold,
                   PositiveInt(uri.query, "multipart_threshold",
                               static_cast<int64_t>(kS3DefaultMultipartThreshold),
                               static_cast<int64_t>(kS3MinPartSize)));
  if (static_cast<uint64_t>(threshold) > kS3MaxPutSize) {
    return InvalidArgumentError("s3:// URI parameter multipart_threshold='" +
                                std::to_string(threshold) +
                                "' must be at most 5368709120 (5 GiB, S3's limit for one PUT)");
  }
  c.multipart_threshold = static_cast<uint64_t>(threshold);
  ASSIGN_OR_RETURN(int64_t concurrency,
                   PositiveInt(uri.query, "concurrency", DefaultS3Concurrency(), 1));
  c.concurrency = static_cast<int>(std::min<int64_t>(concurrency, 32));
  ASSIGN_OR_RETURN(int64_t retries, PositiveInt(uri.query, "max_retries", 5, 0));
  c.max_retries = static_cast<int>(std::min<int64_t>(retries, 20));
  ASSIGN_OR_RETURN(c.timeout_ms, PositiveInt(uri.query, "timeout_ms", 300'000, 1));

  c.credentials.access_key_id = q("access_key_id");
  c.credentials.secret_access_key = q("secret_access_key");
  c.credentials.session_token = q("session_token");
  if (c.credentials.access_key_id.empty() && c.credentials.secret_access_key.empty()) {
    c.credentials.access_key_id = Env("AWS_ACCESS_KEY_ID");
    c.credentials.secret_access_key = Env("AWS_SECRET_ACCESS_KEY");
    if (c.credentials.session_token.empty()) c.credentials.session_token = Env("AWS_SESSION_TOKEN");
  }
  if (c.credentials.access_key_id.empty() || c.credentials.secret_access_key.empty()) {
    return InvalidArgumentError(
        "no S3 credentials for '" + c.bucket +
        "': set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN for "
        "temporary credentials), or the access_key_id and secret_access_key URI parameters");
  }
  return c;
}

S3Client::S3Client(S3Config config, Clock* clock, std::function<void(int64_t)> sleep)
    : config_(std::move(config)),
      clock_(clock != nullptr ? clock : &Clock::Real()),
      sleep_(sleep ? std::move(sleep) : [](int64_t ms) {
        std::this_thread::sleep_for(std::chrono::milliseconds(ms));
      }) {}

S3Client::~S3Client() = default;

std::string S3Client::Host() const {
  return config_.virtual_host ? config_.bucket + "." + config_.endpoint_host
                              : config_.endpoint_host;
}

std::string S3Client::CanonicalUri(std::string_view key) const {
  std::string path = config_.virtual_host ? "/" : "/" + config_.bucket + "/";
  if (!config_.virtual_host && key.empty()) path.pop_back();  // "/bucket"
  return path + sigv4::UriEncode(key, /*keep_slash=*/true);
}

std::string S3Client::Url(const S3Request& request) const {
  std::string url = config_.scheme + "://" + Host() + CanonicalUri(request.key);
  if (!request.query.empty()) url += "?" + sigv4::CanonicalQueryString(request.query);
  return url;
}

std::map<std::string, std::string> S3Client::SignedHeaders(const S3Request& request,
                                                           int64_t unix_seconds) const {
  std::map<std::string, std::string> headers;
  for (const auto& [k, v] : request.headers) {
    std::string lk = k;
    for (char& c : lk) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    headers[lk] = v;
  }
  headers["host"] = Host();
  headers["x-amz-date"] = sigv4::AmzDate(unix_seconds);
  headers["x-amz-content-sha256"] = request.payload_sha256.empty()
                                        ? sigv4::HexSha256(request.body)
                                        : request.payload_sha256;
  if (!config_.credentials.session_token.empty()) {
    headers["x-amz-security-token"] = config_.credentials.session_token;
  }
  sigv4::Request sr{request.method,
                    CanonicalUri(request.key),
                    request.query,
                    {headers.begin(), headers.end()},
                    headers["x-amz-content-sha256"]};
  headers["authorization"] =
      sigv4::Authorization(sr, config_.credentials, config_.region, "s3", headers["x-amz-date"]);
  return headers;
}

Status S3Client::ErrorFor(const S3Request& request, const S3Response& response) const {
  const std::string code = XmlText(response.body, "Code");
  const std::string message = XmlText(response.body, "Message");
  const std::string what = "S3 " + request.method + " s3://" + config_.bucket + "/" + request.key;
  std::string detail = " (HTTP " + std::to_string(response.status);
  if (!code.empty()) detail += " " + code;
  if (!message.empty()) detail += ": " + message;
  detail += ")";
  if (code == "NoSuchBucket") {
    return NotFoundError("S3 bucket '" + config_.bucket + "' does not exist at " + config_.scheme +
                         "://" + config_.endpoint_host + detail);
  }
  if (code == "NoSuchKey" || code == "NoSuchUpload" || response.status == 404) {
    return NotFoundError(what + ": not found" + detail);
  }
  if (code == "AccessDenied" || code == "InvalidAccessKeyId" || code == "SignatureDoesNotMatch" ||
      code == "InvalidToken" || code == "ExpiredToken" || response.status == 401 ||
      response.status == 403) {
    return PermissionDeniedError(what + ": permission denied (check the credentials for bucket '" +
                                 config_.bucket + "')" + detail);
  }
  if (code == "PreconditionFailed" || response.status == 412) {
    return AbortedError(what + ": changed concurrently" + detail);
  }
  if (code == "InvalidRange" || response.status == 416) return OutOfRangeError(what + detail);
  if (response.status >= 500 || code == "SlowDown" || response.status == 429) {
    return UnavailableError(what + ": service unavailable after " +
                            std::to_string(config_.max_retries + 1) + " attempts" + detail);
  }
  if (response.status == 409) return FailedPreconditionError(what + detail);
  return InvalidArgumentError(what + ": request refused" + detail);
}

std::unique_ptr<http::Client> S3Client::Acquire() {
  absl::MutexLock lock(&mu_);
  if (pool_.empty()) return std::make_unique<http::Client>();
  std::unique_ptr<http::Client> c = std::move(pool_.back());
  pool_.pop_back();
  return c;
}

void S3Client::Release(std::unique_ptr<http::Client> client) {
  absl::MutexLock lock(&mu_);
  // Up to 64 idle connections: a control plane taking over finalizes up to
  // its worker count (32 or more) of jobs at once, and a connection dropped
  // here is a new TCP connection (and server-side setup) for the next request.
  if (pool_.size() < 64) pool_.push_back(std::move(client));
}

StatusOr<S3Response> S3Client::Do(const S3Request& request) {
  http::ClientRequest req;
  req.method = request.method;
  req.url = Url(request);
  req.body = request.body;
  req.timeout_ms = config_.timeout_ms;
  return Send(request, req);
}

StatusOr<S3Response> S3Client::Do(S3Request&& request) {
  // Hash once (not per attempt), then hand the body over.
  if (request.payload_sha256.empty() && !request.upload) {
    request.payload_sha256 = sigv4::HexSha256(request.body);
  }
  http::ClientRequest req;
  req.method = request.method;
  req.url = Url(request);
  req.body = std::move(request.body);
  req.timeout_ms = config_.timeout_ms;
  return Send(request, req);
}

StatusOr<S3Response> S3Client::Send(const S3Request& request, http::ClientRequest& req) {
  if (request.upload && request.payload_sha256.empty()) {
    return InternalError("S3 " + request.method + " " + req.url +
                         ": a streamed body needs its SHA-256 up front");
  }
  thread_local std::mt19937_64 rng(std::random_device{}());
  std::unique_ptr<http::Client> client = Acquire();
  Status last;
  S3Response resp;
  for (int attempt = 0;; ++attempt) {
    if (attempt > 0) {
      int64_t cap = std::min<int64_t>(config_.backoff_max_ms,
                                      config_.backoff_base_ms << std::min(attempt - 1, 20));
      // "Equal jitter": half fixed, half random.
      sleep_(cap / 2 + static_cast<int64_t>(rng() % static_cast<uint64_t>(cap / 2 + 1)));
    }
    req.headers = SignedHeaders(request, clock_->NowMicros() / 1'000'000);
    // Streamed bodies: a fresh source/sink per attempt; their own errors
    // end the request (recorded here, returned as they are).
    Status stream_error;
    if (request.upload) {
      req.body_source = request.upload();
      req.body_size = request.upload_size;
      req.buffer_size = kStreamBuffer;
    }
    if (request.download) {
      req.on_body = [&stream_error, sink = request.download()](std::string_view data) {
        stream_error = sink(data);
        return stream_error.ok();
      };
      req.buffer_size = kStreamBuffer;
    }
    StatusOr<http::ClientResponse> r = client->Do(req);
    if (observer_) observer_(request, r.ok() && stream_error.ok() ? r->status : 0);
    // The sink's error (the connection was cut: not returned to the pool).
    if (!stream_error.ok()) return stream_error;
    if (!r.ok()) {
      last = Status(r.status().code(), "S3 " + request.method + " " + req.url + ": " +
                                           std::string(r.status().message()));
      if (Retryable(r.status()) && attempt < config_.max_retries) {
        client = std::make_unique<http::Client>();  // fresh connection
        continue;
      }
      return last;
    }
    resp.status = r->status;
    resp.headers = std::move(r->headers);
    resp.body = std::move(r->body);
    if (resp.status >= 200 && resp.status < 300) break;
    if (RetryableResponse(resp) && attempt < config_.max_retries) continue;
    Release(std::move(client));
    return ErrorFor(request, resp);
  }
  Release(std::move(client));
  return resp;
}

}  // namespace tandem::store
