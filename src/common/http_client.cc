// http::Client on libcurl: one easy handle per Client, reset between calls
// (curl_easy_reset keeps the connection cache, so keep-alive is reused).
#include "common/http_client.h"

#include <curl/curl.h>

#include <algorithm>
#include <cstdio>
#include <mutex>
#include <utility>

namespace tandem::http {
namespace {

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n')) {
    s.remove_suffix(1);
  }
  return s;
}

void GlobalInit() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct CallState {
  CURL* handle = nullptr;
  const ClientRequest* request = nullptr;
  ClientResponse* response = nullptr;
  bool aborted_by_caller = false;
  FILE* file = nullptr;
  Status source_error;  // body_source's error, if it aborted the request
};

size_t OnWrite(char* data, size_t size, size_t nmemb, void* user) {
  auto* st = static_cast<CallState*>(user);
  size_t n = size * nmemb;
  long code = 0;
  curl_easy_getinfo(st->handle, CURLINFO_RESPONSE_CODE, &code);
  const bool success = code >= 200 && code < 300;
  if (st->request->on_body && success) {
    if (!st->request->on_body(std::string_view(data, n))) {
      st->aborted_by_caller = true;
      return 0;  // CURLE_WRITE_ERROR
    }
    return n;
  }
  st->response->body.append(data, n);
  return n;
}

size_t OnHeader(char* data, size_t size, size_t nmemb, void* user) {
  auto* st = static_cast<CallState*>(user);
  size_t n = size * nmemb;
  std::string_view line(data, n);
  if (line.substr(0, 5) == "HTTP/") {
    st->response->headers.clear();  // a new response (after 100 Continue, redirects)
    return n;
  }
  size_t colon = line.find(':');
  if (colon == std::string_view::npos) return n;
  std::string name = Lower(Trim(line.substr(0, colon)));
  std::string value(Trim(line.substr(colon + 1)));
  auto [it, inserted] = st->response->headers.try_emplace(std::move(name), value);
  if (!inserted) it->second += ", " + value;
  return n;
}

size_t OnRead(char* buffer, size_t size, size_t nitems, void* user) {
  auto* st = static_cast<CallState*>(user);
  if (st->request->body_source) {
    StatusOr<size_t> got = st->request->body_source(buffer, size * nitems);
    if (!got.ok()) {
      st->source_error = got.status();
      return CURL_READFUNC_ABORT;
    }
    return *got;
  }
  size_t n = std::fread(buffer, 1, size * nitems, st->file);
  if (n == 0 && std::ferror(st->file)) return CURL_READFUNC_ABORT;
  return n;
}

}  // namespace

struct Client::Impl {
  CURL* easy = nullptr;
  ~Impl() {
    if (easy != nullptr) curl_easy_cleanup(easy);
  }
};

Client::Client() : impl_(std::make_unique<Impl>()) {
  GlobalInit();
  impl_->easy = curl_easy_init();
}

Client::~Client() = default;

