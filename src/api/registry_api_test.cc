// The OCI distribution API at /v2/ against a running control plane: pull,
// push (monolithic, chunked, mount), tags and catalog pagination, delete, the
// spec's errors, Basic/Bearer auth and team authorization. Standard clients
// (skopeo, podman) are tested end to end in tests/images/.
#include <gmock/gmock.h>

#include <filesystem>

#include "api/testing/running_control_plane.h"
#include "common/testing/raw_conn.h"
#include "glue/images/manifest.h"
#include "glue/images/testing/test_image.h"
#include "glue/store/sha256.h"

namespace tandem::api {
namespace {

using ::testing::HasSubstr;
using images::testing::MakeTestImage;
using images::testing::TestImage;

std::string Base64(std::string_view in) {
  static const char* kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
    for (int k = 18; k >= 0; k -= 6) out.push_back(kAlphabet[(v >> k) & 63]);
  }
  if (i + 1 == in.size()) {
    uint32_t v = uint8_t(in[i]) << 16;
    out += {kAlphabet[(v >> 18) & 63], kAlphabet[(v >> 12) & 63], '=', '='};
  } else if (i + 2 == in.size()) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8);
    out += {kAlphabet[(v >> 18) & 63], kAlphabet[(v >> 12) & 63], kAlphabet[(v >> 6) & 63], '='};
  }
  return out;
}

class RegistryApiTest : public testing::RunningControlPlaneTest {
 protected:
  http::ClientResponse Send(std::string method, const std::string& path, std::string body = "",
                            std::map<std::string, std::string> headers = {},
                            const std::string& token = "") {
    http::ClientRequest req;
    req.method = std::move(method);
    req.url = base_ + path;
    req.body = std::move(body);
    req.headers = std::move(headers);
    if (!req.headers.count("Authorization")) {
      req.headers["Authorization"] =
          "Basic " + Base64("anyone:" + (token.empty() ? token_ : token));
    }
    auto res = client_.Do(req);
    EXPECT_TRUE(res.ok()) << req.method << " " << path << ": " << res.status();
    return res.ok() ? *res : http::ClientResponse{};
  }

  static std::string ErrorCode(const http::ClientResponse& res) {
    auto j = ParseJson(res.body);
    if (!j.ok() || !j->contains("errors") || (*j)["errors"].empty()) return "(no error body)";
    return (*j)["errors"][0].value("code", "");
  }

  // Pushes blobs monolithically and the manifest under `tag`.
  void Push(const std::string& repo, const std::string& tag, const TestImage& image,
            const std::string& token = "") {
    std::vector<const images::testing::TestBlob*> blobs = {&image.config};
    for (const auto& l : image.layers) blobs.push_back(&l);
    for (const auto* b : blobs) {
      auto res = Send("POST", "/v2/" + repo + "/blobs/uploads/?digest=" + b->digest, b->bytes,
                      {{"Content-Type", "application/octet-stream"}}, token);
      ASSERT_EQ(res.status, 201) << res.body;
      EXPECT_EQ(res.headers["location"], "/v2/" + repo + "/blobs/" + b->digest);
    }
    auto res = Send("PUT", "/v2/" + repo + "/manifests/" + tag, image.manifest_bytes,
                    {{"Content-Type", image.manifest.media_type}}, token);
    ASSERT_EQ(res.status, 201) << res.body;
    EXPECT_EQ(res.headers["docker-content-digest"], image.manifest_digest);
  }

  std::string Token(const std::string& name, const std::string& team, auth::Role role) {
    auth::IdentityStore& id = *cp_->services().identity;
    EXPECT_TRUE(id.CreatePrincipal(name, "user", false).ok());
    Status created = id.CreateTeam(team);
    EXPECT_TRUE(created.ok() || created.code() == StatusCode::kAlreadyExists) << created;
    EXPECT_TRUE(id.SetMember(team, name, role).ok());
    auto t = id.CreateToken(name, "", 0);
    EXPECT_TRUE(t.ok()) << t.status();
    return t.ok() ? t->second : "";
  }
};

