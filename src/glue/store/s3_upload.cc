// S3Store's writes: PutBlob / PutBlobFromFile / DoAdoptHashedBlobFile, one
// streamed PUT up to multipart_threshold, a multipart upload above it.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cerrno>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "glue/store/fs_util.h"
#include "glue/store/s3_store.h"
#include "glue/store/sha256.h"

namespace tandem::store {
namespace {

std::string Header(const S3Response& r, const std::string& name) {
  auto it = r.headers.find(name);
  return it == r.headers.end() ? "" : it->second;
}

// An unlinked temp file for spooling large inputs.
StatusOr<UniqueFd> SpoolFile() {
  std::error_code ec;
  std::string dir = std::filesystem::temp_directory_path(ec).string();
  if (ec) dir = "/tmp";
  UniqueFd fd(::open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600));
  if (fd.valid()) return fd;
  std::string path = dir + "/tandem-s3-spool-XXXXXX";
  int raw = ::mkstemp(path.data());
  if (raw < 0) return ErrnoStatus(errno, "create spool file in", dir);
  ::unlink(path.c_str());
  return UniqueFd(raw);
}

Status PreadFull(int fd, char* buf, size_t n, uint64_t offset) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = ::pread(fd, buf + got, n - got, static_cast<off_t>(offset + got));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return ErrnoStatus(errno, "read", "upload source");
    if (r == 0) return AbortedError("upload source shrank while uploading");
    got += static_cast<size_t>(r);
  }
  return OkStatus();
}

// SHA-256 (hex) of each part_size slice of a byte stream fed in order: the
// payload hashes a multipart upload of a caller's file signs, taken in the
// pass that computes the digest, and what each part must hash to again when
// it is sent.
class PartHashes {
 public:
  explicit PartHashes(uint64_t part_size) : part_size_(part_size) {}
  void Update(const char* data, size_t n) {
    while (n > 0) {
      const size_t k = static_cast<size_t>(std::min<uint64_t>(n, part_size_ - filled_));
      hash_->Update(data, k);
      filled_ += k;
      data += k;
      n -= k;
      if (filled_ == part_size_) Close();
    }
  }
  std::vector<std::string> Finish() {
    if (filled_ > 0) Close();
    return std::move(done_);
  }

 private:
  void Close() {
    done_.push_back(hash_->FinishHex());
    hash_ = std::make_unique<Sha256>();
    filled_ = 0;
  }
  const uint64_t part_size_;
  uint64_t filled_ = 0;
  std::unique_ptr<Sha256> hash_ = std::make_unique<Sha256>();
  std::vector<std::string> done_;
};

std::string Changed(const std::string& digest) {
  return "content changed between hashing and upload (expected " + digest + ")";
}

// The body of one streamed PUT attempt. A thread of its own reads the file
// in 1 MiB chunks and hashes each (so the hashing overlaps the sending on
// libcurl's thread); Read hands the chunks over in order. The bytes hashed
// are exactly the bytes sent, and the last chunk is handed over only if the
// whole hashes to `digest`: otherwise Read fails (Aborted) and the server
// never receives a complete body.
class HashingReader {
 public:
  HashingReader(int fd, uint64_t size, std::string digest)
      : fd_(fd), size_(size), digest_(std::move(digest)), thread_([this] { Produce(); }) {}
  ~HashingReader() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  HashingReader(const HashingReader&) = delete;
  HashingReader& operator=(const HashingReader&) = delete;

