#include "api/upload_spool.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "common/log.h"
#include "glue/store/fs_util.h"

namespace tandem::api {

StatusOr<std::shared_ptr<UploadSpool>> UploadSpool::Create(const std::string& dir) {
  std::string path = dir + "/spool-XXXXXX";
  int fd = ::mkostemp(path.data(), O_CLOEXEC);  // 0600
  if (fd < 0) {
    return InternalError("cannot create an upload file in " + dir + ": " + std::strerror(errno));
  }
  return std::shared_ptr<UploadSpool>(new UploadSpool(std::move(path), fd));
}

UploadSpool::UploadSpool(std::string path, int fd)
    : path_(std::move(path)), fd_(fd), hash_(std::make_unique<store::Sha256>()) {}

UploadSpool::~UploadSpool() {
  if (fd_ < 0) return;
  ::close(fd_);
  ::unlink(path_.c_str());
}

void UploadSpool::Release() { fd_ = -1; }

store::BlobInfo UploadSpool::TakeBlobInfo() {
  std::unique_ptr<store::Sha256> hash = TakeHash();
  return {hash ? hash->FinishDigest() : std::string(), static_cast<uint64_t>(bytes())};
}

Status UploadSpool::DoWrite(std::string_view data) {
  if (fd_ < 0 || !hash_) return FailedPreconditionError("upload file " + path_ + " was handed on");
  Status written = store::WriteAll(fd_, data.data(), data.size(), path_);
  if (!written.ok()) {
    // The upload is over (the server reads no more of it): its partial file
    // goes now, giving its space back while the refusal is answered. A full
    // disk is InsufficientStorage (507), not an internal error.
    ::close(fd_);
    ::unlink(path_.c_str());
    fd_ = -1;
    return Annotate(written, "upload not stored");
  }
  hash_->Update(data);
  return OkStatus();
}

std::function<std::shared_ptr<http::BodySink>(const http::Request&)> SpoolBodiesIn(
    std::string dir) {
  return [dir = std::move(dir)](const http::Request&) -> std::shared_ptr<http::BodySink> {
    auto spool = UploadSpool::Create(dir);
    if (!spool.ok()) {
      LogWarn("upload streamed to memory", {{"error", std::string(spool.status().message())}});
      return nullptr;
    }
    return *std::move(spool);
  };
}

Status PrepareSpoolDir(const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (!ec) fs::permissions(dir, fs::perms::owner_all, fs::perm_options::replace, ec);
  if (ec) return InternalError("cannot create " + dir + ": " + ec.message());
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    std::error_code rm;
    fs::remove_all(entry.path(), rm);
  }
  if (ec) return InternalError("cannot list " + dir + ": " + ec.message());
  return OkStatus();
}

}  // namespace tandem::api
