// An upload's request body streamed to disk (http_body_sink.h): a file
// (0600) in a spool directory, the bytes hashed as they arrive. Routes get
// one per request through RouteOptions::body_sink = SpoolBodiesIn(dir): the
// registry's blob uploads (PATCH/PUT/POST under /blobs/uploads/, in the
// upload sessions' directory; BlobUploads adopts the file as the session's,
// a rename for the first chunk, or appends it) and the artifact and blob
// uploads of /api/v1 (artifacts_api.cc; the object store adopts the file
// with its digest: ObjectStore::AdoptHashedBlobFile). Whatever is not adopted is removed
// with the spool: when the handler is done, or when the body fails on the
// way (413, 408, a client gone: the server drops the sink).
//
// Thread-safety: one request's (see BodySink).
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "common/http_body_sink.h"
#include "common/http_server.h"
#include "common/status.h"
#include "glue/store/object_store.h"
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
  // The digest and size of the whole body, for AdoptHashedBlobFile (TakeHash:
  // once, after the body).
  store::BlobInfo TakeBlobInfo();
  // The request's spool, if its body was streamed to one (else null: an
  // empty body, or a route without a sink).
  static UploadSpool* Of(const http::Request& req) {
    return static_cast<UploadSpool*>(req.body_sink.get());
  }
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

// A RouteOptions::body_sink spooling every body into a new file in `dir`;
// when no file can be made there, the body is read into memory and a warning
// logged.
std::function<std::shared_ptr<http::BodySink>(const http::Request&)> SpoolBodiesIn(std::string dir);

// Creates the spool directory `dir` (0700) and removes whatever is in it:
// the files of a previous process' uploads, none of which can be resumed.
Status PrepareSpoolDir(const std::string& dir);

}  // namespace tandem::api
