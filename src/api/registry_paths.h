// The paths and errors of the OCI distribution API at /v2/ (registry_api.cc):
// what a path under /v2/ names, which team owns the repository it touches,
// and the spec's error JSON with its HTTP status.
//
// Repository names contain '/', so one route per method (`/v2/{path...}`)
// takes every path and ParseRegistryPath splits it from the end, as CNCF
// distribution does: `<name>/manifests/<reference>`, `<name>/blobs/<digest>`,
// `<name>/blobs/uploads/[<id>]`, `<name>/tags/list`, `_catalog`.
//
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <vector>

#include "common/http_server.h"
#include "common/status.h"

namespace tandem::api {

struct RegistryPath {
  enum class Kind { kBase, kCatalog, kTags, kManifest, kBlob, kUploadStart, kUpload };
  Kind kind = Kind::kBase;
  std::string repo;       // all but kBase, kCatalog
  std::string reference;  // kManifest: tag or digest; kBlob: digest; kUpload: session id
};

// `path` is what follows "/v2/". Unknown shapes -> NotFound (NAME_UNKNOWN
// naming the path); a repository name, tag or digest off the grammar ->
// InvalidArgument (NAME_INVALID, MANIFEST_INVALID or DIGEST_INVALID).
StatusOr<RegistryPath> ParseRegistryPath(std::string_view path);

// The team owning a repository: its first path component (`fraud/model` ->
// `fraud`); a one-component name (`busybox`) belongs to the team `default`.
std::string RepositoryTeam(std::string_view repo);

// The teams a /v2/ request needs a role in (Access::Team): the repository's
// team; kAnyTeam for the catalog (filtered per team by the handler).
StatusOr<std::vector<std::string>> RegistryTeams(const http::Request& req);

// The spec's error body {"errors":[{"code","message","detail"}]} with the
// HTTP status for the distribution code on `status` (images/errors.h), or
// one derived from its canonical code.
void WriteRegistryError(http::Response& res, const Status& status);

}  // namespace tandem::api