  StatusOr<size_t> Read(char* buf, size_t n) {
    if (sent_ == size_ || n == 0) return size_t{0};
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return !failed_.ok() || !ready_.empty(); });
    if (ready_.empty()) return failed_;
    std::string& chunk = ready_.front();
    const size_t k = std::min(n, chunk.size() - taken_);
    std::copy_n(chunk.data() + taken_, k, buf);
    taken_ += k;
    sent_ += k;
    if (taken_ == chunk.size()) {
      free_.push_back(std::move(chunk));
      ready_.pop_front();
      taken_ = 0;
      cv_.notify_all();
    }
    return k;
  }

 private:
  static constexpr size_t kChunk = 1 << 20;
  static constexpr size_t kChunks = 8;  // read ahead: at most 8 MiB

  void Produce() {
    Sha256 hash;
    for (uint64_t offset = 0; offset < size_;) {
      std::string chunk;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [&] { return stop_ || ready_.size() < kChunks; });
        if (stop_) return;
        if (!free_.empty()) {
          chunk = std::move(free_.back());
          free_.pop_back();
        }
      }
      chunk.resize(static_cast<size_t>(std::min<uint64_t>(kChunk, size_ - offset)));
      Status st = PreadFull(fd_, chunk.data(), chunk.size(), offset);
      if (st.ok()) {
        hash.Update(chunk);
        offset += chunk.size();
        if (offset == size_ && hash.FinishDigest() != digest_) st = AbortedError(Changed(digest_));
      }
      std::lock_guard<std::mutex> lock(mu_);
      if (!st.ok()) {
        failed_ = st;
      } else {
        ready_.push_back(std::move(chunk));
      }
      cv_.notify_all();
      if (!st.ok()) return;
    }
  }

  const int fd_;
  const uint64_t size_;
  const std::string digest_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::string> ready_;  // hashed, in order
  std::vector<std::string> free_;  // sent, for reuse
  size_t taken_ = 0;               // of ready_.front()
  uint64_t sent_ = 0;              // Read's thread only
  bool stop_ = false;
  Status failed_;
  std::thread thread_;  // last: starts once the rest is set up
};
}  // namespace

StatusOr<BlobInfo> S3Store::DoPutBlob(const ReadFn& reader) {
  // The in-memory limit: one PUT's worth, and never more than a part.
  const uint64_t part =
      std::min(client_->config().part_size, client_->config().multipart_threshold);
  std::string mem;
  UniqueFd spool;
  // Small blobs stay in memory; past one part they go to a spool file (ours
  // alone, unlinked: nobody can change it, so multipart parts are hashed
  // only when sent).
  ASSIGN_OR_RETURN(BlobInfo read, ReadHashed(reader, [&](const char* data, size_t n) -> Status {
                     if (!spool.valid() && mem.size() + n <= part) {
                       mem.append(data, n);
                       return OkStatus();
                     }
                     if (!spool.valid()) {
                       ASSIGN_OR_RETURN(spool, SpoolFile());
                       RETURN_IF_ERROR(WriteAll(spool.get(), mem.data(), mem.size(), "spool file"));
                       mem.clear();
                       mem.shrink_to_fit();
                     }
                     return WriteAll(spool.get(), data, n, "spool file");
                   }));
  return Upload(spool.valid() ? spool.get() : -1, mem, read.digest, read.size, {});
}

StatusOr<BlobInfo> S3Store::PutBlobFromFile(const std::string& path) {
  ASSIGN_OR_RETURN(UniqueFd fd, OpenRegularFileForReading(path));
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return ErrnoStatus(errno, "stat", path);
  const uint64_t threshold = client_->config().multipart_threshold;
  // First pass: the digest, and for a multipart upload each part's hash
  // (every part sent must hash to it again). A single PUT is hashed again
  // while it streams and must end at the same digest. Either way a file
  // changed meanwhile is refused.
  std::optional<PartHashes> parts;
  if (static_cast<uint64_t>(st.st_size) > threshold) parts.emplace(client_->config().part_size);
  ASSIGN_OR_RETURN(BlobInfo read,
                   ReadHashed([&](char* buf, size_t n) { return ReadSome(fd.get(), buf, n, path); },
                              [&](const char* data, size_t n) -> Status {
                                if (parts) parts->Update(data, n);
                                return OkStatus();
                              }));
  StatusOr<BlobInfo> info = (read.size > threshold) != parts.has_value()
                                ? StatusOr<BlobInfo>(AbortedError(
                                      "its size changed from " + std::to_string(st.st_size) +
                                      " to " + std::to_string(read.size) + " bytes while hashing"))
                                : Upload(fd.get(), "", read.digest, read.size,
                                         parts ? parts->Finish() : std::vector<std::string>{});
  if (info.status().code() == StatusCode::kAborted) {
    return AbortedError("'" + path + "' changed while it was being stored: " +
                        std::string(info.status().message()));
  }
  return info;
}