StatusOr<ClientResponse> Client::Do(const ClientRequest& request) {
  CURL* h = impl_->easy;
  if (h == nullptr) return InternalError("curl_easy_init failed");
  curl_easy_reset(h);

  ClientResponse response;
  CallState st;
  st.handle = h;
  st.request = &request;
  st.response = &response;

  // The file, if any, is closed on every return path.
  std::unique_ptr<FILE, int (*)(FILE*)> file(nullptr, &std::fclose);
  curl_off_t file_size = 0;
  if (!request.body_file.empty()) {
    file.reset(std::fopen(request.body_file.c_str(), "rb"));
    if (!file) {
      return NotFoundError("cannot open request body file " + request.body_file + " for " +
                           request.url);
    }
    if (std::fseek(file.get(), 0, SEEK_END) != 0) {
      return InvalidArgumentError("cannot seek request body file " + request.body_file);
    }
    file_size = static_cast<curl_off_t>(std::ftell(file.get()));
    std::rewind(file.get());
    st.file = file.get();
  }

  if (!request.ca_file.empty()) {
    std::unique_ptr<FILE, int (*)(FILE*)> ca(std::fopen(request.ca_file.c_str(), "rb"),
                                             &std::fclose);
    if (!ca) return NotFoundError("cannot read CA file " + request.ca_file + " for " + request.url);
  }

  char errbuf[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(h, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(request.timeout_ms));
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(request.connect_timeout_ms));
  if (!request.ca_file.empty()) {
    curl_easy_setopt(h, CURLOPT_CAINFO, request.ca_file.c_str());
    curl_easy_setopt(h, CURLOPT_CAPATH, nullptr);  // that CA only, not also the system's
  }
  curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
  curl_easy_setopt(h, CURLOPT_SSLVERSION, static_cast<long>(CURL_SSLVERSION_TLSv1_2));
  curl_slist* connect_to = nullptr;
  if (!request.connect_host.empty()) {
    connect_to = curl_slist_append(nullptr, ("::" + request.connect_host + ":").c_str());
    curl_easy_setopt(h, CURLOPT_CONNECT_TO, connect_to);
  }
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, &OnWrite);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &st);
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, &OnHeader);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, &st);

  const std::string& m = request.method;
  if (request.body_source) {
    file_size = static_cast<curl_off_t>(request.body_size);
  }
  if (request.buffer_size > 0) {
    curl_easy_setopt(h, CURLOPT_BUFFERSIZE,
                     static_cast<long>(std::min<size_t>(request.buffer_size, 10 << 20)));
    curl_easy_setopt(h, CURLOPT_UPLOAD_BUFFERSIZE,
                     static_cast<long>(std::min<size_t>(request.buffer_size, 2 << 20)));
  }
  if (st.file != nullptr || request.body_source) {
    curl_easy_setopt(h, CURLOPT_READFUNCTION, &OnRead);
    curl_easy_setopt(h, CURLOPT_READDATA, &st);
    if (m == "POST") {
      curl_easy_setopt(h, CURLOPT_POST, 1L);
      curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, file_size);
    } else {
      curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
      curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, file_size);
      if (m != "PUT") curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, m.c_str());
    }
  } else if (m == "GET") {
    curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
  } else if (m == "HEAD") {
    curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
  } else if (!request.body.empty() || m == "POST" || m == "PUT" || m == "PATCH") {
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, request.body.data());
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.body.size()));
    if (m != "POST") curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, m.c_str());
  } else {
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, m.c_str());
  }

  curl_slist* headers = nullptr;
  for (const auto& [name, value] : request.headers) {
    headers = curl_slist_append(headers, (name + ": " + value).c_str());
  }
  // No "Expect: 100-continue" round trip for uploads; curl adds a default
  // Content-Type for POSTFIELDS that callers override via `headers`.
  headers = curl_slist_append(headers, "Expect:");
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);

  CURLcode rc = curl_easy_perform(h);
  curl_slist_free_all(headers);
  curl_easy_setopt(h, CURLOPT_CONNECT_TO, nullptr);
  curl_slist_free_all(connect_to);
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, nullptr);

  long status = 0;
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
  response.status = static_cast<int>(status);
  if (rc == CURLE_OK || (rc == CURLE_WRITE_ERROR && st.aborted_by_caller)) return response;
  if (!st.source_error.ok()) return st.source_error;

  std::string detail = errbuf[0] != '\0' ? std::string(errbuf) : curl_easy_strerror(rc);
  switch (rc) {
    case CURLE_OPERATION_TIMEDOUT:
      return DeadlineExceededError(request.method + " " + request.url + " timed out: " + detail);
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
      return UnavailableError("cannot connect to " + request.url + ": " + detail);
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
      return InvalidArgumentError("bad URL " + request.url + ": " + detail);
    case CURLE_PEER_FAILED_VERIFICATION:
      return FailedPreconditionError(
          "TLS: the certificate of " + request.url + " does not verify" +
          (request.ca_file.empty() ? " against the system's CAs" : " against " + request.ca_file) +
          ": " + detail + "; nothing was sent");
    case CURLE_SSL_CONNECT_ERROR:
      return FailedPreconditionError("TLS: handshake with " + request.url + " failed: " + detail +
                                     " (is it an HTTPS server?); nothing was sent");
    case CURLE_SSL_CACERT_BADFILE:
      return InvalidArgumentError("TLS: CA file " + request.ca_file + " for " + request.url +
                                  " holds no usable certificate: " + detail);
    case CURLE_READ_ERROR:
    case CURLE_ABORTED_BY_CALLBACK:
      return DataLossError("reading request body file " + request.body_file + " for " +
                           request.url + ": " + detail);
    default:
      return UnavailableError(request.method + " " + request.url + " failed: " + detail);
  }
}

StatusOr<ClientResponse> Client::Get(const std::string& url, int64_t timeout_ms) {
  ClientRequest req;
  req.url = url;
  req.timeout_ms = timeout_ms;
  return Do(req);
}

StatusOr<ClientResponse> Client::Post(const std::string& url, std::string body,
                                      std::string content_type) {
  ClientRequest req;
  req.method = "POST";
  req.url = url;
  req.body = std::move(body);
  req.headers["Content-Type"] = std::move(content_type);
  return Do(req);
}

}  // namespace tandem::http
