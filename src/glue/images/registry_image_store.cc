#include "glue/images/registry_image_store.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>

#include "common/http_client.h"
#include "common/json.h"
#include "glue/images/errors.h"
#include "glue/images/manifest.h"
#include "glue/store/sha256.h"

namespace tandem::images {
namespace {

constexpr size_t kChunkBytes = 8 << 20;
constexpr int64_t kTimeoutMs = 600'000;

std::string AcceptAll() {
  return std::string(media_types::kOciManifest) + ", " + std::string(media_types::kOciIndex) +
         ", " + std::string(media_types::kDockerManifest) + ", " +
         std::string(media_types::kDockerManifestList);
}

// The registry's error as a Status carrying its distribution code.
Status RemoteError(const http::ClientResponse& res, const std::string& what) {
  std::string code, message;
  if (auto j = ParseJson(res.body); j.ok() && j->is_object() && j->contains("errors") &&
                                    (*j)["errors"].is_array() && !(*j)["errors"].empty()) {
    const Json& e = (*j)["errors"][0];
    if (e.contains("code") && e["code"].is_string()) code = e["code"].get<std::string>();
    if (e.contains("message") && e["message"].is_string()) message = e["message"].get<std::string>();
    if (e.contains("detail") && !e["detail"].is_null()) message += " (" + e["detail"].dump() + ")";
  }
  static const std::map<std::string, StatusCode, std::less<>> kCanonical = {
      {"BLOB_UNKNOWN", StatusCode::kNotFound},         {"BLOB_UPLOAD_UNKNOWN", StatusCode::kNotFound},
      {"MANIFEST_UNKNOWN", StatusCode::kNotFound},     {"NAME_UNKNOWN", StatusCode::kNotFound},
      {"MANIFEST_BLOB_UNKNOWN", StatusCode::kNotFound}, {"DIGEST_INVALID", StatusCode::kInvalidArgument},
      {"MANIFEST_INVALID", StatusCode::kInvalidArgument}, {"NAME_INVALID", StatusCode::kInvalidArgument},
      {"SIZE_INVALID", StatusCode::kInvalidArgument},  {"UNSUPPORTED", StatusCode::kUnimplemented},
      {"UNAUTHORIZED", StatusCode::kPermissionDenied}, {"DENIED", StatusCode::kPermissionDenied},
  };
  StatusCode canonical = StatusCode::kInternal;
  if (auto it = kCanonical.find(code); it != kCanonical.end()) {
    canonical = it->second;
  } else if (res.status == 404) {
    canonical = StatusCode::kNotFound;
  } else if (res.status == 401 || res.status == 403) {
    canonical = StatusCode::kPermissionDenied;
  } else if (res.status == 429 || res.status >= 500) {
    canonical = StatusCode::kUnavailable;
  } else if (res.status >= 400) {
    canonical = StatusCode::kInvalidArgument;
  }
  std::string text = what + ": registry answered " + std::to_string(res.status);
  if (!code.empty()) text += " " + code;
  if (!message.empty()) text += ": " + message;
  return code.empty() ? Status(canonical, text) : ImageError(canonical, code, text);
}

http::ClientRequest Req(std::string method, std::string url) {
  http::ClientRequest r;
  r.method = std::move(method);
  r.url = std::move(url);
  return r;
}

StatusOr<http::ClientResponse> Send(http::ClientRequest req) {
  if (req.timeout_ms == 30'000) req.timeout_ms = kTimeoutMs;
  http::Client client;
  return client.Do(req);
}

// A verifying reader over a downloaded temp file, removed when done.
class TempFileReader final : public store::BlobReader {
 public:
  TempFileReader(std::string path, int fd, std::string digest, uint64_t size)
      : path_(std::move(path)), fd_(fd), digest_(std::move(digest)), size_(size) {}
  ~TempFileReader() override {
    ::close(fd_);
    ::unlink(path_.c_str());
  }
  StatusOr<size_t> Read(char* buf, size_t n) override {
    if (done_) return size_t{0};
    for (;;) {
      ssize_t got = ::read(fd_, buf, n);
      if (got < 0 && errno == EINTR) continue;
      if (got < 0) return InternalError("reading " + path_ + ": " + std::strerror(errno));
      if (got == 0) {
        done_ = true;
        std::string actual = hash_.FinishDigest();
        if (actual != digest_ || read_ != size_) {
          return DataLossError("blob " + digest_ + " from the registry read back as " + actual);
        }
        return size_t{0};
      }
      hash_.Update(buf, static_cast<size_t>(got));
      read_ += static_cast<uint64_t>(got);
      return static_cast<size_t>(got);
    }
  }
  const std::string& digest() const override { return digest_; }
  uint64_t size() const override { return size_; }

 private:
  std::string path_;
  int fd_;
  std::string digest_;
  uint64_t size_;
  uint64_t read_ = 0;
  bool done_ = false;
  store::Sha256 hash_;
};

std::string BlobName(std::string_view repo, std::string_view digest) {
  return "blob " + std::string(digest) + " in repository '" + std::string(repo) + "'";
}

}  // namespace

RegistryImageStore::RegistryImageStore(std::string uri, std::string base, std::string prefix,
                                       bus::EventBus* bus, Clock* clock)
    : ImageStore(bus, clock),
      uri_(std::move(uri)),
      base_(std::move(base)),
      prefix_(std::move(prefix)) {}

StatusOr<std::unique_ptr<RegistryImageStore>> RegistryImageStore::Open(std::string_view uri,
                                                                       bus::EventBus* bus,
                                                                       Clock* clock) {
  std::string_view rest = uri;
  std::string scheme;
  if (rest.starts_with("registry://")) {
    scheme = "http://";
    rest.remove_prefix(11);
  } else if (rest.starts_with("registrys://")) {
    scheme = "https://";
    rest.remove_prefix(12);
  } else {
    return InvalidArgumentError("image store URI '" + std::string(uri) +
                                "' is not registry://host:port[/prefix]");
  }
  size_t slash = rest.find('/');
  std::string host(rest.substr(0, slash));
  std::string prefix = slash == std::string_view::npos ? "" : std::string(rest.substr(slash + 1));
  while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
  if (host.empty() || host.find_first_of("?#@ ") != std::string::npos) {
    return InvalidArgumentError("image store URI '" + std::string(uri) +
                                "': expected registry://host:port[/prefix]");
  }
  if (!prefix.empty()) {
    if (Status s = ValidateRepository(prefix); !s.ok()) {
      return Annotate(s, "image store URI '" + std::string(uri) + "': prefix");
    }
  }
  return std::unique_ptr<RegistryImageStore>(
      new RegistryImageStore(std::string(uri), scheme + host, prefix, bus, clock));
}

std::string RegistryImageStore::RepoUrl(std::string_view repo) const {
  return base_ + "/v2/" + (prefix_.empty() ? "" : prefix_ + "/") + std::string(repo);
}

std::string RegistryImageStore::Absolute(const std::string& location) const {
  if (location.starts_with("http://") || location.starts_with("https://")) return location;
  return base_ + location;
}

StatusOr<store::BlobInfo> RegistryImageStore::DoPutBlob(std::string_view repo,
                                                        const store::ReadFn& reader,
                                                        std::string_view expected_digest) {
  ASSIGN_OR_RETURN(http::ClientResponse start,
                   Send(Req("POST", RepoUrl(repo) + "/blobs/uploads/")));
  if (start.status != 202) return RemoteError(start, "starting an upload to " + std::string(repo));
  std::string location = Absolute(start.headers["location"]);
  auto cancel = [&] { (void)Send(Req("DELETE", location)); };
  store::Sha256 hash;
  uint64_t size = 0;
  std::string chunk(kChunkBytes, '\0');
  for (;;) {
    size_t filled = 0;
    bool end = false;
    while (filled < chunk.size()) {
      auto n = reader(chunk.data() + filled, chunk.size() - filled);
      if (!n.ok()) {
        cancel();
        return Annotate(n.status(), "PutBlob input");
      }
      if (*n == 0) {
        end = true;
        break;
      }
      filled += *n;
    }
    if (filled > 0) {
      hash.Update(chunk.data(), filled);
      http::ClientRequest patch = Req("PATCH", location);
      patch.body.assign(chunk.data(), filled);
      patch.headers["Content-Type"] = "application/octet-stream";
      patch.headers["Content-Range"] =
          std::to_string(size) + "-" + std::to_string(size + filled - 1);
      auto res = Send(std::move(patch));
      if (!res.ok()) {
        cancel();
        return res.status();
      }
      if (res->status != 202) {
        cancel();
        return RemoteError(*res, "uploading to " + std::string(repo));
      }
      location = Absolute(res->headers["location"]);
      size += filled;
    }
    if (end) break;
  }
  std::string digest = hash.FinishDigest();
  if (!expected_digest.empty() && digest != expected_digest) {
    cancel();
    return ImageError(StatusCode::kInvalidArgument, codes::kDigestInvalid,
                      "uploaded content has digest " + digest + ", not " +
                          std::string(expected_digest));
  }
  std::string url = location + (location.find('?') == std::string::npos ? "?" : "&") +
                    "digest=" + digest;
  ASSIGN_OR_RETURN(http::ClientResponse done, Send(Req("PUT", url)));
  if (done.status != 201) return RemoteError(done, "finishing an upload to " + std::string(repo));
  return store::BlobInfo{digest, size};
}

StatusOr<store::BlobInfo> RegistryImageStore::DoStatBlob(std::string_view repo,
                                                         std::string_view digest) {
  ASSIGN_OR_RETURN(http::ClientResponse res,
                   Send(Req("HEAD", RepoUrl(repo) + "/blobs/" + std::string(digest))));
  if (res.status == 404) {
    return ImageError(StatusCode::kNotFound, codes::kBlobUnknown,
                      BlobName(repo, digest) + " not found");
  }
  if (res.status != 200) return RemoteError(res, BlobName(repo, digest));
  return store::BlobInfo{std::string(digest),
                         std::strtoull(res.headers["content-length"].c_str(), nullptr, 10)};
}

StatusOr<std::unique_ptr<store::BlobReader>> RegistryImageStore::DoOpenBlob(
    std::string_view repo, std::string_view digest) {
  ASSIGN_OR_RETURN(store::BlobInfo info, DoStatBlob(repo, digest));
  std::string path = (std::filesystem::temp_directory_path() / "tandem-blob-XXXXXX").string();
  int fd = ::mkstemp(path.data());
  if (fd < 0) return InternalError("cannot create a temp file: " + std::string(std::strerror(errno)));
  Status write_error;
  http::ClientRequest get = Req("GET", RepoUrl(repo) + "/blobs/" + std::string(digest));
  get.on_body = [fd, &write_error](std::string_view data) {
    while (!data.empty()) {
      ssize_t n = ::write(fd, data.data(), data.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        write_error = InternalError("writing a temp file: " + std::string(std::strerror(errno)));
        return false;
      }
      data.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  };
  auto res = Send(std::move(get));
  auto fail = [&](Status s) {
    ::close(fd);
    ::unlink(path.c_str());
    return s;
  };
  if (!res.ok()) return fail(res.status());
  if (!write_error.ok()) return fail(write_error);
  if (res->status != 200) return fail(RemoteError(*res, BlobName(repo, digest)));
  if (::lseek(fd, 0, SEEK_SET) != 0) return fail(InternalError("seek in a temp file"));
  return std::unique_ptr<store::BlobReader>(
      std::make_unique<TempFileReader>(path, fd, std::string(digest), info.size));
}

StatusOr<store::BlobInfo> RegistryImageStore::DoMountBlob(std::string_view from_repo,
                                                          std::string_view to_repo,
                                                          std::string_view digest) {
  ASSIGN_OR_RETURN(store::BlobInfo info, DoStatBlob(from_repo, digest));
  std::string from = prefix_.empty() ? std::string(from_repo) : prefix_ + "/" + std::string(from_repo);
  ASSIGN_OR_RETURN(http::ClientResponse res,
                   Send(Req("POST", RepoUrl(to_repo) + "/blobs/uploads/?mount=" +
                                std::string(digest) + "&from=" + from)));
  if (res.status == 201) return info;
  if (res.status == 202) {
    // The registry started an upload instead of mounting: drop it.
    (void)Send(Req("DELETE", Absolute(res.headers["location"])));
    return ImageError(StatusCode::kNotFound, codes::kBlobUnknown,
                      "the registry did not mount " + BlobName(from_repo, digest));
  }
  return RemoteError(res, "mounting " + BlobName(from_repo, digest));
}

Status RegistryImageStore::DoDeleteBlob(std::string_view repo, std::string_view digest) {
  ASSIGN_OR_RETURN(http::ClientResponse res,
                   Send(Req("DELETE", RepoUrl(repo) + "/blobs/" + std::string(digest))));
  if (res.status == 202) return OkStatus();
  if (res.status == 404) {
    return ImageError(StatusCode::kNotFound, codes::kBlobUnknown,
                      BlobName(repo, digest) + " not found");
  }
  return RemoteError(res, "deleting " + BlobName(repo, digest));
}

Status RegistryImageStore::DoPutManifest(std::string_view repo, std::string_view tag,
                                         std::string_view digest, std::string_view media_type,
                                         std::string_view bytes, bool is_index,
                                         const std::vector<std::string>& references) {
  http::ClientRequest put = Req("PUT", RepoUrl(repo) + "/manifests/" +
                                 std::string(tag.empty() ? digest : tag));
  put.body = std::string(bytes);
  put.headers["Content-Type"] = std::string(media_type);
  ASSIGN_OR_RETURN(http::ClientResponse res, Send(std::move(put)));
  if (res.status == 201) return OkStatus();
  Status err = RemoteError(res, "manifest for repository '" + std::string(repo) + "'");
  if (DistributionCode(err) == codes::kManifestBlobUnknown) {
    // Name the missing reference the way every backend does.
    for (const std::string& ref : references) {
      bool present = is_index ? GetManifest(repo, ref).ok() : DoStatBlob(repo, ref).ok();
      if (!present) {
        return ImageError(StatusCode::kNotFound, codes::kManifestBlobUnknown,
                          "manifest references " + std::string(is_index ? "manifest " : "blob ") +
                              ref + ", which is not in repository '" + std::string(repo) + "'");
      }
    }
  }
  return err;
}

StatusOr<ManifestData> RegistryImageStore::DoGetManifest(std::string_view repo,
                                                         std::string_view tag_or_digest) {
  http::ClientRequest get = Req("GET", RepoUrl(repo) + "/manifests/" + std::string(tag_or_digest));
  get.headers["Accept"] = AcceptAll();
  ASSIGN_OR_RETURN(http::ClientResponse res, Send(std::move(get)));
  if (res.status == 404) {
    auto tags = Send(Req("GET", RepoUrl(repo) + "/tags/list"));
    if (tags.ok() && tags->status == 404) {
      return ImageError(StatusCode::kNotFound, codes::kNameUnknown,
                        "repository '" + std::string(repo) + "' not found");
    }
    return ImageError(StatusCode::kNotFound, codes::kManifestUnknown,
                      (LooksLikeDigest(tag_or_digest) ? "manifest " + std::string(tag_or_digest)
                                                      : "tag '" + std::string(tag_or_digest) + "'") +
                          " not found in repository '" + std::string(repo) + "'");
  }
  if (res.status != 200) return RemoteError(res, "manifest " + std::string(tag_or_digest));
  ManifestData m;
  m.digest = store::Sha256Digest(res.body);
  m.media_type = res.headers["content-type"];
  if (!IsManifestMediaType(m.media_type)) {
    ASSIGN_OR_RETURN(m.media_type, ManifestMediaType(res.body));
  }
  m.bytes = std::move(res.body);
  return m;
}

StatusOr<std::vector<std::string>> RegistryImageStore::AllTags(std::string_view repo) {
  ASSIGN_OR_RETURN(http::ClientResponse res,
                   Send(Req("GET", RepoUrl(repo) + "/tags/list")));
  if (res.status == 404) {
    return ImageError(StatusCode::kNotFound, codes::kNameUnknown,
                      "repository '" + std::string(repo) + "' not found");
  }
  if (res.status != 200) return RemoteError(res, "tags of '" + std::string(repo) + "'");
  ASSIGN_OR_RETURN(Json j, ParseJson(res.body));
  std::vector<std::string> tags;
  if (j.is_object() && j.contains("tags") && j["tags"].is_array()) {
    for (const Json& t : j["tags"]) {
      if (t.is_string()) tags.push_back(t.get<std::string>());
    }
  }
  std::sort(tags.begin(), tags.end());
  return tags;
}

StatusOr<std::vector<std::string>> RegistryImageStore::DoDeleteManifest(std::string_view repo,
                                                                        std::string_view digest) {
  // Which tags go with it (the registry removes them; the events name them).
  std::vector<std::string> removed;
  if (auto tags = AllTags(repo); tags.ok()) {
    for (const std::string& tag : *tags) {
      http::ClientRequest head = Req("HEAD", RepoUrl(repo) + "/manifests/" + tag);
      head.headers["Accept"] = AcceptAll();
      auto res = Send(std::move(head));
      if (res.ok() && res->headers["docker-content-digest"] == digest) removed.push_back(tag);
    }
  }
  ASSIGN_OR_RETURN(http::ClientResponse res,
                   Send(Req("DELETE", RepoUrl(repo) + "/manifests/" + std::string(digest))));
  if (res.status == 202) return removed;
  if (res.status == 404) {
    return ImageError(StatusCode::kNotFound, codes::kManifestUnknown,
                      "manifest " + std::string(digest) + " not found in repository '" +
                          std::string(repo) + "'");
  }
  return RemoteError(res, "deleting manifest " + std::string(digest));
}

StatusOr<std::string> RegistryImageStore::DoDeleteTag(std::string_view repo, std::string_view tag) {
  return ImageError(StatusCode::kUnimplemented, codes::kUnsupported,
                    "deleting tag '" + std::string(tag) +
                        "' alone: the distribution registry deletes manifests by digest only "
                        "(which removes their tags)");
}

StatusOr<NamePage> RegistryImageStore::DoListRepositories(std::string_view last, size_t n) {
  std::vector<std::string> names;
  std::string url = base_ + "/v2/_catalog?n=1000";
  std::string strip = prefix_.empty() ? "" : prefix_ + "/";
  for (int pages = 0; pages < 10000 && !url.empty(); ++pages) {
    ASSIGN_OR_RETURN(http::ClientResponse res, Send(Req("GET", url)));
    if (res.status != 200) return RemoteError(res, "the registry's catalog");
    ASSIGN_OR_RETURN(Json j, ParseJson(res.body));
    if (j.is_object() && j.contains("repositories") && j["repositories"].is_array()) {
      for (const Json& r : j["repositories"]) {
        if (!r.is_string()) continue;
        std::string name = r.get<std::string>();
        if (!name.starts_with(strip)) continue;
        name = name.substr(strip.size());
        if (name > last) names.push_back(std::move(name));
      }
    }
    url.clear();
    std::string link = res.headers["link"];
    size_t lt = link.find('<'), gt = link.find('>');
    if (lt != std::string::npos && gt != std::string::npos && gt > lt) {
      url = Absolute(link.substr(lt + 1, gt - lt - 1));
    }
  }
  return PageOfNames(std::move(names), n);
}

StatusOr<NamePage> RegistryImageStore::DoListTags(std::string_view repo, std::string_view last,
                                                  size_t n) {
  ASSIGN_OR_RETURN(std::vector<std::string> tags, AllTags(repo));
  NamePage page;
  for (std::string& t : tags) {
    if (t > last) page.names.push_back(std::move(t));
  }
  page.more = page.names.size() > n;
  if (page.more) page.names.resize(n);
  return page;
}

StatusOr<ImageGcResult> RegistryImageStore::DoGarbageCollect(int64_t grace_micros) {
  return UnimplementedError(
      "garbage collection of a registry:// image store is the registry's: run `registry "
      "garbage-collect <config>` on the registry host");
}

}  // namespace tandem::images
