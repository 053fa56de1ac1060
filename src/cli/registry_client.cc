#include "cli/registry_client.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <vector>

#include "common/json.h"
#include "glue/store/sha256.h"

namespace tandem::cli {
namespace {

constexpr size_t kChunkBytes = 4 << 20;
constexpr const char* kAccept =
    "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, "
    "application/vnd.docker.distribution.manifest.v2+json, "
    "application/vnd.docker.distribution.manifest.list.v2+json";

}  // namespace

RegistryClient::RegistryClient(std::string server_url, std::string token, std::string ca_file)
    : server_(std::move(server_url)), token_(std::move(token)), ca_file_(std::move(ca_file)) {
  server_ = server_.substr(0, server_.find(','));  // several control planes: the first
  while (!server_.empty() && server_.back() == '/') server_.pop_back();
}

StatusOr<http::ClientResponse> RegistryClient::Send(http::ClientRequest req) {
  if (!token_.empty()) req.headers["Authorization"] = "Bearer " + token_;
  if (req.url.starts_with("/")) req.url = server_ + req.url;
  if (req.ca_file.empty()) req.ca_file = ca_file_;
  if (req.timeout_ms == 30'000) req.timeout_ms = 600'000;
  return client_.Do(req);
}

Status RegistryClient::ErrorOf(const http::ClientResponse& res, const std::string& what) const {
  std::string message = "HTTP " + std::to_string(res.status);
  auto j = ParseJson(res.body);
  if (j.ok() && j->is_object() && j->contains("errors") && (*j)["errors"].is_array() &&
      !(*j)["errors"].empty()) {
    const Json& e = (*j)["errors"][0];
    message = e.value("code", "") + ": " + e.value("message", "");
  }
  const std::string text = what + ": " + message;
  switch (res.status) {
    case 400:
      return InvalidArgumentError(text);
    case 401:
      return UnauthenticatedError(text);
    case 403:
      return PermissionDeniedError(text);
    case 404:
      return NotFoundError(text);
    default:
      return InternalError(text);
  }
}

StatusOr<bool> RegistryClient::HasBlob(const std::string& repo, const std::string& digest) {
  http::ClientRequest req;
  req.method = "HEAD";
  req.url = "/v2/" + repo + "/blobs/" + digest;
  ASSIGN_OR_RETURN(auto res, Send(req));
  if (res.status == 200) return true;
  if (res.status == 404) return false;
  return ErrorOf(res, "checking blob " + digest + " in " + repo);
}

Status RegistryClient::PushBlob(const std::string& repo, const std::string& digest,
                                const std::string& path) {
  ASSIGN_OR_RETURN(bool present, HasBlob(repo, digest));
  if (present) return OkStatus();
  const std::string what = "uploading blob " + digest + " to " + repo;
  http::ClientRequest start;
  start.method = "POST";
  start.url = "/v2/" + repo + "/blobs/uploads/";
  ASSIGN_OR_RETURN(auto started, Send(start));
  if (started.status != 202) return ErrorOf(started, what);
  std::string location = started.headers["location"];
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFoundError("cannot read '" + path + "'");
  std::string chunk(kChunkBytes, '\0');
  uint64_t offset = 0;
  while (in) {
    in.read(chunk.data(), static_cast<std::streamsize>(chunk.size()));
    size_t n = static_cast<size_t>(in.gcount());
    if (n == 0) break;
    http::ClientRequest patch;
    patch.method = "PATCH";
    patch.url = location;
    patch.body.assign(chunk.data(), n);
    patch.headers["Content-Type"] = "application/octet-stream";
    patch.headers["Content-Range"] = std::to_string(offset) + "-" + std::to_string(offset + n - 1);
    ASSIGN_OR_RETURN(auto patched, Send(patch));
    if (patched.status != 202) return ErrorOf(patched, what);
    if (!patched.headers["location"].empty()) location = patched.headers["location"];
    offset += n;
  }
  http::ClientRequest put;
  put.method = "PUT";
  put.url = location + (location.find('?') == std::string::npos ? "?" : "&") + "digest=" + digest;
  ASSIGN_OR_RETURN(auto done, Send(put));
  if (done.status != 201) return ErrorOf(done, what);
  return OkStatus();
}

StatusOr<std::string> RegistryClient::PushManifest(const std::string& repo,
                                                   const std::string& reference,
                                                   const std::string& media_type,
                                                   const std::string& bytes) {
  http::ClientRequest req;
  req.method = "PUT";
  req.url = "/v2/" + repo + "/manifests/" + reference;
  req.body = bytes;
  req.headers["Content-Type"] = media_type;
  ASSIGN_OR_RETURN(auto res, Send(req));
  if (res.status != 201) return ErrorOf(res, "pushing manifest " + repo + ":" + reference);
  return store::Sha256Digest(bytes);
}

StatusOr<PulledManifest> RegistryClient::GetManifest(const std::string& repo,
                                                     const std::string& reference) {
  http::ClientRequest req;
  req.url = "/v2/" + repo + "/manifests/" + reference;
  req.headers["Accept"] = kAccept;
  ASSIGN_OR_RETURN(auto res, Send(req));
  if (res.status != 200) return ErrorOf(res, "image " + repo + ":" + reference);
  PulledManifest m;
  m.bytes = std::move(res.body);
  m.media_type = res.headers["content-type"];
  m.digest = store::Sha256Digest(m.bytes);
  const std::string header = res.headers["docker-content-digest"];
  if (!header.empty() && header != m.digest) {
    return DataLossError("manifest " + repo + ":" + reference + " is " + m.digest +
                         " but the server says " + header);
  }
  if (reference.starts_with("sha256:") && reference != m.digest) {
    return DataLossError("manifest " + reference + " does not match its digest");
  }
  return m;
}

Status RegistryClient::PullBlob(const std::string& repo, const std::string& digest,
                                const std::string& path) {
  const std::string tmp = path + ".partial";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return InternalError("cannot create '" + tmp + "': " + std::strerror(errno));
  store::Sha256 hash;
  bool write_failed = false;
  http::ClientRequest req;
  req.url = "/v2/" + repo + "/blobs/" + digest;
  req.on_body = [&](std::string_view data) {
    hash.Update(data);
    if (::write(fd, data.data(), data.size()) != static_cast<ssize_t>(data.size())) {
      write_failed = true;
      return false;
    }
    return true;
  };
  auto res = Send(req);
  ::close(fd);
  Status s = OkStatus();
  if (!res.ok()) {
    s = res.status();
  } else if (res->status != 200) {
    s = ErrorOf(*res, "blob " + digest + " of " + repo);
  } else if (write_failed) {
    s = InternalError("cannot write '" + tmp + "'");
  } else if (hash.FinishDigest() != digest) {
    s = DataLossError("blob " + digest + " of " + repo + " does not match its digest");
  } else if (::rename(tmp.c_str(), path.c_str()) != 0) {
    s = InternalError("cannot rename to '" + path + "'");
  }
  if (!s.ok()) ::unlink(tmp.c_str());
  return s;
}

}  // namespace tandem::cli