TEST_F(RegistryApiTest, BaseNeedsCredentialsAndAnswersTheVersion) {
  auto none = Send("GET", "/v2/", "", {{"Authorization", ""}});
  EXPECT_EQ(none.status, 401);
  EXPECT_EQ(none.headers["www-authenticate"], "Basic realm=\"tandem\"");
  EXPECT_EQ(ErrorCode(none), "UNAUTHORIZED");
  auto bad = Send("GET", "/v2/", "", {{"Authorization", "Basic " + Base64("u:tdm_nonsense")}});
  EXPECT_EQ(bad.status, 401);
  auto basic = Send("GET", "/v2/");
  EXPECT_EQ(basic.status, 200) << basic.body;
  EXPECT_EQ(basic.headers["docker-distribution-api-version"], "registry/2.0");
  auto bearer = Send("GET", "/v2/", "", {{"Authorization", "Bearer " + token_}});
  EXPECT_EQ(bearer.status, 200);
}

// An upload without (valid) credentials is refused on its head: a 401 with
// the spec's challenge before a byte of its body is sent, nothing spooled,
// the connection closed.
TEST_F(RegistryApiTest, AnUploadWithoutCredentialsIs401BeforeItsBody) {
  std::string location = Send("POST", "/v2/team/app/blobs/uploads/").headers["location"];
  ASSERT_THAT(location, HasSubstr("/v2/team/app/blobs/uploads/"));
  const std::string digest = store::Sha256Digest("never sent");
  const std::vector<std::string> auths = {
      "", "Authorization: Basic " + Base64("u:tdm_nonsense") + "\r\n"};
  const std::vector<std::string> requests = {"POST /v2/team/app/blobs/uploads/?digest=" + digest,
                                             "PATCH " + location,
                                             "PUT " + location + "?digest=" + digest};
  for (const std::string& auth : auths) {
    for (const std::string& request : requests) {
      for (const std::string framing : {"Content-Length: 50000000", "Transfer-Encoding: chunked"}) {
        tandem::testing::RawConn conn(std::stoi(base_.substr(base_.rfind(':') + 1)));
        ASSERT_TRUE(conn.connected());
        conn.Send(request + " HTTP/1.1\r\nHost: x\r\n" + auth + framing + "\r\n\r\n");
        const std::string response = conn.ReadResponse();
        EXPECT_EQ(response.rfind("HTTP/1.1 401 ", 0), 0u) << request << " " << framing << ": "
                                                          << response;
        EXPECT_THAT(response, HasSubstr("UNAUTHORIZED"));
        bool closed = false;
        conn.ReadUntilClosed(&closed);
        EXPECT_TRUE(closed) << request << " " << framing;
      }
    }
  }
  // Only the upload session's own (empty) file, nothing else spooled or stored.
  size_t files = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(home_ / "uploads/images")) {
    files += e.is_regular_file() ? 1 : 0;
  }
  EXPECT_LE(files, 1u);
  EXPECT_EQ(Send("GET", location).headers["range"], "0-0");
  EXPECT_EQ(Send("HEAD", "/v2/team/app/blobs/" + digest).status, 404);
}

