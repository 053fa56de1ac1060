#include "glue/store/s3_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <ctime>
#include <deque>
#include <filesystem>
#include <future>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "common/json.h"
#include "glue/store/fs_util.h"
#include "glue/store/name_record.h"
#include "glue/store/sha256.h"

namespace tandem::store {
namespace {

constexpr uint64_t kReadRange = 8ULL << 20;
constexpr size_t kDefaultListMax = 1000;

std::string_view Hex(std::string_view digest) { return digest.substr(kDigestPrefix.size()); }

uint64_t ContentLength(const S3Response& r) {
  auto it = r.headers.find("content-length");
  return it == r.headers.end() ? 0 : std::strtoull(it->second.c_str(), nullptr, 10);
}

std::string Header(const S3Response& r, const std::string& name) {
  auto it = r.headers.find(name);
  return it == r.headers.end() ? "" : it->second;
}

// "Mon, 30 Nov 2026 08:40:13 GMT" -> micros, or 0 if absent/unparsable.
int64_t HttpDateMicros(const std::string& s) {
  std::tm tm{};
  const char* end = ::strptime(s.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm);
  if (end == nullptr) return 0;
  return static_cast<int64_t>(::timegm(&tm)) * 1'000'000;
}

struct Listed {
  std::string key;
  uint64_t size = 0;
  int64_t last_modified_micros = 0;
};

class S3BlobReader final : public BlobReader {
 public:
  S3BlobReader(S3Client* client, std::string key, std::string digest, uint64_t size,
               std::string etag)
      : client_(client),
        key_(std::move(key)),
        digest_(std::move(digest)),
        size_(size),
        etag_(std::move(etag)) {}

  StatusOr<size_t> Read(char* buf, size_t n) override {
    if (done_) {
      if (!final_.ok()) return final_;
      return size_t{0};
    }
    if (n == 0) return size_t{0};
    if (pos_ == buf_.size()) {
      if (offset_ >= size_) return Finish();
      RETURN_IF_ERROR(Fetch());
    }
    size_t k = std::min(n, buf_.size() - pos_);
    std::copy_n(buf_.data() + pos_, k, buf);
    pos_ += k;
    hash_.Update(buf, k);
    return k;
  }
  const std::string& digest() const override { return digest_; }
  uint64_t size() const override { return size_; }

 private:
  // Keeps up to `concurrency` ranged GETs in flight ahead of the reader (at
  // most concurrency x 8 MiB buffered) and takes the next one in order.
  Status Fetch() {
    const size_t ahead = static_cast<size_t>(client_->config().concurrency);
    while (inflight_.size() < ahead && next_offset_ < size_) {
      const uint64_t begin = next_offset_;
      const uint64_t end = std::min(size_, begin + kReadRange) - 1;
      next_offset_ = end + 1;
      S3Request req;
      req.method = "GET";
      req.key = key_;
      req.headers["range"] = "bytes=" + std::to_string(begin) + "-" + std::to_string(end);
      if (!etag_.empty()) req.headers["if-match"] = etag_;
      // The body lands in a buffer sized for it up front (no regrowing);
      // each attempt starts it over.
      const uint64_t want = end - begin + 1;
      auto body = std::make_shared<std::string>();
      req.download = [body, want]() -> S3Request::Sink {
        body->clear();
        body->reserve(static_cast<size_t>(want));
        return [body, want](std::string_view data) -> Status {
          if (body->size() + data.size() > want) {
            return DataLossError("more bytes than the " + std::to_string(want) + " asked for");
          }
          body->append(data);
          return OkStatus();
        };
      };
      S3Client* client = client_;
      inflight_.push_back({want, body,
                           std::async(std::launch::async,
                                      [client, req = std::move(req)] { return client->Do(req); })});
    }
    Pending pending = std::move(inflight_.front());
    inflight_.pop_front();
    StatusOr<S3Response> r = pending.response.get();
    if (!r.ok()) {
      if (r.status().code() == StatusCode::kAborted) {
        return Fail(AbortedError("blob " + digest_ + " was replaced while being read: " +
                                 std::string(r.status().message())));
      }
      if (r.status().code() == StatusCode::kOutOfRange) {
        return Fail(DataLossError("blob " + digest_ + " at s3://" + client_->config().bucket + "/" +
                                  key_ + " shrank while being read"));
      }
      return Fail(r.status());
    }
    if (pending.body->size() != pending.want) {
      return Fail(DataLossError("blob " + digest_ + " at s3://" + client_->config().bucket + "/" +
                                key_ + ": got " + std::to_string(pending.body->size()) +
                                " bytes for a range of " + std::to_string(pending.want)));
    }
    buf_ = std::move(*pending.body);
    pos_ = 0;
    offset_ += pending.want;
    read_ += pending.want;
    return OkStatus();
  }

