#include "api/blob_uploads.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "api/upload_spool.h"
#include "common/ids.h"
#include "glue/images/errors.h"
#include "glue/store/fs_util.h"
#include "glue/store/sha256.h"

namespace tandem::api {

namespace fs = std::filesystem;
namespace codes = images::codes;

struct BlobUploads::State {
  std::mutex mu;  // serializes requests on the session
  std::string id;
  std::string repo;
  std::string principal;
  std::string path;
  int fd = -1;
  int64_t size = 0;
  int64_t touched_micros = 0;
  bool gone = false;  // finished, cancelled or swept
  std::unique_ptr<store::Sha256> hash = std::make_unique<store::Sha256>();  // of the bytes so far

  ~State() {
    if (fd >= 0) ::close(fd);
    std::error_code ec;
    fs::remove(path, ec);
  }
};

namespace {

// A failed call on an upload file: a full disk is InsufficientStorage (507),
// anything else Internal.
Status Errno(std::string_view op, const std::string& path) {
  const int err = errno;
  if (err == ENOSPC || err == EDQUOT || err == EFBIG) return store::ErrnoStatus(err, op, path);
  return InternalError(std::string(op) + " " + path + ": " + std::strerror(err));
}

Status UploadUnknown(std::string_view id) {
  return images::ImageError(StatusCode::kNotFound, codes::kBlobUploadUnknown,
                            "blob upload '" + std::string(id) + "' not found");
}

// A chunk must start where the upload ends (when its Content-Range says) and
// keep the upload within the size limit.
Status CheckChunk(std::optional<int64_t> start, int64_t size, int64_t bytes, int64_t max_bytes) {
  if (start && *start != size) {
    return images::ImageError(StatusCode::kOutOfRange, codes::kBlobUploadInvalid,
                              "chunk starts at byte " + std::to_string(*start) +
                                  " but the upload has " + std::to_string(size) + " bytes");
  }
  if (size + bytes > max_bytes) {
    return images::ImageError(StatusCode::kResourceExhausted, codes::kSizeInvalid,
                              "blob upload exceeds " + std::to_string(max_bytes) + " bytes");
  }
  return OkStatus();
}

}  // namespace

BlobUploads::BlobUploads(Options options, Clock& clock)
    : options_(std::move(options)), clock_(clock) {}

BlobUploads::~BlobUploads() = default;

Status BlobUploads::Init() { return PrepareSpoolDir(options_.dir); }

size_t BlobUploads::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return sessions_.size();
}

size_t BlobUploads::Sweep() {
  int64_t cutoff = clock_.NowMicros() - options_.abandon_after_micros;
  std::vector<std::shared_ptr<State>> dropped;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto it = sessions_.begin(); it != sessions_.end();) {
      if (it->second->touched_micros < cutoff) {
        dropped.push_back(it->second);
        it = sessions_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (auto& s : dropped) {
    std::lock_guard<std::mutex> lock(s->mu);
    s->gone = true;
  }
  return dropped.size();
}

StatusOr<BlobUploads::Session> BlobUploads::Start(std::string_view repo,
                                                  std::string_view principal) {
  Sweep();
  auto state = std::make_shared<State>();
  state->id = NewUuidV7(clock_);
  state->repo = std::string(repo);
  state->principal = std::string(principal);
  state->path = options_.dir + "/" + state->id;
  state->touched_micros = clock_.NowMicros();
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (sessions_.size() >= options_.max_sessions) {
      return images::ImageError(StatusCode::kResourceExhausted, codes::kTooManyRequests,
                                "too many blob uploads in progress (" +
                                    std::to_string(options_.max_sessions) + ")");
    }
    state->fd = ::open(state->path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (state->fd < 0) return Errno("create upload file", state->path);
    sessions_.emplace(state->id, state);
  }
  return Session{state->id, state->repo, 0};
}

StatusOr<std::shared_ptr<BlobUploads::State>> BlobUploads::Find(std::string_view id,
                                                                std::string_view repo,
                                                                std::string_view principal) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = sessions_.find(id);
  if (it == sessions_.end() || it->second->repo != repo || it->second->principal != principal) {
    return UploadUnknown(id);
  }
  return it->second;
}

void BlobUploads::Remove(const std::string& id) {
  std::lock_guard<std::mutex> lock(mu_);
  sessions_.erase(id);
}

StatusOr<BlobUploads::Session> BlobUploads::Get(std::string_view id, std::string_view repo,
                                                std::string_view principal) {
  ASSIGN_OR_RETURN(std::shared_ptr<State> s, Find(id, repo, principal));
  std::lock_guard<std::mutex> lock(s->mu);
  if (s->gone) return UploadUnknown(id);
  return Session{s->id, s->repo, s->size};
}