TEST_F(RegistryApiTest, PushThenPullByTagAndDigest) {
  TestImage image = MakeTestImage(1, 2, 5000);
  Push("team/app", "v1", image);
  for (const std::string& ref : {std::string("v1"), image.manifest_digest}) {
    auto m = Send("GET", "/v2/team/app/manifests/" + ref, "",
                  {{"Accept", std::string(images::media_types::kOciManifest)}});
    ASSERT_EQ(m.status, 200) << m.body;
    EXPECT_EQ(m.body, image.manifest_bytes);
    EXPECT_EQ(m.headers["content-type"], images::media_types::kOciManifest);
    EXPECT_EQ(m.headers["docker-content-digest"], image.manifest_digest);
    auto head = Send("HEAD", "/v2/team/app/manifests/" + ref);
    EXPECT_EQ(head.status, 200);
    EXPECT_EQ(head.headers["content-length"], std::to_string(image.manifest_bytes.size()));
    EXPECT_EQ(head.body, "");
  }
  const auto& layer = image.layers[0];
  auto blob = Send("GET", "/v2/team/app/blobs/" + layer.digest);
  ASSERT_EQ(blob.status, 200);
  EXPECT_EQ(blob.body, layer.bytes);
  EXPECT_EQ(blob.headers["docker-content-digest"], layer.digest);
  auto head = Send("HEAD", "/v2/team/app/blobs/" + layer.digest);
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(head.headers["content-length"], "5000");
  auto range = Send("GET", "/v2/team/app/blobs/" + layer.digest, "", {{"Range", "bytes=10-19"}});
  ASSERT_EQ(range.status, 206);
  EXPECT_EQ(range.body, layer.bytes.substr(10, 10));
  EXPECT_EQ(range.headers["content-range"], "bytes 10-19/5000");
  auto beyond = Send("GET", "/v2/team/app/blobs/" + layer.digest, "", {{"Range", "bytes=9000-"}});
  EXPECT_EQ(beyond.status, 416);
  // An Accept header that admits nothing the manifest is.
  auto refused = Send("GET", "/v2/team/app/manifests/v1", "",
                      {{"Accept", std::string(images::media_types::kDockerManifest)}});
  EXPECT_EQ(refused.status, 404);
  EXPECT_EQ(ErrorCode(refused), "MANIFEST_UNKNOWN");
}

TEST_F(RegistryApiTest, ChunkedUploadInOrderOnly) {
  std::string data = "0123456789abcdefghij";
  std::string digest = store::Sha256Digest(data);
  auto start = Send("POST", "/v2/team/app/blobs/uploads/");
  ASSERT_EQ(start.status, 202) << start.body;
  std::string location = start.headers["location"];
  ASSERT_THAT(location, HasSubstr("/v2/team/app/blobs/uploads/"));
  auto p1 = Send("PATCH", location, data.substr(0, 10), {{"Content-Range", "0-9"}});
  ASSERT_EQ(p1.status, 202) << p1.body;
  EXPECT_EQ(p1.headers["range"], "0-9");
  auto out_of_order = Send("PATCH", location, data.substr(15), {{"Content-Range", "15-19"}});
  EXPECT_EQ(out_of_order.status, 416) << out_of_order.body;
  EXPECT_EQ(out_of_order.headers["range"], "0-9");
  auto status = Send("GET", location);
  EXPECT_EQ(status.status, 204);
  EXPECT_EQ(status.headers["range"], "0-9");
  auto p2 = Send("PATCH", location, data.substr(10, 5));  // no Content-Range: appended
  ASSERT_EQ(p2.status, 202) << p2.body;
  auto done = Send("PUT", location + "?digest=" + digest, data.substr(15));
  ASSERT_EQ(done.status, 201) << done.body;
  EXPECT_EQ(done.headers["docker-content-digest"], digest);
  EXPECT_EQ(Send("GET", "/v2/team/app/blobs/" + digest).body, data);
  // The session and its file are gone.
  auto after = Send("GET", location);
  EXPECT_EQ(after.status, 404);
  EXPECT_EQ(ErrorCode(after), "BLOB_UPLOAD_UNKNOWN");
  EXPECT_TRUE(std::filesystem::is_empty(home_ / "uploads/images"));
}

TEST_F(RegistryApiTest, DigestMismatchStoresNothing) {
  std::string claimed = store::Sha256Digest("promised");
  auto mono = Send("POST", "/v2/team/app/blobs/uploads/?digest=" + claimed, "delivered");
  EXPECT_EQ(mono.status, 400);
  EXPECT_EQ(ErrorCode(mono), "DIGEST_INVALID");
  auto start = Send("POST", "/v2/team/app/blobs/uploads/");
  auto put = Send("PUT", start.headers["location"] + "?digest=" + claimed, "delivered");
  EXPECT_EQ(put.status, 400);
  EXPECT_EQ(ErrorCode(put), "DIGEST_INVALID");
  EXPECT_EQ(Send("HEAD", "/v2/team/app/blobs/" + claimed).status, 404);
  EXPECT_EQ(Send("HEAD", "/v2/team/app/blobs/" + store::Sha256Digest("delivered")).status, 404);
  EXPECT_TRUE(std::filesystem::is_empty(home_ / "uploads/images"));
  auto cancelled = Send("POST", "/v2/team/app/blobs/uploads/");
  EXPECT_EQ(Send("DELETE", cancelled.headers["location"]).status, 204);
  EXPECT_TRUE(std::filesystem::is_empty(home_ / "uploads/images"));
}

