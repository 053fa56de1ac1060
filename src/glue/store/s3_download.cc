// S3Store::GetBlobToFile: ranged GETs by `concurrency` workers, each streamed
// straight into its place in the preallocated temp file (no buffer in
// between: libcurl's receive buffer -> the page cache), while the calling
// thread hashes the file's bytes in order from a read-only mapping as they
// land. The digest is checked before the one fsync and the rename.
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "glue/store/fs_util.h"
#include "glue/store/s3_store.h"
#include "glue/store/sha256.h"

namespace tandem::store {
namespace {

// Ranges of size / (4 x workers), 8-64 MiB: few requests (each costs the
// server a lookup), yet the hasher follows closely behind the slowest stream.
uint64_t RangeSize(uint64_t size, size_t workers) {
  const uint64_t want = size / (4 * std::max<size_t>(1, workers));
  return std::clamp<uint64_t>(want, 8ULL << 20, 64ULL << 20);
}

// The hasher is woken when a range has this much more in place (or is done).
constexpr uint64_t kNotifyEvery = 1ULL << 20;

Status PwriteAll(int fd, const char* data, size_t n, uint64_t offset, const std::string& path) {
  size_t done = 0;
  while (done < n) {
    ssize_t w = ::pwrite(fd, data + done, n - done, static_cast<off_t>(offset + done));
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) return ErrnoStatus(errno, "write", path);
    done += static_cast<size_t>(w);
  }
  return OkStatus();
}

class Mapping {
 public:
  Mapping(void* p, size_t n) : p_(p), n_(n) {}
  ~Mapping() {
    if (p_ != MAP_FAILED && p_ != nullptr) ::munmap(p_, n_);
  }
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;
  const char* data() const { return static_cast<const char*>(p_); }
  bool ok() const { return p_ != MAP_FAILED; }

 private:
  void* p_;
  size_t n_;
};

}  // namespace