StatusOr<BlobUploads::Session> BlobUploads::Append(std::string_view id, std::string_view repo,
                                                   std::string_view principal,
                                                   std::optional<int64_t> start,
                                                   std::string_view data) {
  ASSIGN_OR_RETURN(std::shared_ptr<State> s, Find(id, repo, principal));
  std::lock_guard<std::mutex> lock(s->mu);
  if (s->gone) return UploadUnknown(id);
  RETURN_IF_ERROR(CheckChunk(start, s->size, static_cast<int64_t>(data.size()), options_.max_bytes));
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::pwrite(s->fd, data.data() + done, data.size() - done, s->size + done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      Status err = Errno("write upload file", s->path);
      // Leave the session as it was: drop the partial write.
      if (::ftruncate(s->fd, s->size) != 0) s->gone = true;
      return err;
    }
    done += static_cast<size_t>(n);
  }
  s->hash->Update(data);
  s->size += static_cast<int64_t>(data.size());
  s->touched_micros = clock_.NowMicros();
  return Session{s->id, s->repo, s->size};
}

StatusOr<BlobUploads::Session> BlobUploads::AppendSpool(std::string_view id, std::string_view repo,
                                                        std::string_view principal,
                                                        std::optional<int64_t> start,
                                                        UploadSpool& spool) {
  ASSIGN_OR_RETURN(std::shared_ptr<State> s, Find(id, repo, principal));
  std::lock_guard<std::mutex> lock(s->mu);
  if (s->gone) return UploadUnknown(id);
  RETURN_IF_ERROR(CheckChunk(start, s->size, spool.bytes(), options_.max_bytes));
  if (spool.bytes() == 0) return Session{s->id, s->repo, s->size};
  if (s->size == 0) {
    // The first chunk: the spool's file and hash become the session's.
    if (::rename(spool.path().c_str(), s->path.c_str()) != 0) {
      return Errno("rename upload file", spool.path());
    }
    ::close(s->fd);
    s->fd = spool.fd();
    s->hash = spool.TakeHash();
    spool.Release();
  } else {
    std::string buf(1 << 20, '\0');
    int64_t copied = 0;
    while (copied < spool.bytes()) {
      ssize_t n = ::pread(spool.fd(), buf.data(), buf.size(), copied);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        s->gone = true;  // the hash has seen part of it: the session cannot go on
        return n < 0 ? Errno("read upload file", spool.path())
                     : InternalError("upload file " + spool.path() + " is short");
      }
      std::string_view piece(buf.data(), static_cast<size_t>(n));
      for (size_t done = 0; done < piece.size();) {
        ssize_t w = ::pwrite(s->fd, piece.data() + done, piece.size() - done,
                             s->size + copied + static_cast<int64_t>(done));
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) {
          s->gone = true;
          return Errno("write upload file", s->path);
        }
        done += static_cast<size_t>(w);
      }
      s->hash->Update(piece);
      copied += n;
    }
  }
  s->size += spool.bytes();
  s->touched_micros = clock_.NowMicros();
  return Session{s->id, s->repo, s->size};
}

StatusOr<store::BlobInfo> BlobUploads::Finish(std::string_view id, std::string_view repo,
                                              std::string_view principal, std::string_view digest,
                                              std::string_view data, images::ImageStore& images,
                                              UploadSpool* spool) {
  if (spool != nullptr && spool->bytes() > 0) {
    RETURN_IF_ERROR(AppendSpool(id, repo, principal, std::nullopt, *spool).status());
  } else if (!data.empty()) {
    RETURN_IF_ERROR(Append(id, repo, principal, std::nullopt, data).status());
  }
  ASSIGN_OR_RETURN(std::shared_ptr<State> s, Find(id, repo, principal));
  std::lock_guard<std::mutex> lock(s->mu);
  if (s->gone) return UploadUnknown(id);
  s->gone = true;
  Remove(s->id);
  // The digest was computed as the chunks arrived: a mismatch is refused
  // before anything reaches the store (which checks the digest again).
  const std::string actual = s->hash->FinishDigest();
  if (actual != digest) {
    return images::ImageError(StatusCode::kInvalidArgument, codes::kDigestInvalid,
                              "uploaded content has digest " + actual + ", not " +
                                  std::string(digest));
  }
  // The session's file is handed to the store with that digest (taken, not
  // copied or hashed again, when the store is local); whatever is left of it
  // goes with the session.
  if (s->fd >= 0) ::close(s->fd);
  s->fd = -1;
  return images.PutHashedBlobFile(repo, s->path,
                                  store::BlobInfo{actual, static_cast<uint64_t>(s->size)});
}

Status BlobUploads::Cancel(std::string_view id, std::string_view repo,
                           std::string_view principal) {
  ASSIGN_OR_RETURN(std::shared_ptr<State> s, Find(id, repo, principal));
  std::lock_guard<std::mutex> lock(s->mu);
  if (s->gone) return UploadUnknown(id);
  s->gone = true;
  Remove(s->id);
  return OkStatus();
}

}  // namespace tandem::api