TEST_F(RegistryApiTest, BadManifestsAndNamesSayWhy) {
  TestImage image = MakeTestImage(2);
  auto missing = Send("PUT", "/v2/team/app/manifests/v1", image.manifest_bytes,
                      {{"Content-Type", image.manifest.media_type}});
  EXPECT_EQ(missing.status, 400);
  EXPECT_EQ(ErrorCode(missing), "MANIFEST_BLOB_UNKNOWN");
  EXPECT_THAT(missing.body, HasSubstr(image.config.digest));
  auto invalid = Send("PUT", "/v2/team/app/manifests/v1", "{nope",
                      {{"Content-Type", std::string(images::media_types::kOciManifest)}});
  EXPECT_EQ(invalid.status, 400);
  EXPECT_EQ(ErrorCode(invalid), "MANIFEST_INVALID");
  std::string big = "{\"schemaVersion\":2,\"annotations\":{\"x\":\"" +
                    std::string(images::kMaxManifestBytes, 'x') + "\"}}";
  auto oversize = Send("PUT", "/v2/team/app/manifests/v1", big);
  EXPECT_EQ(oversize.status, 413);
  EXPECT_EQ(ErrorCode(oversize), "SIZE_INVALID");

  auto no_repo = Send("GET", "/v2/team/nothing/manifests/latest");
  EXPECT_EQ(no_repo.status, 404);
  EXPECT_EQ(ErrorCode(no_repo), "NAME_UNKNOWN");
  EXPECT_THAT(no_repo.body, HasSubstr("team/nothing"));
  Push("team/app", "v1", image);
  auto no_tag = Send("GET", "/v2/team/app/manifests/v9");
  EXPECT_EQ(no_tag.status, 404);
  EXPECT_EQ(ErrorCode(no_tag), "MANIFEST_UNKNOWN");
  EXPECT_THAT(no_tag.body, HasSubstr("v9"));
  auto no_blob = Send("GET", "/v2/team/app/blobs/" + store::Sha256Digest("none"));
  EXPECT_EQ(no_blob.status, 404);
  EXPECT_EQ(ErrorCode(no_blob), "BLOB_UNKNOWN");

  for (std::string path : {"/v2/%2e%2e/etc/manifests/latest", "/v2/team/%2e%2e/manifests/x",
                           "/v2/Team/App/manifests/x", "/v2/team/app/blobs/sha256:zz"}) {
    auto res = Send("GET", path);
    EXPECT_EQ(res.status, 400) << path << ": " << res.body;
    EXPECT_THAT(ErrorCode(res), ::testing::AnyOf("NAME_INVALID", "DIGEST_INVALID")) << path;
  }
  auto unknown = Send("GET", "/v2/team/app/whatever");
  EXPECT_EQ(unknown.status, 404);
}

TEST_F(RegistryApiTest, MountFromAnotherRepository) {
  std::string data = "base layer";
  std::string digest = store::Sha256Digest(data);
  ASSERT_EQ(Send("POST", "/v2/team/base/blobs/uploads/?digest=" + digest, data).status, 201);
  auto mounted =
      Send("POST", "/v2/team/app/blobs/uploads/?mount=" + digest + "&from=team/base");
  EXPECT_EQ(mounted.status, 201) << mounted.body;
  EXPECT_EQ(mounted.headers["location"], "/v2/team/app/blobs/" + digest);
  EXPECT_EQ(Send("GET", "/v2/team/app/blobs/" + digest).body, data);
  // Not there to mount: a new upload session instead.
  std::string other = store::Sha256Digest("elsewhere");
  auto session = Send("POST", "/v2/team/app/blobs/uploads/?mount=" + other + "&from=team/base");
  EXPECT_EQ(session.status, 202);
  EXPECT_THAT(session.headers["location"], HasSubstr("/blobs/uploads/"));
}

