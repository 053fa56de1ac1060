// Internals of http::Server (http_session.h only): the server's TLS context,
// reloaded without a restart when its certificate or key file changes (or on
// Reload()). Each new connection first looks at
// both files (stat: device, inode, size, mtime, ctime; a Kubernetes Secret
// volume's symlink swap changes the inode); if either changed since the last
// attempt, the context is rebuilt from them. A connection keeps the context
// it started with (shared), so connections already open are not disturbed;
// new ones get the new certificate. A bad new certificate or key (unreadable,
// not PEM, the key not matching the certificate, a half-written pair) keeps
// the old context and logs why; the next change is tried again.
//
// Thread-safety: thread-safe.
#pragma once

#include <sys/stat.h>

#include <memory>

#include "absl/synchronization/mutex.h"
#include "common/http_stream.h"

namespace tandem::http::detail {

class ServerTls {
 public:
  // The context of `files` (MakeServerTlsContext's errors).
  static StatusOr<std::unique_ptr<ServerTls>> Load(const TlsFiles& files);

  // The context for a new connection, after reloading it if a file changed.
  std::shared_ptr<ssl::context> ForNewConnection() ABSL_LOCKS_EXCLUDED(mu_);

  // Rebuilds the context from the files now. On an error (returned and
  // logged) the current context stays in use.
  Status Reload() ABSL_LOCKS_EXCLUDED(mu_);

  // How many times the context was replaced since Load.
  int reloads() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct FileStamp {
    dev_t dev = 0;
    ino_t ino = 0;
    off_t size = -1;
    int64_t mtime_ns = 0;
    int64_t ctime_ns = 0;
    bool operator==(const FileStamp&) const = default;
  };
  struct Stamp {
    FileStamp cert, key;
    bool operator==(const Stamp&) const = default;
  };
  static Stamp StampOf(const TlsFiles& files);

  ServerTls(TlsFiles files, std::unique_ptr<ssl::context> ctx, Stamp stamp)
      : files_(std::move(files)), ctx_(std::move(ctx)), tried_(stamp) {}
  Status ReloadLocked(const Stamp& stamp) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const TlsFiles files_;
  mutable absl::Mutex mu_;
  std::shared_ptr<ssl::context> ctx_ ABSL_GUARDED_BY(mu_);
  Stamp tried_ ABSL_GUARDED_BY(mu_);  // the files as of the last load attempt
  int reloads_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace tandem::http::detail