StatusOr<BlobInfo> S3Store::DoAdoptHashedBlobFile(const std::string& path,
                                                  const BlobInfo& hashed) {
  ASSIGN_OR_RETURN(UniqueFd fd, OpenRegularFileForReading(path));
  return Upload(fd.get(), "", hashed.digest, hashed.size, {});
}

StatusOr<BlobInfo> S3Store::Upload(int fd, const std::string& mem, const std::string& digest,
                                   uint64_t size, const std::vector<std::string>& part_hashes) {
  const std::string key = BlobKey(digest);
  uint64_t existing = 0;
  ASSIGN_OR_RETURN(bool exists, Exists(key, &existing));
  if (exists && existing == size) {
    // Same content already stored: keep one copy, mark it used for GC grace.
    RETURN_IF_ERROR(Touch(digest));
    return BlobInfo{digest, size};
  }
  if (size > client_->config().multipart_threshold) {
    if (fd < 0) return InternalError("large blob without a spool file");
    return UploadMultipart(fd, key, digest, size, part_hashes);
  }
  if (fd >= 0) return UploadStreamed(fd, key, digest, size);
  S3Request req;
  req.method = "PUT";
  req.key = key;
  req.headers["content-type"] = "application/octet-stream";
  req.body = mem;
  // One hash: the guard against a changed source and the signed payload hash.
  const std::string sent = Sha256Digest(req.body);
  if (sent != digest) return AbortedError(Changed(digest));
  req.payload_sha256 = sent.substr(kDigestPrefix.size());
  RETURN_IF_ERROR(client_->Do(std::move(req)).status());
  return BlobInfo{digest, size};
}

StatusOr<BlobInfo> S3Store::UploadStreamed(int fd, const std::string& key,
                                           const std::string& digest, uint64_t size) {
  // One PUT streamed from the file (no copy in memory), signed with the
  // digest: S3 itself refuses a body that does not hash to it. The bytes are
  // hashed again as they are read for sending, and the last ones are held
  // back unless they complete the same digest, so no server (s3rver does not
  // check x-amz-content-sha256) ever receives a whole body that differs.
  S3Request put;
  put.method = "PUT";
  put.key = key;
  put.headers["content-type"] = "application/octet-stream";
  put.payload_sha256 = digest.substr(kDigestPrefix.size());
  put.upload_size = size;
  put.upload = [fd, size, digest]() -> S3Request::Source {
    auto reader = std::make_shared<HashingReader>(fd, size, digest);
    return [reader](char* buf, size_t n) { return reader->Read(buf, n); };
  };
  Status sent = client_->Do(std::move(put)).status();
  if (sent.ok()) return BlobInfo{digest, size};
  // A server may keep what arrived of a cut-off PUT (s3rver writes the body
  // straight to the object): remove an object of the wrong size. One of the
  // right size is this content, complete (the last bytes go out only once
  // they are verified), perhaps from a concurrent Put. The server may not
  // have begun the object when the connection was cut, so an absent key is
  // looked at again a little later (0.1, 0.2, 0.4 s; failures only).
  for (int look = 0; look < 4; ++look) {
    if (look > 0) std::this_thread::sleep_for(std::chrono::milliseconds(50 << look));
    S3Request head;
    head.method = "HEAD";
    head.key = key;
    StatusOr<S3Response> h = client_->Do(head);
    if (h.status().code() == StatusCode::kNotFound) continue;
    if (h.ok() && std::strtoull(Header(*h, "content-length").c_str(), nullptr, 10) != size) {
      S3Request del;
      del.method = "DELETE";
      del.key = key;
      if (std::string etag = Header(*h, "etag"); !etag.empty()) del.headers["if-match"] = etag;
      (void)client_->Do(del);  // best effort; the original error matters
    }
    break;
  }
  return sent;
}

