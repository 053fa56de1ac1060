// S3Store::GetBlobToFile: ranged GETs by `concurrency` workers, each written
// in place (pwrite into the temp file, writeback started at once) while the
// calling thread hashes the ranges in order; the digest is checked before
// the file is fsync'ed and renamed into place.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "glue/store/fs_util.h"
#include "glue/store/s3_store.h"
#include "glue/store/sha256.h"

namespace tandem::store {
namespace {

constexpr uint64_t kRange = 8ULL << 20;

Status PwriteAll(int fd, const std::string& data, uint64_t offset, const std::string& path) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t w = ::pwrite(fd, data.data() + done, data.size() - done,
                         static_cast<off_t>(offset + done));
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) return ErrnoStatus(errno, "write", path);
    done += static_cast<size_t>(w);
  }
  return OkStatus();
}

}  // namespace

Status S3Store::GetBlobToFile(std::string_view digest, const std::string& path) {
  RETURN_IF_ERROR(ValidateDigest(digest));
  const std::string key = BlobKey(digest);
  const std::string where = "blob " + std::string(digest) + " at s3://" +
                            client_->config().bucket + "/" + key;
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
  UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
  if (!fd.valid()) return ErrnoStatus(errno, "create", tmp);
  auto fail = [&](Status s) {
    fd.reset();
    ::unlink(tmp.c_str());
    return s;
  };
  if (size > 0 && ::posix_fallocate(fd.get(), 0, static_cast<off_t>(size)) != 0 &&
      ::ftruncate(fd.get(), static_cast<off_t>(size)) != 0) {
    return fail(ErrnoStatus(errno, "allocate", tmp));
  }

  const size_t ranges = static_cast<size_t>((size + kRange - 1) / kRange);
  const size_t workers_n =
      std::min(ranges, static_cast<size_t>(std::max(1, client_->config().concurrency)));
  // Workers stay at most `window` ranges ahead of the hasher (memory:
  // window x 8 MiB).
  const size_t window = 2 * std::max<size_t>(1, workers_n);
  std::mutex mu;
  std::condition_variable cv;
  std::map<size_t, std::string> ready;  // fetched, written, not yet hashed
  size_t next = 0, hashed = 0;
  Status failed;
  auto work = [&] {
    for (;;) {
      size_t i;
      {
        std::unique_lock<std::mutex> lock(mu);
        cv.wait(lock, [&] { return !failed.ok() || next >= ranges || next < hashed + window; });
        if (!failed.ok() || next >= ranges) return;
        i = next++;
      }
      const uint64_t begin = static_cast<uint64_t>(i) * kRange;
      const uint64_t want = std::min(kRange, size - begin);
      S3Request req;
      req.method = "GET";
      req.key = key;
      req.headers["range"] =
          "bytes=" + std::to_string(begin) + "-" + std::to_string(begin + want - 1);
      if (!etag.empty()) req.headers["if-match"] = etag;
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
      } else if (r->body.size() != want) {
        st = DataLossError(where + ": got " + std::to_string(r->body.size()) +
                           " bytes for a range of " + std::to_string(want));
      } else {
        st = PwriteAll(fd.get(), r->body, begin, tmp);
        // Start the writeback now, so the final fsync has little left to do.
        if (st.ok()) {
          (void)::sync_file_range(fd.get(), static_cast<off_t>(begin), static_cast<off_t>(want),
                                  SYNC_FILE_RANGE_WRITE);
        }
      }
      std::lock_guard<std::mutex> lock(mu);
      if (!st.ok()) {
        if (failed.ok()) failed = st;
      } else {
        ready.emplace(i, std::move(r->body));
      }
      cv.notify_all();
    }
  };
  std::vector<std::thread> workers;
  for (size_t w = 0; w < workers_n; ++w) workers.emplace_back(work);
  // Hash in order on this thread, overlapped with the fetches.
  Sha256 hash;
  for (size_t i = 0; i < ranges; ++i) {
    std::string data;
    {
      std::unique_lock<std::mutex> lock(mu);
      cv.wait(lock, [&] { return !failed.ok() || ready.count(i) > 0; });
      if (!failed.ok()) break;
      data = std::move(ready[i]);
      ready.erase(i);
    }
    hash.Update(data);
    std::lock_guard<std::mutex> lock(mu);
    hashed = i + 1;
    cv.notify_all();
  }
  {
    std::lock_guard<std::mutex> lock(mu);
    if (failed.ok() && hashed < ranges) failed = InternalError("download stopped early");
    cv.notify_all();
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
