#include "api/upload_spool.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

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

Status UploadSpool::DoWrite(std::string_view data) {
  if (fd_ < 0 || !hash_) return FailedPreconditionError("upload file " + path_ + " was handed on");
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd_, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return InternalError("write upload file " + path_ + ": " + std::strerror(errno));
    done += static_cast<size_t>(n);
  }
  hash_->Update(data);
  return OkStatus();
}

}  // namespace tandem::api