TEST_F(RegistryApiTest, TagsAndCatalogPaginateWithLink) {
  TestImage image = MakeTestImage(3);
  Push("team/app", "a", image);
  for (std::string tag : {"b", "c", "d"}) {
    ASSERT_EQ(Send("PUT", "/v2/team/app/manifests/" + tag, image.manifest_bytes,
                   {{"Content-Type", image.manifest.media_type}})
                  .status,
              201);
  }
  auto p1 = Send("GET", "/v2/team/app/tags/list?n=3");
  ASSERT_EQ(p1.status, 200) << p1.body;
  EXPECT_EQ(ParseJson(p1.body)->at("tags"), Json({"a", "b", "c"}));
  EXPECT_EQ(p1.headers["link"], "</v2/team/app/tags/list?n=3&last=c>; rel=\"next\"");
  auto p2 = Send("GET", "/v2/team/app/tags/list?n=3&last=c");
  EXPECT_EQ(ParseJson(p2.body)->at("tags"), Json({"d"}));
  EXPECT_EQ(p2.headers.count("link"), 0u);
  Push("other/x", "1", MakeTestImage(4));
  auto cat = Send("GET", "/v2/_catalog?n=1");
  ASSERT_EQ(cat.status, 200) << cat.body;
  EXPECT_EQ(ParseJson(cat.body)->at("repositories"), Json({"other/x"}));
  EXPECT_EQ(cat.headers["link"], "</v2/_catalog?n=1&last=other/x>; rel=\"next\"");
  auto cat2 = Send("GET", "/v2/_catalog?n=1&last=other/x");
  EXPECT_EQ(ParseJson(cat2.body)->at("repositories"), Json({"team/app"}));
}

TEST_F(RegistryApiTest, DeleteManifestAndBlob) {
  TestImage image = MakeTestImage(5);
  Push("team/app", "v1", image);
  EXPECT_EQ(Send("DELETE", "/v2/team/app/manifests/" + image.manifest_digest).status, 202);
  EXPECT_EQ(Send("GET", "/v2/team/app/manifests/v1").status, 404);
  EXPECT_EQ(Send("DELETE", "/v2/team/app/blobs/" + image.config.digest).status, 202);
  EXPECT_EQ(Send("HEAD", "/v2/team/app/blobs/" + image.config.digest).status, 404);
  auto again = Send("DELETE", "/v2/team/app/manifests/" + image.manifest_digest);
  EXPECT_EQ(again.status, 404);
  EXPECT_EQ(ErrorCode(again), "MANIFEST_UNKNOWN");
}

TEST_F(RegistryApiTest, TeamsOwnTheirRepositories) {
  std::string member = Token("mia", "fraud", auth::Role::kMember);
  std::string viewer = Token("vic", "fraud", auth::Role::kViewer);
  TestImage image = MakeTestImage(6);
  Push("fraud/model", "v1", image, member);
  // A member of fraud cannot write another team's repository.
  auto other = Send("POST", "/v2/churn/model/blobs/uploads/", "", {}, member);
  EXPECT_EQ(other.status, 403);
  EXPECT_EQ(ErrorCode(other), "DENIED");
  // A viewer reads but does not write.
  EXPECT_EQ(Send("GET", "/v2/fraud/model/manifests/v1", "", {}, viewer).status, 200);
  EXPECT_EQ(Send("DELETE", "/v2/fraud/model/manifests/v1", "", {}, viewer).status, 403);
  // The catalog lists what the caller may read.
  Push("churn/model", "v1", MakeTestImage(7));  // by the admin
  auto cat = Send("GET", "/v2/_catalog", "", {}, viewer);
  ASSERT_EQ(cat.status, 200) << cat.body;
  EXPECT_EQ(ParseJson(cat.body)->at("repositories"), Json({"fraud/model"}));
  // Someone else's upload session is unknown to you.
  auto session = Send("POST", "/v2/fraud/model/blobs/uploads/", "", {}, member);
  std::string admin_sees = std::to_string(Send("GET", session.headers["location"]).status);
  EXPECT_EQ(admin_sees, "404");
}

}  // namespace
}  // namespace tandem::api