Status S3Store::GetBlobToFile(std::string_view digest, const std::string& path) {
  RETURN_IF_ERROR(ValidateDigest(digest));
  const std::string key = BlobKey(digest);
  const std::string where =
      "blob " + std::string(digest) + " at s3://" + client_->config().bucket + "/" + key;
  S3Request head;
  head.method = "HEAD";
  head.key = key;
  StatusOr<S3Response> h = client_->Do(head);
  if (h.status().code() == StatusCode::kNotFound) {
    return NotFoundError("no blob " + std::string(digest));
  }
  RETURN_IF_ERROR(h.status());
  auto header = [&](const char* name) {
    auto it = h->headers.find(name);
    return it == h->headers.end() ? std::string() : it->second;
  };
  const uint64_t size = std::strtoull(header("content-length").c_str(), nullptr, 10);
  const std::string etag = header("etag");

  const std::string dir = DirName(path);
  const std::string tmp = dir + "/" + TempName();
  UniqueFd fd(::open(tmp.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
  if (!fd.valid()) return ErrnoStatus(errno, "create", tmp);
  auto fail = [&](Status s) {
    fd.reset();
    ::unlink(tmp.c_str());
    return s;
  };
  if (size > 0) {
    // Reserves the blocks (glibc writes zeros where the file system cannot),
    // so a full disk fails here and not half-way.
    if (int err = ::posix_fallocate(fd.get(), 0, static_cast<off_t>(size)); err != 0) {
      return fail(ErrnoStatus(err, "allocate " + std::to_string(size) + " bytes for", tmp));
    }
  }
  Mapping map(size > 0 ? ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd.get(), 0) : nullptr, size);
  if (!map.ok()) return fail(ErrnoStatus(errno, "map", tmp));

  const size_t workers_cap = static_cast<size_t>(std::max(1, client_->config().concurrency));
  const uint64_t range = RangeSize(size, workers_cap);
  const size_t ranges = static_cast<size_t>((size + range - 1) / range);
  const size_t workers_n = std::min(ranges, workers_cap);
  std::mutex mu;
  std::condition_variable cv;
  std::vector<uint64_t> in_place(ranges, 0);  // bytes of range i written, from its start
  size_t next = 0;
  Status failed;
  auto work = [&] {
    for (;;) {
      size_t i;
      {
        std::lock_guard<std::mutex> lock(mu);
        if (!failed.ok() || next >= ranges) return;
        i = next++;
      }
      const uint64_t begin = static_cast<uint64_t>(i) * range;
      const uint64_t want = std::min(range, size - begin);
      S3Request req;
      req.method = "GET";
      req.key = key;
      req.headers["range"] =
          "bytes=" + std::to_string(begin) + "-" + std::to_string(begin + want - 1);
      if (!etag.empty()) req.headers["if-match"] = etag;
      // Each attempt starts at the range's first byte; bytes a failed
      // attempt already put in place (and perhaps hashed) are skipped, not
      // rewritten (If-Match: they are the same object's).
      req.download = [&, i, begin, want]() -> S3Request::Sink {
        return [&, i, begin, want, pos = uint64_t{0},
                told = uint64_t{0}](std::string_view data) mutable -> Status {
          if (pos + data.size() > want) {
            return DataLossError(where + ": more than the " + std::to_string(want) +
                                 " bytes asked for at offset " + std::to_string(begin));
          }
          uint64_t have;
          {
            std::lock_guard<std::mutex> lock(mu);
            have = in_place[i];
          }
          if (pos + data.size() > have) {
            const uint64_t skip = have > pos ? have - pos : 0;
            RETURN_IF_ERROR(PwriteAll(fd.get(), data.data() + skip, data.size() - skip,
                                      begin + pos + skip, tmp));
          }
          pos += data.size();
          if (pos > have && (pos - told >= kNotifyEvery || pos == want)) {
            told = pos;
            std::lock_guard<std::mutex> lock(mu);
            in_place[i] = std::max(in_place[i], pos);
            cv.notify_all();
          }
          return OkStatus();
        };
      };
      StatusOr<S3Response> r = client_->Do(req);
      Status st;
      if (!r.ok()) {
        st = r.status();
        if (st.code() == StatusCode::kAborted) {
          st = AbortedError("blob " + std::string(digest) +
                            " was replaced while being read: " + std::string(st.message()));
        } else if (st.code() == StatusCode::kOutOfRange) {
          st = DataLossError(where + " shrank while being read");
        }
      } else {
        std::lock_guard<std::mutex> lock(mu);
        if (in_place[i] != want) {
          st = DataLossError(where + ": got " + std::to_string(in_place[i]) +
                             " bytes for a range of " + std::to_string(want));
        }
      }
      if (!st.ok()) {
        std::lock_guard<std::mutex> lock(mu);
        if (failed.ok()) failed = st;
        cv.notify_all();
        return;
      }
    }
  };
  std::vector<std::thread> workers;
  for (size_t w = 0; w < workers_n; ++w) workers.emplace_back(work);
  // Hash in order on this thread, from the file's pages as they land.
  Sha256 hash;
  for (size_t i = 0; i < ranges; ++i) {
    const uint64_t begin = static_cast<uint64_t>(i) * range;
    const uint64_t want = std::min(range, size - begin);
    uint64_t hashed = 0;
    while (hashed < want) {
      uint64_t upto;
      {
        std::unique_lock<std::mutex> lock(mu);
        cv.wait(lock, [&] { return !failed.ok() || in_place[i] > hashed; });
        if (!failed.ok()) break;
        upto = in_place[i];
      }
      hash.Update(map.data() + begin + hashed, upto - hashed);
      hashed = upto;
    }
    if (hashed < want) break;  // failed
    // Start the range's writeback now (here, off the fetching threads: it
    // can block on a busy disk), so the final fsync has little left to do.
    (void)::sync_file_range(fd.get(), static_cast<off_t>(begin), static_cast<off_t>(want),
                            SYNC_FILE_RANGE_WRITE);
  }
  for (std::thread& t : workers) t.join();
  if (!failed.ok()) return fail(failed);
  const std::string actual = hash.FinishDigest();
  if (actual != digest) {
    return fail(DataLossError(where + " is corrupt: its " + std::to_string(size) +
                              " bytes hash to " + actual));
  }
  if (::fsync(fd.get()) != 0) return fail(ErrnoStatus(errno, "fsync", tmp));
  if (Status s = fd.Close(tmp); !s.ok()) return fail(s);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    return fail(ErrnoStatus(errno, "rename to", path));
  }
  return FsyncDir(dir);
}

}  // namespace tandem::store
