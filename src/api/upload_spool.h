// A /v2 blob upload's request body streamed to disk (http_body_sink.h): the
// registry routes' RouteOptions::body_sink makes one per PATCH/PUT/POST under
// /blobs/uploads/, a file (0600) in the upload sessions' directory, and the
// bytes are hashed as they arrive. BlobUploads then adopts the file as the
// session's (the first chunk: a rename, no copy) or appends it; whatever is
// not adopted is removed with the spool.
//
// Thread-safety: one request's (see BodySink).
#pragma once

#include <memory>
#include <string>

#include "common/http_body_sink.h"
#include "common/status.h"
#include "glue/store/sha256.h"

namespace tandem::api {

class UploadSpool final : public http::BodySink {
 public:
  // A new file in `dir` (which must exist); Internal naming it otherwise.
  static StatusOr<std::shared_ptr<UploadSpool>> Create(const std::string& dir);
  ~UploadSpool() override;

  const std::string& path() const { return path_; }
  int fd() const { return fd_; }
  // The sha256 of the bytes written so far; the spool's hasher is then gone
  // (TakeHash once, after the body).
  std::unique_ptr<store::Sha256> TakeHash() { return std::move(hash_); }
  // The file now belongs to the caller (renamed or to be closed by it): the
  // spool neither closes nor removes it.
  void Release();

 protected:
  Status DoWrite(std::string_view data) override;

 private:
  UploadSpool(std::string path, int fd);
  std::string path_;
  int fd_ = -1;
  std::unique_ptr<store::Sha256> hash_;
};

}  // namespace tandem::api
