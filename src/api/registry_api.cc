// The OCI distribution API at /v2/ (pull, push, tags, catalog, delete) over
// the ImageStore, so standard clients (skopeo, podman, docker, crane) push to
// and pull from tandem unchanged. Paths and errors: registry_paths.h; upload
// sessions: blob_uploads.h; auth: HTTP Basic with a tandem token as the
// password, or Bearer (docs/images.md, docs/security.md).
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <memory>

#include "api/api_routes.h"
#include "api/blob_uploads.h"
#include "api/control_plane.h"
#include "api/registry_paths.h"
#include "api/rest.h"
#include "api/upload_spool.h"
#include "common/http_body_sink.h"
#include "glue/images/errors.h"
#include "glue/images/manifest.h"

namespace tandem::api {
namespace {

namespace codes = images::codes;
using Kind = RegistryPath::Kind;

// Blobs up to this size are read (and verified) whole before the first byte
// is sent; larger ones stream through the verifying reader, and a digest
// mismatch ends the stream short (the client's own digest check fails).
constexpr uint64_t kWholeBlobBytes = 32 << 20;

struct Ctx {
  images::ImageStore* images;
  auth::IdentityStore* identity;
  BlobUploads* uploads;
};

void ApiVersion(http::Response& res) {
  res.headers["docker-distribution-api-version"] = "registry/2.0";
}

void Empty(http::Response& res, int status) {
  res.status = status;
  res.body.clear();
  res.headers["content-length"] = "0";
  ApiVersion(res);
}

std::string Principal(const http::Request& req) { return req.Header(kPrincipalHeader); }

std::string UploadLocation(const std::string& repo, const std::string& id) {
  return "/v2/" + repo + "/blobs/uploads/" + id;
}

void UploadAccepted(http::Response& res, const BlobUploads::Session& s, int status) {
  Empty(res, status);
  res.headers["location"] = UploadLocation(s.repo, s.id);
  res.headers["docker-upload-uuid"] = s.id;
  res.headers["range"] = "0-" + std::to_string(s.size > 0 ? s.size - 1 : 0);
}

void BlobCreated(http::Response& res, const std::string& repo, const std::string& digest) {
  Empty(res, 201);
  res.headers["location"] = "/v2/" + repo + "/blobs/" + digest;
  res.headers["docker-content-digest"] = digest;
}

// `n` and `last` of a paginated list; `n` beyond the store's page is capped.
StatusOr<std::pair<size_t, std::string>> PageOf(const http::Request& req) {
  size_t n = 0;
  std::string ns = req.Query("n");
  if (!ns.empty()) {
    if (ns.size() > 9 || !std::all_of(ns.begin(), ns.end(), ::isdigit)) {
      return images::ImageError(StatusCode::kInvalidArgument, codes::kUnsupported,
                                "n must be a non-negative integer, got '" + ns + "'");
    }
    n = std::min<size_t>(std::stoul(ns), images::kMaxPageSize);
  }
  return std::make_pair(n, req.Query("last"));
}

void NextLink(http::Response& res, const std::string& path, size_t n, const std::string& last) {
  res.headers["link"] = "<" + path + "?n=" + std::to_string(n) + "&last=" + last +
                        ">; rel=\"next\"";
}

// Parses "start-end" (Content-Range of a PATCH; "bytes " prefix tolerated).
StatusOr<std::pair<int64_t, int64_t>> ContentRange(std::string h) {
  if (h.starts_with("bytes ")) h = h.substr(6);
  if (h.starts_with("bytes=")) h = h.substr(6);
  size_t dash = h.find('-');
  auto bad = images::ImageError(StatusCode::kOutOfRange, codes::kBlobUploadInvalid,
                                "Content-Range '" + h + "' is not <start>-<end>");
  if (dash == std::string::npos || dash == 0 || dash + 1 == h.size()) return bad;
  std::string a = h.substr(0, dash), b = h.substr(dash + 1);
  if (a.size() > 18 || b.size() > 18 || !std::all_of(a.begin(), a.end(), ::isdigit) ||
      !std::all_of(b.begin(), b.end(), ::isdigit)) {
    return bad;
  }
  return std::make_pair(std::stoll(a), std::stoll(b));
}

// Whether the client's Accept header admits `media_type` (no header: yes).
bool Accepts(const http::Request& req, std::string_view media_type) {
  std::string accept = req.Header("accept");
  if (accept.empty()) return true;
  size_t pos = 0;
  while (pos <= accept.size()) {
    size_t comma = accept.find(',', pos);
    std::string item = accept.substr(pos, comma == std::string::npos ? std::string::npos
                                                                      : comma - pos);
    if (size_t semi = item.find(';'); semi != std::string::npos) item.resize(semi);
    item.erase(0, item.find_first_not_of(' '));
    item.erase(item.find_last_not_of(' ') + 1);
    if (item == media_type || item == "*/*" || item == "application/*" ||
        item == "application/json") {
      return true;
    }
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  return false;
}

// Parses "bytes=a-b" / "bytes=a-" against a blob of `size` bytes.
StatusOr<std::pair<uint64_t, uint64_t>> ByteRange(const std::string& h, uint64_t size) {
  auto bad = images::ImageError(StatusCode::kOutOfRange, codes::kBlobUnknown,
                                "Range '" + h + "' is not satisfiable for " +
                                    std::to_string(size) + " bytes");
  if (!h.starts_with("bytes=")) return bad;
  std::string r = h.substr(6);
  size_t dash = r.find('-');
  if (dash == std::string::npos || dash == 0 || r.find(',') != std::string::npos) return bad;
  std::string a = r.substr(0, dash), b = r.substr(dash + 1);
  if (a.size() > 18 || b.size() > 18 || !std::all_of(a.begin(), a.end(), ::isdigit) ||
      !std::all_of(b.begin(), b.end(), ::isdigit)) {
    return bad;
  }
  uint64_t start = std::stoull(a);
  uint64_t end = b.empty() ? size - 1 : std::min<uint64_t>(std::stoull(b), size - 1);
  if (size == 0 || start >= size || end < start) return bad;
  return std::make_pair(start, end);
}

void GetBlob(const Ctx& c, const RegistryPath& p, http::Request& req, http::Response& res) {
  auto stat = c.images->StatBlob(p.repo, p.reference);
  if (!stat.ok()) return WriteRegistryError(res, stat.status());
  uint64_t size = stat->size;
  uint64_t start = 0, end = size == 0 ? 0 : size - 1;
  bool ranged = !req.Header("range").empty();
  if (ranged) {
    auto range = ByteRange(req.Header("range"), size);
    if (!range.ok()) {
      WriteRegistryError(res, range.status());
      res.headers["content-range"] = "bytes */" + std::to_string(size);
      return;
    }
    std::tie(start, end) = *range;
  }
  res.status = ranged ? 206 : 200;
  ApiVersion(res);
  res.headers["content-type"] = "application/octet-stream";
  res.headers["docker-content-digest"] = p.reference;
  res.headers["accept-ranges"] = "bytes";
  res.headers["etag"] = "\"" + p.reference + "\"";
  if (ranged) {
    res.headers["content-range"] =
        "bytes " + std::to_string(start) + "-" + std::to_string(end) + "/" + std::to_string(size);
  }
  uint64_t length = size == 0 ? 0 : end - start + 1;
  if (req.method == "HEAD") {
    res.headers["content-length"] = std::to_string(length);
    return;
  }
  auto reader = c.images->OpenBlob(p.repo, p.reference);
  if (!reader.ok()) return WriteRegistryError(res, reader.status());
  if (size <= kWholeBlobBytes) {
    auto all = (*reader)->ReadAll();
    if (!all.ok()) return WriteRegistryError(res, all.status());
    res.body = size == 0 ? std::string() : all->substr(start, length);
    return;
  }
  std::shared_ptr<store::BlobReader> r(std::move(*reader));
  auto skip = std::make_shared<uint64_t>(start);
  auto left = std::make_shared<uint64_t>(length);
  res.stream = [r, skip, left](std::string& chunk, const http::StreamContext&) {
    chunk.resize(1 << 20);
    while (true) {
      auto n = r->Read(chunk.data(), chunk.size());
      if (!n.ok() || *n == 0 || *left == 0) {
        chunk.clear();
        return false;  // DataLoss mid-stream ends the response short
      }
      size_t got = *n;
      size_t from = static_cast<size_t>(std::min<uint64_t>(*skip, got));
      *skip -= from;
      if (from == got) continue;
      size_t take = static_cast<size_t>(std::min<uint64_t>(got - from, *left));
      *left -= take;
      chunk = chunk.substr(from, take);
      return true;
    }
  };
}

void GetManifest(const Ctx& c, const RegistryPath& p, http::Request& req, http::Response& res) {
  auto m = c.images->GetManifest(p.repo, p.reference);
  if (!m.ok()) return WriteRegistryError(res, m.status());
  if (!Accepts(req, m->media_type)) {
    return WriteRegistryError(
        res, images::ImageError(StatusCode::kNotFound, codes::kManifestUnknown,
                                "manifest " + p.repo + ":" + p.reference + " is " +
                                    m->media_type + ", which the Accept header does not admit"));
  }
  res.status = 200;
  ApiVersion(res);
  res.headers["content-type"] = m->media_type;
  res.headers["docker-content-digest"] = m->digest;
  res.headers["etag"] = "\"" + m->digest + "\"";
  res.body = std::move(m->bytes);
}

void ListTags(const Ctx& c, const RegistryPath& p, http::Request& req, http::Response& res) {
  auto page = PageOf(req);
  if (!page.ok()) return WriteRegistryError(res, page.status());
  auto tags = c.images->ListTags(p.repo, page->second, page->first);
  if (!tags.ok()) return WriteRegistryError(res, tags.status());
  res.Json(200, Json({{"name", p.repo}, {"tags", tags->names}}).dump());
  ApiVersion(res);
  if (tags->more && !tags->names.empty()) {
    NextLink(res, "/v2/" + p.repo + "/tags/list", tags->names.size(), tags->names.back());
  }
}

void Catalog(const Ctx& c, http::Request& req, http::Response& res) {
  auto page = PageOf(req);
  if (!page.ok()) return WriteRegistryError(res, page.status());
  size_t n = page->first == 0 ? images::kDefaultPageSize : page->first;
  // Only the repositories of teams the caller may read.
  std::optional<auth::Principal> who;
  if (req.Header(kAdminHeader) != "true") {
    auto p = CallerOf(req);
    if (!p.ok()) return WriteRegistryError(res, p.status());
    who = *std::move(p);
  }
  std::vector<std::string> names;
  std::string last = page->second;
  bool more = false;
  while (names.size() <= n) {
    auto repos = c.images->ListRepositories(last, images::kMaxPageSize);
    if (!repos.ok()) return WriteRegistryError(res, repos.status());
    for (const std::string& r : repos->names) {
      if (!who || who->RoleIn(RepositoryTeam(r)) >= auth::Role::kViewer) names.push_back(r);
    }
    if (!repos->more || repos->names.empty()) break;
    last = repos->names.back();
  }
  if (names.size() > n) {
    names.resize(n);
    more = true;
  }
  res.Json(200, Json({{"repositories", names}}).dump());
  ApiVersion(res);
  if (more) NextLink(res, "/v2/_catalog", n, names.back());
}

void HandleGet(const Ctx& c, http::Request& req, http::Response& res) {
  auto p = ParseRegistryPath(req.path.substr(4));
  if (!p.ok()) return WriteRegistryError(res, p.status());
  switch (p->kind) {
    case Kind::kBase:
      res.Json(200, "{}");
      return ApiVersion(res);
    case Kind::kCatalog:
      return Catalog(c, req, res);
    case Kind::kTags:
      return ListTags(c, *p, req, res);
    case Kind::kManifest:
      return GetManifest(c, *p, req, res);
    case Kind::kBlob:
      return GetBlob(c, *p, req, res);
    case Kind::kUpload: {
      auto s = c.uploads->Get(p->reference, p->repo, Principal(req));
      if (!s.ok()) return WriteRegistryError(res, s.status());
      return UploadAccepted(res, *s, 204);
    }
    case Kind::kUploadStart:
      break;
  }
  WriteRegistryError(res, images::ImageError(StatusCode::kUnimplemented, codes::kUnsupported,
                                             "GET is not supported on " + req.path));
}

// The upload routes' bodies are streamed to disk (upload_spool.h); an empty
// body has no spool.
UploadSpool* Spool(const http::Request& req) { return UploadSpool::Of(req); }
// A body the server could not write to disk: the error instead of a result.
bool BodyFailed(const http::Request& req, http::Response& res) {
  if (!req.body_sink || req.body_sink->status().ok()) return false;
  WriteRegistryError(res, req.body_sink->status());
  return true;
}
int64_t BodySize(const http::Request& req) {
  return req.body_sink ? req.body_sink->bytes() : static_cast<int64_t>(req.body.size());
}

void HandlePost(const Ctx& c, http::Request& req, http::Response& res) {
  if (BodyFailed(req, res)) return;
  auto p = ParseRegistryPath(req.path.substr(4));
  if (!p.ok()) return WriteRegistryError(res, p.status());
  if (p->kind != Kind::kUploadStart) {
    return WriteRegistryError(res, images::ImageError(StatusCode::kUnimplemented,
                                                      codes::kUnsupported,
                                                      "POST is not supported on " + req.path));
  }
  std::string mount = req.Query("mount"), from = req.Query("from");
  if (!mount.empty() && !from.empty()) {
    // Mount only from a repository the caller may read; otherwise (or if the
    // blob is not there) fall through to a new upload session, as the spec says.
    bool readable = req.Header(kAdminHeader) == "true";
    if (!readable) {
      auto who = CallerOf(req);
      readable = who.ok() && who->RoleIn(RepositoryTeam(from)) >= auth::Role::kViewer;
    }
    if (readable) {
      auto mounted = c.images->MountBlob(from, p->repo, mount);
      if (mounted.ok()) return BlobCreated(res, p->repo, mount);
      if (mounted.status().code() != StatusCode::kNotFound) {
        return WriteRegistryError(res, mounted.status());
      }
    }
  }
  std::string digest = req.Query("digest");
  if (!digest.empty()) {
    // Monolithic upload: the body is the blob.
    size_t pos = 0;
    const std::string& body = req.body;
    const UploadSpool* spool = Spool(req);
    store::ReadFn reader = [&body, &pos, spool](char* buf, size_t n) -> StatusOr<size_t> {
      if (spool != nullptr) {
        for (;;) {
          ssize_t got = ::pread(spool->fd(), buf, n, static_cast<off_t>(pos));
          if (got < 0 && errno == EINTR) continue;
          if (got < 0) return InternalError("read upload file " + spool->path());
          pos += static_cast<size_t>(got);
          return static_cast<size_t>(got);
        }
      }
      size_t take = std::min(n, body.size() - pos);
      std::copy_n(body.data() + pos, take, buf);
      pos += take;
      return take;
    };
    auto put = c.images->PutBlob(p->repo, reader, digest);
    if (!put.ok()) return WriteRegistryError(res, put.status());
    return BlobCreated(res, p->repo, put->digest);
  }
  auto s = c.uploads->Start(p->repo, Principal(req));
  if (!s.ok()) return WriteRegistryError(res, s.status());
  if (Spool(req) != nullptr) {
    s = c.uploads->AppendSpool(s->id, p->repo, Principal(req), 0, *Spool(req));
    if (!s.ok()) return WriteRegistryError(res, s.status());
  } else if (!req.body.empty()) {
    s = c.uploads->Append(s->id, p->repo, Principal(req), 0, req.body);
    if (!s.ok()) return WriteRegistryError(res, s.status());
  }
  UploadAccepted(res, *s, 202);
}

void HandlePatch(const Ctx& c, http::Request& req, http::Response& res) {
  if (BodyFailed(req, res)) return;
  auto p = ParseRegistryPath(req.path.substr(4));
  if (!p.ok()) return WriteRegistryError(res, p.status());
  if (p->kind != Kind::kUpload) {
    return WriteRegistryError(res, images::ImageError(StatusCode::kUnimplemented,
                                                      codes::kUnsupported,
                                                      "PATCH is not supported on " + req.path));
  }
  std::optional<int64_t> start;
  if (std::string cr = req.Header("content-range"); !cr.empty()) {
    auto range = ContentRange(cr);
    if (!range.ok()) return WriteRegistryError(res, range.status());
    if (range->second - range->first + 1 != BodySize(req)) {
      return WriteRegistryError(
          res, images::ImageError(StatusCode::kOutOfRange, codes::kBlobUploadInvalid,
                                  "Content-Range " + cr + " does not match the " +
                                      std::to_string(BodySize(req)) + "-byte body"));
    }
    start = range->first;
  }
  auto s = Spool(req) != nullptr
               ? c.uploads->AppendSpool(p->reference, p->repo, Principal(req), start, *Spool(req))
               : c.uploads->Append(p->reference, p->repo, Principal(req), start, req.body);
  if (!s.ok()) {
    WriteRegistryError(res, s.status());
    if (s.status().code() == StatusCode::kOutOfRange) {
      auto cur = c.uploads->Get(p->reference, p->repo, Principal(req));
      if (cur.ok()) {
        res.headers["location"] = UploadLocation(p->repo, p->reference);
        res.headers["range"] = "0-" + std::to_string(cur->size > 0 ? cur->size - 1 : 0);
      }
    }
    return;
  }
  UploadAccepted(res, *s, 202);
}

void HandlePut(const Ctx& c, http::Request& req, http::Response& res) {
  if (BodyFailed(req, res)) return;
  auto p = ParseRegistryPath(req.path.substr(4));
  if (!p.ok()) return WriteRegistryError(res, p.status());
  if (p->kind == Kind::kManifest) {
    auto digest = c.images->PutManifest(p->repo, p->reference, req.Header("content-type"),
                                        req.body);
    if (!digest.ok()) return WriteRegistryError(res, digest.status());
    Empty(res, 201);
    res.headers["location"] = "/v2/" + p->repo + "/manifests/" + *digest;
    res.headers["docker-content-digest"] = *digest;
    return;
  }
  if (p->kind != Kind::kUpload) {
    return WriteRegistryError(res, images::ImageError(StatusCode::kUnimplemented,
                                                      codes::kUnsupported,
                                                      "PUT is not supported on " + req.path));
  }
  std::string digest = req.Query("digest");
  if (Status s = images::ValidateImageDigest(digest); !s.ok()) {
    return WriteRegistryError(res, images::WithCode(Annotate(s, "?digest="), codes::kDigestInvalid));
  }
  auto put = c.uploads->Finish(p->reference, p->repo, Principal(req), digest, req.body,
                               *c.images, Spool(req));
  if (!put.ok()) return WriteRegistryError(res, put.status());
  BlobCreated(res, p->repo, put->digest);
}

void HandleDelete(const Ctx& c, http::Request& req, http::Response& res) {
  auto p = ParseRegistryPath(req.path.substr(4));
  if (!p.ok()) return WriteRegistryError(res, p.status());
  Status s;
  switch (p->kind) {
    case Kind::kManifest:
      s = c.images->DeleteManifest(p->repo, p->reference);
      break;
    case Kind::kBlob:
      s = c.images->DeleteBlob(p->repo, p->reference);
      break;
    case Kind::kUpload:
      s = c.uploads->Cancel(p->reference, p->repo, Principal(req));
      if (s.ok()) return Empty(res, 204);
      break;
    default:
      s = images::ImageError(StatusCode::kUnimplemented, codes::kUnsupported,
                             "DELETE is not supported on " + req.path);
  }
  if (!s.ok()) return WriteRegistryError(res, s);
  Empty(res, 202);
}

}  // namespace

// Also POST /api/v1/images/gc (admins): the image store's garbage collection.
void RegisterRegistryRoutes(ApiRoutes& routes, const Services& s, BlobUploads& uploads,
                            int64_t max_upload) {
  Ctx c{s.images, s.identity, &uploads};
  RouteStyle style;
  style.basic_auth = true;
  style.challenge = "Basic realm=\"tandem\"";
  style.write_error = WriteRegistryError;
  http::RouteOptions small;  // manifests and metadata: the server's default body limit
  http::RouteOptions upload;
  upload.max_body_bytes = max_upload;
  // Blob bodies go to disk as they arrive (manifests, small, stay in memory).
  upload.body_sink = [spool = SpoolBodiesIn(uploads.dir())](const http::Request& head)
      -> std::shared_ptr<http::BodySink> {
    if (head.path.find("/blobs/uploads/") == std::string::npos) return nullptr;
    return spool(head);
  };
  auto wrap = [c](void (*fn)(const Ctx&, http::Request&, http::Response&)) {
    return [c, fn](http::Request& req, http::Response& res) { fn(c, req, res); };
  };
  images::ImageStore* images = s.images;
  routes.Route("POST", "/api/v1/images/gc", Access::Admin(),
               JsonHandler([images](http::Request& req) -> StatusOr<Json> {
                 ASSIGN_OR_RETURN(Json body, JsonBody(req));
                 ASSIGN_OR_RETURN(int64_t grace, GetIntOr(body, "grace_seconds", 3600));
                 if (grace < 0 || grace > 100LL * 365 * 86400) {
                   return InvalidArgumentError("grace_seconds must be between 0 and 100 years");
                 }
                 ASSIGN_OR_RETURN(images::ImageGcResult gc,
                                  images->GarbageCollect(grace * 1'000'000));
                 return Json{{"blob_links_removed", gc.blob_links_removed},
                             {"blobs_deleted", gc.blobs_deleted},
                             {"bytes_freed", gc.bytes_freed}};
               }));
  routes.Route("GET", "/v2/", Access::Authenticated(), wrap(HandleGet), small, style);
  routes.Route("GET", "/v2/{path...}", Access::Team(Role::kViewer, RegistryTeams),
               wrap(HandleGet), small, style);
  routes.Route("POST", "/v2/{path...}", Access::Team(Role::kMember, RegistryTeams),
               wrap(HandlePost), upload, style);
  routes.Route("PATCH", "/v2/{path...}", Access::Team(Role::kMember, RegistryTeams),
               wrap(HandlePatch), upload, style);
  routes.Route("PUT", "/v2/{path...}", Access::Team(Role::kMember, RegistryTeams),
               wrap(HandlePut), upload, style);
  routes.Route("DELETE", "/v2/{path...}", Access::Team(Role::kMember, RegistryTeams),
               wrap(HandleDelete), small, style);
}

}  // namespace tandem::api
