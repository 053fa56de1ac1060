// /api/v1/artifacts (named objects) and /api/v1/blobs (content-addressed).
// Upload bodies are streamed to a spool file as they arrive, hashed on the
// way (upload_spool.h), and the store adopts the file with that digest: a
// multi-GiB upload never sits in the control plane's memory.
#include <memory>

#include "api/api_routes.h"
#include "api/control_plane.h"
#include "api/owners.h"
#include "api/rest.h"
#include "api/upload_spool.h"

namespace tandem::api {
namespace {

Json ObjectJson(const store::ObjectInfo& o) {
  return {
      {"key", o.key}, {"digest", o.digest}, {"size", o.size}, {"created_micros", o.created_micros}};
}

// Streams a verified blob. The whole blob is verified before the first byte
// is sent, so a corrupted blob is answered with 500 DATA_LOSS instead of
// corrupt bytes; the streaming reader verifies again as it reads.
void ServeBlob(store::ObjectStore* st, const std::string& digest, http::Response& res) {
  Status verified = st->VerifyBlob(digest);
  if (!verified.ok()) return WriteError(res, verified);
  auto reader = st->OpenBlob(digest);
  if (!reader.ok()) return WriteError(res, reader.status());
  res.status = 200;
  res.headers["content-type"] = "application/octet-stream";
  res.headers["x-tandem-digest"] = digest;
  res.headers["x-tandem-size"] = std::to_string((*reader)->size());
  std::shared_ptr<store::BlobReader> r(std::move(*reader));
  res.stream = [r](std::string& chunk, const http::StreamContext&) {
    chunk.resize(1 << 20);
    auto n = r->Read(chunk.data(), chunk.size());
    if (!n.ok() || *n == 0) {
      chunk.clear();
      return false;  // DataLoss mid-stream aborts the response
    }
    chunk.resize(*n);
    return true;
  };
}

// The request's body as a blob: the spool file adopted with the digest
// computed as it arrived, or (an empty body has no spool) the body in memory.
StatusOr<store::BlobInfo> StoreBody(store::ObjectStore* st, http::Request& req) {
  UploadSpool* spool = UploadSpool::Of(req);
  if (spool == nullptr) return st->PutBlobFromString(req.body);
  // The sink refused a piece (disk full...): that, not a partial blob.
  RETURN_IF_ERROR(spool->status());
  return st->AdoptHashedBlobFile(spool->path(), spool->TakeBlobInfo());
}

}  // namespace

void RegisterArtifactRoutes(ApiRoutes& routes, const Services& s, int64_t max_upload,
                            const std::string& spool_dir) {
  store::ObjectStore* st = s.store;
  http::RouteOptions upload;
  upload.max_body_bytes = max_upload;
  upload.body_sink = SpoolBodiesIn(spool_dir);

  routes.Route("GET", "/api/v1/artifacts", Access::Team(Role::kViewer, ArtifactOwner(s, true)),
               [st](http::Request& req, http::Response& res) {
                 auto page = ReadPageParams(req);
                 if (!page.ok()) return WriteError(res, page.status());
                 auto list = st->List(req.Query("prefix"), page->page_token, page->max_results);
                 if (!list.ok()) return WriteError(res, list.status());
                 Json items = Json::array();
                 for (const auto& o : list->objects) items.push_back(ObjectJson(o));
                 Json out = {{"artifacts", items}};
                 if (!list->next_page_token.empty()) out["next_page_token"] = list->next_page_token;
                 WriteJson(res, out);
               });

  routes.Route(
      "PUT", "/api/v1/artifacts/{key...}", Access::Team(Role::kMember, ArtifactOwner(s, false)),
      [st](http::Request& req, http::Response& res) {
        const std::string& key = req.path_params["key"];
        // A bad key stores nothing.
        if (Status valid = store::ValidateKey(key); !valid.ok()) return WriteError(res, valid);
        auto blob = StoreBody(st, req);
        if (!blob.ok()) return WriteError(res, blob.status());
        auto info = st->Link(key, blob->digest);
        if (!info.ok()) return WriteError(res, info.status());
        WriteJson(res, ObjectJson(*info), 201);
      },
      upload);

  routes.Route("GET", "/api/v1/artifacts/{key...}",
               Access::Team(Role::kViewer, ArtifactOwner(s, false)),
               [st](http::Request& req, http::Response& res) {
                 auto info = st->Stat(req.path_params["key"]);
                 if (!info.ok()) return WriteError(res, info.status());
                 if (req.Query("metadata") == "true") return WriteJson(res, ObjectJson(*info));
                 ServeBlob(st, info->digest, res);
               });

  routes.Route("DELETE", "/api/v1/artifacts/{key...}",
               Access::Team(Role::kMember, ArtifactOwner(s, false)),
               [st](http::Request& req, http::Response& res) {
                 Status s = st->Delete(req.path_params["key"]);
                 if (!s.ok()) return WriteError(res, s);
                 WriteJson(res, {{"deleted", req.path_params["key"]}});
               });

  routes.Route(
      "POST", "/api/v1/blobs", Access::Team(Role::kMember, AnyTeam()),
      [st](http::Request& req, http::Response& res) {
        auto info = StoreBody(st, req);
        if (!info.ok()) return WriteError(res, info.status());
        WriteJson(res, {{"digest", info->digest}, {"size", info->size}}, 201);
      },
      upload);

  routes.Route("GET", "/api/v1/blobs/{digest}", Access::Authenticated(),
               [st](http::Request& req, http::Response& res) {
                 Status valid = store::ValidateDigest(req.path_params["digest"]);
                 if (!valid.ok()) return WriteError(res, valid);
                 ServeBlob(st, req.path_params["digest"], res);
               });
}

}  // namespace tandem::api