StatusOr<BlobInfo> S3Store::UploadMultipart(int fd, const std::string& key,
                                            const std::string& digest, uint64_t size,
                                            const std::vector<std::string>& part_hashes) {
  const uint64_t part_size = client_->config().part_size;
  const size_t parts = static_cast<size_t>((size + part_size - 1) / part_size);
  if (!part_hashes.empty() && part_hashes.size() != parts) {
    return InternalError("multipart upload of " + std::to_string(parts) + " parts with " +
                         std::to_string(part_hashes.size()) + " part hashes");
  }
  S3Request create;
  create.method = "POST";
  create.key = key;
  create.query = {{"uploads", ""}};
  create.headers["content-type"] = "application/octet-stream";
  ASSIGN_OR_RETURN(S3Response created, client_->Do(create));
  const std::string upload_id = XmlText(created.body, "UploadId");
  if (upload_id.empty()) {
    return InternalError("S3 CreateMultipartUpload for s3://" + client_->config().bucket + "/" +
                         key + " returned no UploadId");
  }
  auto abort = [&](Status s) -> Status {
    S3Request del;
    del.method = "DELETE";
    del.key = key;
    del.query = {{"uploadId", upload_id}};
    (void)client_->Do(del);  // best effort; the original error matters
    return s;
  };
  // `concurrency` workers take the next part as soon as one is done (no
  // batch waits for its slowest part): each reads its part, hashes it (in
  // parallel; the hash is signed and, given part_hashes, must match the
  // first pass's), and sends it, moving the buffer into the request (memory:
  // concurrency x part_size).
  std::vector<std::string> etags(parts);
  std::atomic<size_t> next{0};
  std::mutex mu;
  Status failed;
  auto work = [&] {
    for (;;) {
      {
        std::lock_guard<std::mutex> lock(mu);
        if (!failed.ok()) return;
      }
      const size_t i = next.fetch_add(1);
      if (i >= parts) return;
      const uint64_t offset = static_cast<uint64_t>(i) * part_size;
      const std::string number = std::to_string(i + 1);
      S3Request put;
      put.method = "PUT";
      put.key = key;
      put.query = {{"partNumber", number}, {"uploadId", upload_id}};
      put.body.resize(static_cast<size_t>(std::min(part_size, size - offset)));
      Status st = PreadFull(fd, put.body.data(), put.body.size(), offset);
      if (st.ok()) {
        Sha256 h;
        h.Update(put.body);
        put.payload_sha256 = h.FinishHex();
        if (!part_hashes.empty() && put.payload_sha256 != part_hashes[i]) {
          st = AbortedError(Changed(digest) + "; part " + number + " differs");
        }
      }
      if (st.ok()) {
        StatusOr<S3Response> r = client_->Do(std::move(put));
        if (!r.ok()) {
          st = r.status();
        } else {
          etags[i] = Header(*r, "etag");
          if (etags[i].empty()) {
            st = InternalError("S3 UploadPart " + number + " of " + key + " returned no ETag");
          }
        }
      }
      if (!st.ok()) {
        std::lock_guard<std::mutex> lock(mu);
        if (failed.ok()) failed = st;
        return;
      }
    }
  };
  std::vector<std::thread> workers;
  const size_t n_workers =
      std::min(parts, static_cast<size_t>(std::max(1, client_->config().concurrency)));
  for (size_t w = 0; w < n_workers; ++w) workers.emplace_back(work);
  for (std::thread& t : workers) t.join();
  if (!failed.ok()) return abort(failed);
  std::string complete = "<CompleteMultipartUpload>";
  for (size_t i = 0; i < parts; ++i) {
    complete += "<Part><PartNumber>" + std::to_string(i + 1) + "</PartNumber><ETag>" +
                XmlEscape(etags[i]) + "</ETag></Part>";
  }
  complete += "</CompleteMultipartUpload>";
  S3Request done;
  done.method = "POST";
  done.key = key;
  done.query = {{"uploadId", upload_id}};
  done.headers["content-type"] = "application/xml";
  done.body = std::move(complete);
  StatusOr<S3Response> r = client_->Do(done);
  if (!r.ok()) return abort(r.status());
  // CompleteMultipartUpload can fail with 200 and an <Error> document.
  if (!XmlBlocks(r->body, "Error").empty()) {
    S3Response as_error = *r;
    as_error.status = 500;
    return abort(client_->ErrorFor(done, as_error));
  }
  return BlobInfo{digest, size};
}

}  // namespace tandem::store
