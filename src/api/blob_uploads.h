// Blob upload sessions of the OCI distribution API (`POST
// /v2/<name>/blobs/uploads/`, `PATCH` chunks, `PUT ?digest=` to finish;
// registry_api.cc). Each session is a temp file under `dir`
// (<home>/uploads/images), so a session's bytes wait on disk, not in memory,
// between requests; its chunks must arrive in order (an out-of-order
// Content-Range is OutOfRange, answered 416). A session belongs to the
// repository and the principal that started it; anyone else gets
// BLOB_UPLOAD_UNKNOWN. The digest is computed as chunks arrive, so finishing
// with a digest the bytes do not have is refused before anything reaches the
// store; otherwise the file goes into the ImageStore with that digest
// (ImageStore::PutHashedBlobFile: the embedded store adopts it unread; every
// read still verifies it).
// Finishing removes the session whatever the outcome; sessions idle longer than `abandon_after_micros` are removed when new ones
// start, and Init removes what a previous process left.
//
// Limits: a session holds at most `max_bytes` (ResourceExhausted,
// SIZE_INVALID), at most `max_sessions` sessions exist at once
// (ResourceExhausted, TOOMANYREQUESTS).
//
// Thread-safety: thread-safe; requests on one session are serialized.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "common/clock.h"
#include "common/status.h"
#include "glue/images/image_store.h"

namespace tandem::api {
class UploadSpool;
}

namespace tandem::api {

class BlobUploads {
 public:
  struct Options {
    std::string dir;                 // created by Init
    int64_t max_bytes = int64_t{1} << 30;
    int64_t abandon_after_micros = 3600LL * 1'000'000;
    size_t max_sessions = 256;
  };
  struct Session {
    std::string id;
    std::string repo;
    int64_t size = 0;  // bytes received so far
  };

  BlobUploads(Options options, Clock& clock);
  ~BlobUploads();

  // Creates the directory and removes every file in it (sessions of a
  // previous process cannot be resumed).
  Status Init();

  StatusOr<Session> Start(std::string_view repo, std::string_view principal);
  // NotFound (BLOB_UPLOAD_UNKNOWN) unless `id` is a session of `repo` started
  // by `principal`.
  StatusOr<Session> Get(std::string_view id, std::string_view repo, std::string_view principal);
  // Appends `data`; `start` (from Content-Range) must equal the bytes received
  // so far (OutOfRange otherwise, nothing appended).
  StatusOr<Session> Append(std::string_view id, std::string_view repo, std::string_view principal,
                           std::optional<int64_t> start, std::string_view data);
  // The same with a body streamed to disk (upload_spool.h): the first chunk
  // of a session takes over the spool's file and hash (no copy); later ones
  // are copied from it.
  StatusOr<Session> AppendSpool(std::string_view id, std::string_view repo,
                                std::string_view principal, std::optional<int64_t> start,
                                UploadSpool& spool);
  // Appends `data` (may be empty) or `spool` (when not null), then stores the
  // whole as a blob of `repo` whose digest must be `digest`; the session is
  // removed either way.
  StatusOr<store::BlobInfo> Finish(std::string_view id, std::string_view repo,
                                   std::string_view principal, std::string_view digest,
                                   std::string_view data, images::ImageStore& images,
                                   UploadSpool* spool = nullptr);
  const std::string& dir() const { return options_.dir; }
  Status Cancel(std::string_view id, std::string_view repo, std::string_view principal);

  // Removes sessions idle longer than abandon_after_micros; returns how many.
  size_t Sweep();
  size_t size() const;

 private:
  struct State;
  StatusOr<std::shared_ptr<State>> Find(std::string_view id, std::string_view repo,
                                        std::string_view principal);
  void Remove(const std::string& id);

  Options options_;
  Clock& clock_;
  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<State>, std::less<>> sessions_;
};

}  // namespace tandem::api
