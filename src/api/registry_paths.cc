#include "api/registry_paths.h"

#include <map>

#include "api/access.h"
#include "common/http_status.h"
#include "common/json.h"
#include "glue/images/errors.h"
#include "glue/images/reference.h"

namespace tandem::api {
namespace {

namespace codes = images::codes;

std::vector<std::string_view> Split(std::string_view path) {
  std::vector<std::string_view> out;
  while (true) {
    size_t slash = path.find('/');
    out.push_back(path.substr(0, slash));
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
  }
  return out;
}

std::string Join(const std::vector<std::string_view>& parts, size_t n) {
  std::string out;
  for (size_t i = 0; i < n; ++i) {
    if (i) out.push_back('/');
    out += parts[i];
  }
  return out;
}

}  // namespace

std::string RepositoryTeam(std::string_view repo) {
  size_t slash = repo.find('/');
  if (slash == std::string_view::npos) return kDefaultTeam;
  return std::string(repo.substr(0, slash));
}

StatusOr<RegistryPath> ParseRegistryPath(std::string_view path) {
  RegistryPath out;
  if (path.empty()) return out;
  if (path == "_catalog") {
    out.kind = RegistryPath::Kind::kCatalog;
    return out;
  }
  std::vector<std::string_view> parts = Split(path);
  size_t n = parts.size();
  auto tail = [&](size_t back) { return parts[n - back]; };
  size_t name_parts = 0;
  if (n >= 3 && tail(2) == "tags" && tail(1) == "list") {
    out.kind = RegistryPath::Kind::kTags;
    name_parts = n - 2;
  } else if (n >= 3 && tail(2) == "blobs" && (tail(1) == "uploads")) {
    out.kind = RegistryPath::Kind::kUploadStart;
    name_parts = n - 2;
  } else if (n >= 4 && tail(3) == "blobs" && tail(2) == "uploads") {
    out.kind = tail(1).empty() ? RegistryPath::Kind::kUploadStart : RegistryPath::Kind::kUpload;
    out.reference = std::string(tail(1));
    name_parts = n - 3;
  } else if (n >= 3 && tail(2) == "manifests" && !tail(1).empty()) {
    out.kind = RegistryPath::Kind::kManifest;
    out.reference = std::string(tail(1));
    name_parts = n - 2;
  } else if (n >= 3 && tail(2) == "blobs" && !tail(1).empty()) {
    out.kind = RegistryPath::Kind::kBlob;
    out.reference = std::string(tail(1));
    name_parts = n - 2;
  } else {
    return images::ImageError(StatusCode::kNotFound, codes::kNameUnknown,
                              "no such registry path /v2/" + std::string(path));
  }
  out.repo = Join(parts, name_parts);
  RETURN_IF_ERROR(images::WithCode(images::ValidateRepository(out.repo), codes::kNameInvalid));
  if (out.kind == RegistryPath::Kind::kManifest) {
    RETURN_IF_ERROR(images::WithCode(images::ValidateTagOrDigest(out.reference),
                                     images::LooksLikeDigest(out.reference)
                                         ? codes::kDigestInvalid
                                         : codes::kManifestInvalid));
  } else if (out.kind == RegistryPath::Kind::kBlob) {
    RETURN_IF_ERROR(
        images::WithCode(images::ValidateImageDigest(out.reference), codes::kDigestInvalid));
  }
  return out;
}

StatusOr<std::vector<std::string>> RegistryTeams(const http::Request& req) {
  std::string_view path = req.path;
  if (path.starts_with("/v2/")) path.remove_prefix(4);
  ASSIGN_OR_RETURN(RegistryPath p, ParseRegistryPath(path));
  if (p.kind == RegistryPath::Kind::kBase || p.kind == RegistryPath::Kind::kCatalog) {
    return std::vector<std::string>{kAnyTeam};
  }
  return std::vector<std::string>{RepositoryTeam(p.repo)};
}

void WriteRegistryError(http::Response& res, const Status& status) {
  static const std::map<std::string, int, std::less<>> kStatus = {
      {std::string(codes::kBlobUnknown), 404},
      {std::string(codes::kBlobUploadInvalid), 400},
      {std::string(codes::kBlobUploadUnknown), 404},
      {std::string(codes::kDigestInvalid), 400},
      {std::string(codes::kManifestBlobUnknown), 400},
      {std::string(codes::kManifestInvalid), 400},
      {std::string(codes::kManifestUnknown), 404},
      {std::string(codes::kNameInvalid), 400},
      {std::string(codes::kNameUnknown), 404},
      {std::string(codes::kSizeInvalid), 400},
      {std::string(codes::kUnauthorized), 401},
      {std::string(codes::kDenied), 403},
      {std::string(codes::kUnsupported), 400},
      {std::string(codes::kTooManyRequests), 429},
  };
  std::string code = images::DistributionCode(status);
  int http = 500;
  if (code.empty()) {
    switch (status.code()) {
      case StatusCode::kUnauthenticated: code = codes::kUnauthorized; http = 401; break;
      case StatusCode::kPermissionDenied: code = codes::kDenied; http = 403; break;
      case StatusCode::kNotFound: code = codes::kNameUnknown; http = 404; break;
      case StatusCode::kInvalidArgument: code = codes::kUnsupported; http = 400; break;
      case StatusCode::kResourceExhausted: code = codes::kSizeInvalid; http = 413; break;
      case StatusCode::kUnimplemented: code = codes::kUnsupported; http = 405; break;
      case StatusCode::kUnavailable: code = "UNAVAILABLE"; http = 503; break;
      default: code = "UNKNOWN"; http = 500; break;
    }
  } else if (auto it = kStatus.find(code); it != kStatus.end()) {
    http = it->second;
  }
  // An out-of-order chunk is 416; an oversized body 413.
  if (status.code() == StatusCode::kOutOfRange) http = 416;
  if (status.code() == StatusCode::kResourceExhausted && code == codes::kSizeInvalid) http = 413;
  // Out of disk: the upload cannot proceed, and the client should not shrink it.
  if (IsInsufficientStorage(status)) {
    code = codes::kBlobUploadInvalid;
    http = 507;
  }
  Json body = {{"errors", Json::array({Json{{"code", code},
                                            {"message", std::string(status.message())},
                                            {"detail", Json::object()}}})}};
  res.Json(http, body.dump(-1, ' ', false, Json::error_handler_t::replace));
  res.headers["docker-distribution-api-version"] = "registry/2.0";
}

}  // namespace tandem::api