  StatusOr<size_t> Finish() {
    done_ = true;
    buf_.clear();
    buf_.shrink_to_fit();
    const std::string actual = hash_.FinishDigest();
    if (actual != digest_) {
      final_ =
          DataLossError("blob " + digest_ + " at s3://" + client_->config().bucket + "/" + key_ +
                        " is corrupt: its " + std::to_string(read_) + " bytes hash to " + actual);
      return final_;
    }
    return size_t{0};
  }

  Status Fail(Status s) {
    done_ = true;
    final_ = s;
    return s;
  }

  S3Client* client_;
  std::string key_;
  std::string digest_;
  uint64_t size_;
  std::string etag_;
  struct Pending {
    uint64_t want;
    std::shared_ptr<std::string> body;
    std::future<StatusOr<S3Response>> response;
  };
  std::deque<Pending> inflight_;
  uint64_t next_offset_ = 0;  // first byte not yet requested
  std::string buf_;
  size_t pos_ = 0;
  uint64_t offset_ = 0;  // first byte not yet received
  uint64_t read_ = 0;
  Sha256 hash_;
  bool done_ = false;
  Status final_;
};

// ListObjectsV2 over everything under `prefix` (continuation tokens); also
// returns the server's Date (micros, 0 if absent) of the last page.
StatusOr<std::vector<Listed>> ListAll(S3Client& client, const std::string& prefix,
                                      int64_t* server_now) {
  std::vector<Listed> out;
  std::string token;
  for (;;) {
    S3Request req;
    req.query = {{"list-type", "2"}, {"prefix", prefix}, {"max-keys", "1000"}};
    if (!token.empty()) req.query.emplace_back("continuation-token", token);
    ASSIGN_OR_RETURN(S3Response r, client.Do(req));
    if (server_now != nullptr) *server_now = HttpDateMicros(Header(r, "date"));
    for (std::string_view block : XmlBlocks(r.body, "Contents")) {
      Listed l;
      l.key = XmlText(block, "Key");
      l.size = std::strtoull(XmlText(block, "Size").c_str(), nullptr, 10);
      StatusOr<int64_t> lm = ParseIso8601Micros(XmlText(block, "LastModified"));
      l.last_modified_micros = lm.ok() ? *lm : 0;
      out.push_back(std::move(l));
    }
    token = XmlText(r.body, "NextContinuationToken");
    if (XmlText(r.body, "IsTruncated") != "true" || token.empty()) return out;
  }
}

std::string RedactUri(std::string_view uri) {
  std::string out(uri);
  for (const char* param : {"secret_access_key=", "session_token="}) {
    size_t p = out.find(param);
    while (p != std::string::npos) {
      if (p == 0 || out[p - 1] == '?' || out[p - 1] == '&') {
        size_t start = p + std::string_view(param).size();
        size_t end = out.find('&', start);
        out.replace(start, end == std::string::npos ? std::string::npos : end - start, "REDACTED");
      }
      p = out.find(param, p + 1);
    }
  }
  return out;
}

}  // namespace

S3Store::S3Store(std::string uri, std::unique_ptr<S3Client> client, S3StoreOptions options)
    : uri_(std::move(uri)),
      client_(std::move(client)),
      options_(options),
      clock_(options.clock != nullptr ? options.clock : &Clock::Real()),
      root_(client_->config().prefix.empty() ? "" : client_->config().prefix + "/") {}

StatusOr<std::unique_ptr<S3Store>> S3Store::Open(std::string_view uri, S3StoreOptions options) {
  ASSIGN_OR_RETURN(S3Config config, ParseS3Uri(uri));
  auto client = std::make_unique<S3Client>(std::move(config), options.clock);
  std::unique_ptr<S3Store> store(new S3Store(RedactUri(uri), std::move(client), options));
  if (options.check_bucket) {
    S3Request req;
    req.query = {{"list-type", "2"}, {"max-keys", "1"}, {"prefix", store->root_}};
    StatusOr<S3Response> r = store->client_->Do(req);
    if (r.status().code() == StatusCode::kNotFound) {
      const S3Config& c = store->client_->config();
      return NotFoundError("S3 bucket '" + c.bucket + "' not found at " + c.scheme + "://" +
                           c.endpoint_host + ": " + std::string(r.status().message()));
    }
    RETURN_IF_ERROR(r.status());
  }
  return store;
}

std::string S3Store::BlobKey(std::string_view digest) const {
  return root_ + "blobs/sha256/" + std::string(Hex(digest));
}

std::string S3Store::NameKey(std::string_view key) const {
  return root_ + "names/" + std::string(key);
}

namespace {
std::string TouchKey(const std::string& root, std::string_view digest) {
  return root + "touch/sha256/" + std::string(Hex(digest));
}
}  // namespace

StatusOr<bool> S3Store::Exists(const std::string& full_key, uint64_t* size) {
  S3Request req;
  req.method = "HEAD";
  req.key = full_key;
  StatusOr<S3Response> r = client_->Do(req);
  if (r.status().code() == StatusCode::kNotFound) return false;
  RETURN_IF_ERROR(r.status());
  if (size != nullptr) *size = ContentLength(*r);
  return true;
}

Status S3Store::Touch(std::string_view digest) {
  S3Request req;
  req.method = "PUT";
  req.key = TouchKey(root_, digest);
  return client_->Do(req).status();
}

StatusOr<std::unique_ptr<BlobReader>> S3Store::DoOpenBlob(std::string_view digest) {
  S3Request req;
  req.method = "HEAD";
  req.key = BlobKey(digest);
  StatusOr<S3Response> r = client_->Do(req);
  if (r.status().code() == StatusCode::kNotFound) {
    return NotFoundError("no blob " + std::string(digest));
  }
  RETURN_IF_ERROR(r.status());
  return std::unique_ptr<BlobReader>(std::make_unique<S3BlobReader>(
      client_.get(), req.key, std::string(digest), ContentLength(*r), Header(*r, "etag")));
}

StatusOr<BlobInfo> S3Store::DoStatBlob(std::string_view digest) {
  uint64_t size = 0;
  ASSIGN_OR_RETURN(bool exists, Exists(BlobKey(digest), &size));
  if (!exists) return NotFoundError("no blob " + std::string(digest));
  return BlobInfo{std::string(digest), size};
}

Status S3Store::DoDeleteBlob(std::string_view digest) {
  ASSIGN_OR_RETURN(bool exists, Exists(BlobKey(digest), nullptr));
  if (!exists) return NotFoundError("no blob " + std::string(digest));
  S3Request req;
  req.method = "DELETE";
  req.key = BlobKey(digest);
  RETURN_IF_ERROR(client_->Do(req).status());
  req.key = TouchKey(root_, digest);
  Status s = client_->Do(req).status();
  return s.code() == StatusCode::kNotFound ? OkStatus() : s;
}

namespace {
Status CheckNameLength(const std::string& full, std::string_view key) {
  if (full.size() > kMaxKeyBytes) {
    return InvalidArgumentError("invalid object key '" + std::string(key.substr(0, 200)) +
                                "': longer than S3 allows under this store's prefix (" +
                                std::to_string(full.size()) + " > 1024 bytes)");
  }
  return OkStatus();
}
}  // namespace

StatusOr<ObjectInfo> S3Store::DoLink(std::string_view key, std::string_view digest) {
  const std::string name = NameKey(key);
  RETURN_IF_ERROR(CheckNameLength(name, key));
  uint64_t size = 0;
  ASSIGN_OR_RETURN(bool exists, Exists(BlobKey(digest), &size));
  if (!exists) {
    return NotFoundError("cannot link '" + std::string(key) + "': no blob " + std::string(digest));
  }
  RETURN_IF_ERROR(Touch(digest));  // protects it from a concurrent GarbageCollect's grace window
  ObjectInfo info{std::string(key), std::string(digest), size, clock_->NowMicros()};
  S3Request req;
  req.method = "PUT";
  req.key = name;
  req.headers["content-type"] = "application/json";
  req.body = EncodeNameRecord(info);
  RETURN_IF_ERROR(client_->Do(req).status());
  return info;
}

StatusOr<ObjectInfo> S3Store::DoStat(std::string_view key) {
  const std::string name = NameKey(key);
  RETURN_IF_ERROR(CheckNameLength(name, key));
  S3Request req;
  req.key = name;
  StatusOr<S3Response> r = client_->Do(req);
  if (r.status().code() == StatusCode::kNotFound) {
    return NotFoundError("no object '" + std::string(key) + "'");
  }
  RETURN_IF_ERROR(r.status());
  return DecodeNameRecord(r->body, key, "s3://" + client_->config().bucket + "/" + name);
}

StatusOr<ListResult> S3Store::DoList(std::string_view prefix, std::string_view page_token,
                                     size_t max_results) {
  if (max_results == 0 || max_results > kDefaultListMax) max_results = kDefaultListMax;
  // Not every S3-compatible server lists in S3's binary key order (s3rver
  // walks its directory tree), so the names after the token are scanned
  // (keys only, 1000 per request; start-after keeps the scan to what is left)
  // and sorted here; records are fetched only for the page returned.
  const std::string names = root_ + "names/";
  std::vector<std::string> keys;
  std::string token;
  for (;;) {
    S3Request req;
    req.query = {{"list-type", "2"}, {"prefix", names + std::string(prefix)}, {"max-keys", "1000"}};
    if (!page_token.empty()) req.query.emplace_back("start-after", names + std::string(page_token));
    if (!token.empty()) req.query.emplace_back("continuation-token", token);
    ASSIGN_OR_RETURN(S3Response r, client_->Do(req));
    for (std::string_view block : XmlBlocks(r.body, "Contents")) {
      std::string full = XmlText(block, "Key");
      if (!full.starts_with(names)) continue;
      std::string key = full.substr(names.size());
      if (key <= page_token || !key.starts_with(prefix)) continue;
      if (ValidateKey(key).ok()) keys.push_back(std::move(key));  // else not tandem's: skipped
    }
    token = XmlText(r.body, "NextContinuationToken");
    if (XmlText(r.body, "IsTruncated") != "true" || token.empty()) break;
  }
  return PageOfKeys(std::move(keys), max_results,
                    [this](const std::string& key) { return Stat(key); });
}

Status S3Store::DoDelete(std::string_view key) {
  const std::string name = NameKey(key);
  RETURN_IF_ERROR(CheckNameLength(name, key));
  ASSIGN_OR_RETURN(bool exists, Exists(name, nullptr));
  if (!exists) return NotFoundError("no object '" + std::string(key) + "'");
  S3Request req;
  req.method = "DELETE";
  req.key = name;
  return client_->Do(req).status();
}

StatusOr<GcResult> S3Store::DoGarbageCollect(int64_t grace_micros) {
  // Referenced digests. Any unreadable record aborts: never guess.
  // One scan of names/ (not List page by page, which rescans what is left).
  std::set<std::string> live;
  const std::string names = root_ + "names/";
  ASSIGN_OR_RETURN(std::vector<Listed> records, ListAll(*client_, names, nullptr));
  for (const Listed& rec : records) {
    const std::string key = rec.key.substr(names.size());
    if (!ValidateKey(key).ok()) continue;  // not tandem's (never listed either)
    StatusOr<ObjectInfo> info = Stat(key);
    if (info.status().code() == StatusCode::kNotFound) continue;  // deleted meanwhile
    RETURN_IF_ERROR(info.status());
    live.insert(info->digest);
  }

  const std::string touch_root = root_ + "touch/sha256/";
  const std::string blob_root = root_ + "blobs/sha256/";
  ASSIGN_OR_RETURN(std::vector<Listed> touches, ListAll(*client_, touch_root, nullptr));
  std::map<std::string, int64_t> touched;  // digest -> last use
  for (const Listed& t : touches) {
    touched[std::string(kDigestPrefix) + t.key.substr(touch_root.size())] = t.last_modified_micros;
  }
  int64_t server_now = 0;
  ASSIGN_OR_RETURN(std::vector<Listed> blobs, ListAll(*client_, blob_root, &server_now));
  // Ages use the server's clock (LastModified and Date are both its), so a
  // skewed client clock cannot shorten the grace period.
  const int64_t now = server_now > 0 ? server_now : clock_->NowMicros();
  GcResult result;
  std::set<std::string> present;
  for (const Listed& b : blobs) {
    const std::string digest = std::string(kDigestPrefix) + b.key.substr(blob_root.size());
    if (!ValidateDigest(digest).ok()) continue;
    present.insert(digest);
    int64_t last_use = b.last_modified_micros;
    if (auto it = touched.find(digest); it != touched.end())
      last_use = std::max(last_use, it->second);
    if (live.contains(digest) || (grace_micros > 0 && now - last_use < grace_micros)) {
      ++result.blobs_kept;
      continue;
    }
    S3Request del;
    del.method = "DELETE";
    del.key = b.key;
    RETURN_IF_ERROR(client_->Do(del).status());
    ++result.blobs_deleted;
    result.bytes_freed += b.size;
    present.erase(digest);  // its marker goes below
  }
  // Markers whose blob is gone (DeleteBlob raced, or deleted above).
  for (const auto& [digest, when] : touched) {
    if (present.contains(digest) || !ValidateDigest(digest).ok()) continue;
    if (grace_micros > 0 && now - when < grace_micros) continue;
    S3Request del;
    del.method = "DELETE";
    del.key = TouchKey(root_, digest);
    (void)client_->Do(del);
  }
  return result;
}

}  // namespace tandem::store
