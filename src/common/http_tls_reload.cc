#include "common/http_tls_reload.h"

#include "common/log.h"

namespace tandem::http::detail {
namespace {

int64_t Nanos(const timespec& t) { return int64_t{t.tv_sec} * 1'000'000'000 + t.tv_nsec; }

}  // namespace

ServerTls::Stamp ServerTls::StampOf(const TlsFiles& files) {
  auto one = [](const std::string& path) {
    FileStamp f;
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0) {
      f = {st.st_dev, st.st_ino, st.st_size, Nanos(st.st_mtim), Nanos(st.st_ctim)};
    }
    return f;
  };
  return {one(files.cert_file), one(files.key_file)};
}

StatusOr<std::unique_ptr<ServerTls>> ServerTls::Load(const TlsFiles& files) {
  // Stamped before reading: a change made while loading is seen next time.
  const Stamp stamp = StampOf(files);
  ASSIGN_OR_RETURN(auto ctx, MakeServerTlsContext(files));
  return std::unique_ptr<ServerTls>(new ServerTls(files, std::move(ctx), stamp));
}

std::shared_ptr<ssl::context> ServerTls::ForNewConnection() {
  const Stamp stamp = StampOf(files_);
  absl::MutexLock lock(&mu_);
  if (!(stamp == tried_)) ReloadLocked(stamp).IgnoreError();  // logged
  return ctx_;
}

Status ServerTls::Reload() {
  const Stamp stamp = StampOf(files_);
  absl::MutexLock lock(&mu_);
  return ReloadLocked(stamp);
}

int ServerTls::reloads() const {
  absl::MutexLock lock(&mu_);
  return reloads_;
}

Status ServerTls::ReloadLocked(const Stamp& stamp) {
  tried_ = stamp;
  auto ctx = MakeServerTlsContext(files_);
  if (!ctx.ok()) {
    LogError("tls: new certificate not loaded; still serving the previous one",
             {{"cert_file", files_.cert_file},
              {"key_file", files_.key_file},
              {"error", std::string(ctx.status().message())}});
    return ctx.status();
  }
  ctx_ = std::move(*ctx);
  ++reloads_;
  LogInfo("tls: certificate reloaded",
          {{"cert_file", files_.cert_file}, {"key_file", files_.key_file}});
  return OkStatus();
}

}  // namespace tandem::http::detail
