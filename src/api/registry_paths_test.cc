#include "api/registry_paths.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/json.h"
#include "glue/images/errors.h"

namespace tandem::api {
namespace {

using Kind = RegistryPath::Kind;
const std::string kDigest = "sha256:" + std::string(64, 'a');

TEST(RegistryPathsTest, Shapes) {
  struct Case {
    std::string path;
    Kind kind;
    std::string repo, reference;
  };
  for (const Case& c : std::vector<Case>{
           {"", Kind::kBase, "", ""},
           {"_catalog", Kind::kCatalog, "", ""},
           {"a/b/tags/list", Kind::kTags, "a/b", ""},
           {"a/b/c/manifests/v1", Kind::kManifest, "a/b/c", "v1"},
           {"a/manifests/" + kDigest, Kind::kManifest, "a", kDigest},
           {"a/b/blobs/" + kDigest, Kind::kBlob, "a/b", kDigest},
           {"a/b/blobs/uploads/", Kind::kUploadStart, "a/b", ""},
           {"a/b/blobs/uploads", Kind::kUploadStart, "a/b", ""},
           {"a/b/blobs/uploads/0190-x", Kind::kUpload, "a/b", "0190-x"},
           // Components named like the API's words are still names.
           {"manifests/manifests/v1", Kind::kManifest, "manifests", "v1"},
       }) {
    auto p = ParseRegistryPath(c.path);
    ASSERT_TRUE(p.ok()) << c.path << ": " << p.status();
    EXPECT_EQ(p->kind, c.kind) << c.path;
    EXPECT_EQ(p->repo, c.repo) << c.path;
    EXPECT_EQ(p->reference, c.reference) << c.path;
  }
}

TEST(RegistryPathsTest, BadPathsSayWhy) {
  struct Case {
    std::string path;
    std::string code;
  };
  for (const Case& c : std::vector<Case>{
           {"../etc/manifests/x", "NAME_INVALID"},
           {"a/../b/manifests/x", "NAME_INVALID"},
           {"A/manifests/x", "NAME_INVALID"},
           {"a/manifests/bad tag", "MANIFEST_INVALID"},
           {"a/manifests/sha256:12", "DIGEST_INVALID"},
           {"a/blobs/latest", "DIGEST_INVALID"},
           {"a/whatever", "NAME_UNKNOWN"},
           {"tags/list", "NAME_UNKNOWN"},
       }) {
    auto p = ParseRegistryPath(c.path);
    EXPECT_FALSE(p.ok()) << c.path;
    EXPECT_EQ(images::DistributionCode(p.status()), c.code) << c.path << ": " << p.status();
  }
}

TEST(RegistryPathsTest, TeamIsTheFirstComponent) {
  EXPECT_EQ(RepositoryTeam("fraud/model"), "fraud");
  EXPECT_EQ(RepositoryTeam("fraud/a/b"), "fraud");
  EXPECT_EQ(RepositoryTeam("busybox"), "default");
}

TEST(RegistryPathsTest, ErrorsHaveTheSpecShapeAndStatus) {
  struct Case {
    Status status;
    int http;
    std::string code;
  };
  for (const Case& c : std::vector<Case>{
           {images::ImageError(StatusCode::kNotFound, images::codes::kBlobUnknown, "b"), 404,
            "BLOB_UNKNOWN"},
           {images::ImageError(StatusCode::kNotFound, images::codes::kManifestBlobUnknown, "m"),
            400, "MANIFEST_BLOB_UNKNOWN"},
           {images::ImageError(StatusCode::kResourceExhausted, images::codes::kSizeInvalid, "s"),
            413, "SIZE_INVALID"},
           {images::ImageError(StatusCode::kOutOfRange, images::codes::kBlobUploadInvalid, "r"),
            416, "BLOB_UPLOAD_INVALID"},
           {UnauthenticatedError("who"), 401, "UNAUTHORIZED"},
           {PermissionDeniedError("no"), 403, "DENIED"},
           {InternalError("oops"), 500, "UNKNOWN"},
       }) {
    http::Response res;
    WriteRegistryError(res, c.status);
    EXPECT_EQ(res.status, c.http) << c.status;
    auto j = ParseJson(res.body);
    ASSERT_TRUE(j.ok());
    EXPECT_EQ((*j)["errors"][0]["code"], c.code);
    EXPECT_EQ((*j)["errors"][0]["message"], std::string(c.status.message()));
    EXPECT_EQ(res.headers["docker-distribution-api-version"], "registry/2.0");
  }
}

}  // namespace
}  // namespace tandem::api
