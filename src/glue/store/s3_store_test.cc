#include "glue/store/s3_store.h"
#include "glue/store/testing/s3_server_test.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <random>
#include <sstream>

#include "common/clock.h"
#include "common/http_server.h"
#include "common/ids.h"
#include "common/json.h"
#include "common/testing/run_tool.h"
#include "common/testing/test_server.h"
#include "glue/store/sha256.h"
#include "glue/store/sigv4.h"
#include "glue/store/testing/object_store_conformance.h"
#include "glue/store/testing/test_data.h"

namespace tandem::store {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

bool HaveBoto3() {
  if (!fs::exists("/usr/bin/python3")) return false;
  auto r = ::tandem::testing::RunTool({"/usr/bin/python3", "-c", "import boto3, botocore"});
  return r.ok() && r->exit.ok();
}

// ---- Configuration, URLs and signing (no server) --------------------------

TEST(S3Uri, PathStyleWithCustomEndpointAndDefaults) {
  auto c = ParseS3Uri(
      "s3://my-bucket/team/a/?endpoint=http://127.0.0.1:9000&access_key_id=AK&secret_access_key=S");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->bucket, "my-bucket");
  EXPECT_EQ(c->prefix, "team/a");
  EXPECT_EQ(c->scheme, "http");
  EXPECT_EQ(c->endpoint_host, "127.0.0.1:9000");
  EXPECT_FALSE(c->virtual_host);  // custom endpoints default to path-style
  EXPECT_EQ(c->part_size, kS3DefaultPartSize);
  S3Client client(*c);
  S3Request req;
  req.key = "team/a/names/x y+z/ü";
  req.query = {{"partNumber", "1"}, {"uploadId", "a/b=c"}};
  EXPECT_EQ(client.Host(), "127.0.0.1:9000");
  EXPECT_EQ(client.Url(req),
            "http://127.0.0.1:9000/my-bucket/team/a/names/x%20y%2Bz/%C3%BC"
            "?partNumber=1&uploadId=a%2Fb%3Dc");
  EXPECT_EQ(client.CanonicalUri(""), "/my-bucket");
}

TEST(S3Uri, VirtualHostWithCustomEndpointAndAwsDefault) {
  auto c = ParseS3Uri(
      "s3://tandem/p?endpoint=http://s3.localhost:4568&addressing=virtual&region=eu-west-1"
      "&access_key_id=AK&secret_access_key=S&part_size=5242880");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE(c->virtual_host);
  EXPECT_EQ(c->region, "eu-west-1");
  EXPECT_EQ(c->part_size, 5u << 20);
  S3Client client(*c);
  S3Request req;
  req.key = "p/blobs/sha256/ab";
  EXPECT_EQ(client.Host(), "tandem.s3.localhost:4568");
  EXPECT_EQ(client.Url(req), "http://tandem.s3.localhost:4568/p/blobs/sha256/ab");
  EXPECT_EQ(client.CanonicalUri(""), "/");

  auto aws = ParseS3Uri("s3://bkt?region=eu-west-1&access_key_id=AK&secret_access_key=S");
  ASSERT_TRUE(aws.ok()) << aws.status();
  EXPECT_TRUE(aws->virtual_host);
  EXPECT_EQ(S3Client(*aws).Url(req), "https://bkt.s3.eu-west-1.amazonaws.com/p/blobs/sha256/ab");
  // Dotted bucket names stay path-style on AWS (TLS wildcard certificates).
  auto dotted = ParseS3Uri("s3://my.bkt?access_key_id=AK&secret_access_key=S");
  ASSERT_TRUE(dotted.ok());
  EXPECT_FALSE(dotted->virtual_host);
}

TEST(S3Uri, CredentialsFromEnvironmentOrUri) {
  ::setenv("AWS_ACCESS_KEY_ID", "ENVKEY", 1);
  ::setenv("AWS_SECRET_ACCESS_KEY", "ENVSECRET", 1);
  ::setenv("AWS_SESSION_TOKEN", "ENVTOKEN", 1);
  auto env = ParseS3Uri("s3://bkt/p?endpoint=http://h:1");
  ASSERT_TRUE(env.ok()) << env.status();
  EXPECT_EQ(env->credentials.access_key_id, "ENVKEY");
  EXPECT_EQ(env->credentials.secret_access_key, "ENVSECRET");
  EXPECT_EQ(env->credentials.session_token, "ENVTOKEN");
  auto uri = ParseS3Uri("s3://bkt/p?access_key_id=U&secret_access_key=a%2Bb%2Fc");
  ASSERT_TRUE(uri.ok());
  EXPECT_EQ(uri->credentials.access_key_id, "U");
  EXPECT_EQ(uri->credentials.secret_access_key, "a+b/c");
  EXPECT_EQ(uri->credentials.session_token, "");
  ::unsetenv("AWS_ACCESS_KEY_ID");
  ::unsetenv("AWS_SECRET_ACCESS_KEY");
  ::unsetenv("AWS_SESSION_TOKEN");
  auto none = ParseS3Uri("s3://bkt/p?endpoint=http://h:1");
  EXPECT_EQ(none.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(none.status().message()), HasSubstr("AWS_ACCESS_KEY_ID"));
}

TEST(S3Uri, BadUrisNameTheProblem) {
  const std::string creds = "access_key_id=AK&secret_access_key=S";
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"s3://Bad_Bucket/p?" + creds, "invalid S3 bucket name 'Bad_Bucket'"},
      {"s3://bkt/p?" + creds + "&endpoint=127.0.0.1:9000", "endpoint='127.0.0.1:9000'"},
      {"s3://bkt/p?" + creds + "&endpoint=ftp://h", "endpoint='ftp://h'"},
      {"s3://bkt/p?" + creds + "&endpoint=http://h/path", "no path"},
      {"s3://bkt/p?" + creds + "&addressing=dns", "addressing='dns'"},
      {"s3://bkt/p?" + creds + "&part_size=1000", "part_size='1000'"},
      {"s3://bkt/p?" + creds + "&max_retries=x", "max_retries='x'"},
      {"s3://bkt/p?" + creds + "&concurrency=0", "concurrency='0'"},
      {"s3://bkt/p?" + creds + "&regoin=us-east-1", "unknown s3:// URI parameter 'regoin'"},
      {"s3://bkt/a/../b?" + creds, "'..' segment"},
  };
  for (const auto& [uri, want] : bad) {
    SCOPED_TRACE(uri);
    auto c = ParseS3Uri(uri);
    EXPECT_EQ(c.status().code(), StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(c.status().message()), HasSubstr(want));
  }
}

// S3Client's own signing reproduces the S3 API reference examples for a
// virtual-hosted bucket (examplebucket.s3.amazonaws.com).
TEST(S3Client, VirtualHostSigningMatchesTheS3ReferenceExamples) {
  S3Config c;
  c.bucket = "examplebucket";
  c.scheme = "https";
  c.endpoint_host = "s3.amazonaws.com";
  c.virtual_host = true;
  c.credentials = {"AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", ""};
  S3Client client(c);
  const int64_t t = 1369353600;  // 2013-05-24T00:00:00Z
  S3Request get;
  get.key = "test.txt";
  get.headers["Range"] = "bytes=0-9";
  auto h = client.SignedHeaders(get, t);
  EXPECT_EQ(h["host"], "examplebucket.s3.amazonaws.com");
  EXPECT_EQ(h["x-amz-date"], "20130524T000000Z");
  EXPECT_EQ(h["authorization"],
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
            "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
            "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
  S3Request list;
  list.query = {{"max-keys", "2"}, {"prefix", "J"}};
  EXPECT_EQ(client.SignedHeaders(list, t)["authorization"],
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
            "SignedHeaders=host;x-amz-content-sha256;x-amz-date, "
            "Signature=34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7");
  EXPECT_EQ(client.Url(list), "https://examplebucket.s3.amazonaws.com/?max-keys=2&prefix=J");

  // Path-style signs "/bucket/key" and the endpoint host; a session token is signed too.
  c.virtual_host = false;
  c.credentials.session_token = "TOKEN";
  S3Client path_client(c);
  auto p = path_client.SignedHeaders(get, t);
  EXPECT_EQ(p["host"], "s3.amazonaws.com");
  EXPECT_EQ(p["x-amz-security-token"], "TOKEN");
  EXPECT_THAT(p["authorization"],
              HasSubstr("SignedHeaders=host;range;x-amz-content-sha256;x-amz-date;"
                        "x-amz-security-token"));
  sigv4::Request expect{
      "GET", "/examplebucket/test.txt", {}, {p.begin(), p.end()}, p["x-amz-content-sha256"]};
  expect.headers.erase(std::remove_if(expect.headers.begin(), expect.headers.end(),
                                      [](const auto& kv) { return kv.first == "authorization"; }),
                       expect.headers.end());
  EXPECT_EQ(p["authorization"],
            sigv4::Authorization(expect, c.credentials, "us-east-1", "s3", "20130524T000000Z"));
}

// The signatures S3Client sends equal those botocore (a SigV4 implementation
// nobody here wrote) computes for the same request, path-style and
// virtual-host, with awkward keys, query values and a session token.
TEST(S3Client, SignaturesMatchBotocore) {
  TANDEM_REQUIRE_TOOL(HaveBoto3(), "python3-boto3");
  const std::string dir =
      (fs::temp_directory_path() / ("tandem-s3-sig-" + NewUlid(Clock::Real()))).string();
  fs::create_directories(dir);
  std::ofstream(dir + "/sign.py") << R"(
import datetime, json, sys
import botocore.auth, botocore.awsrequest, botocore.credentials
a = json.load(open(sys.argv[1]))
class Fixed(datetime.datetime):
    @classmethod
    def utcnow(cls):
        return cls(2026, 11, 30, 8, 30, 13)
botocore.auth.datetime.datetime = Fixed
skip = ("x-amz-date", "x-amz-content-sha256", "x-amz-security-token", "authorization")
req = botocore.awsrequest.AWSRequest(
    method=a["method"], url=a["url"], data=a["body"].encode(),
    headers={k: v for k, v in a["headers"].items() if k not in skip})
creds = botocore.credentials.Credentials(a["ak"], a["sk"], a["token"])
botocore.auth.S3SigV4Auth(creds, "s3", a["region"]).add_auth(req)
print(req.headers["Authorization"])
)";
  S3Config c;
  c.bucket = "bkt";
  c.scheme = "http";
  c.endpoint_host = "s3.localhost:9000";
  c.region = "eu-central-1";
  c.credentials = {"AKIDTANDEM", "se/cr+et=key", "SESSION/TOKEN+1"};
  for (bool virtual_host : {false, true}) {
    SCOPED_TRACE(virtual_host ? "virtual-host" : "path-style");
    c.virtual_host = virtual_host;
    S3Client client(c);
    S3Request req;
    req.method = "PUT";
    req.key = "p/names/a b+c/\xc3\xbc=(1)~!*'";
    req.query = {{"uploadId", "x/y z+="}, {"partNumber", "12"}};
    req.headers["content-type"] = "application/octet-stream";
    req.body = "hello, part 12";
    auto h = client.SignedHeaders(req, 1796027413);  // 2026-11-30T08:30:13Z
    Json headers = Json::object();
    for (const auto& [k, v] : h) headers[k] = v;
    Json args = {{"method", req.method},
                 {"url", client.Url(req)},
                 {"body", req.body},
                 {"headers", headers},
                 {"ak", c.credentials.access_key_id},
                 {"sk", c.credentials.secret_access_key},
                 {"token", c.credentials.session_token},
                 {"region", c.region}};
    std::ofstream(dir + "/args.json") << args.dump();
    auto signed_by_boto =
        ::tandem::testing::RunTool({"/usr/bin/python3", dir + "/sign.py", dir + "/args.json"});
    ASSERT_TRUE(signed_by_boto.ok()) << signed_by_boto.status();
    ASSERT_TRUE(signed_by_boto->exit.ok()) << signed_by_boto->out;
    EXPECT_EQ(signed_by_boto->out, h["authorization"] + "\n");
  }
  std::error_code ec;
  fs::remove_all(dir, ec);
}

TEST(S3Xml, BlocksTextEntitiesAndTimes) {
  const std::string xml =
      "<?xml version=\"1.0\"?><ListBucketResult xmlns=\"x\"><IsTruncated>true</IsTruncated>"
      "<Contents><Key>a&amp;b &lt;c&gt; &#233;</Key><Size>3</Size></Contents>"
      "<Contents><Key>k2</Key></Contents><KeyCount>2</KeyCount></ListBucketResult>";
  auto blocks = XmlBlocks(xml, "Contents");
  ASSERT_EQ(blocks.size(), 2u);
  EXPECT_EQ(XmlText(blocks[0], "Key"), "a&b <c> \xc3\xa9");
  EXPECT_EQ(XmlText(blocks[1], "Key"), "k2");
  EXPECT_EQ(XmlText(xml, "IsTruncated"), "true");
  EXPECT_EQ(XmlText(xml, "Key"), "a&b <c> \xc3\xa9");  // not confused by <KeyCount>
  EXPECT_EQ(XmlText(xml, "Missing"), "");
  EXPECT_EQ(XmlEscape("<a&'\">"), "&lt;a&amp;&apos;&quot;&gt;");
  EXPECT_EQ(*ParseIso8601Micros("2013-05-24T00:00:01.5Z"), 1369353601500000);
  EXPECT_EQ(*ParseIso8601Micros("2013-05-24T00:00:00Z"), 1369353600000000);
  EXPECT_FALSE(ParseIso8601Micros("yesterday").ok());
}

// ---- Retries and error mapping against a scripted HTTP endpoint ----------

// A fake S3 endpoint: answers requests from a script, records what it saw.
class FakeS3 {
 public:
  struct Seen {
    std::string method, path, query;
  };
  using Answer = std::function<void(http::Request&, http::Response&)>;

  FakeS3() : server_(http::ServerOptions{}) {
    for (const char* m : {"GET", "PUT", "POST", "DELETE", "HEAD"}) {
      for (const char* pattern : {"/bkt", "/bkt/{key...}"}) {
        server_.Route(m, pattern, [this](http::Request& req, http::Response& resp) {
          Answer answer;
          {
            std::lock_guard<std::mutex> lock(mu_);
            std::string q;
            for (const auto& [k, v] : req.query) q += k + "=" + v + "&";
            seen_.push_back({req.method, req.path, q});
            if (!script_.empty()) {
              answer = std::move(script_.front());
              script_.erase(script_.begin());
            }
          }
          if (answer) {
            answer(req, resp);
          } else {
            resp.Text(500, "unscripted request");
          }
        });
      }
    }
    auto port = server_.Start();
    EXPECT_TRUE(port.ok()) << port.status();
    port_ = port.ok() ? *port : 0;
  }
  ~FakeS3() { server_.Stop(); }

  void Then(Answer a) {
    std::lock_guard<std::mutex> lock(mu_);
    script_.push_back(std::move(a));
  }
  static Answer Status(int code, std::string body = "") {
    return [code, body](http::Request&, http::Response& r) {
      r.status = code;
      r.body = body;
      r.headers["content-type"] = "application/xml";
    };
  }
  static std::string Error(const std::string& code, const std::string& msg) {
    return "<?xml version=\"1.0\"?><Error><Code>" + code + "</Code><Message>" + msg +
           "</Message></Error>";
  }
  std::vector<Seen> seen() {
    std::lock_guard<std::mutex> lock(mu_);
    return seen_;
  }
  S3Config Config(int max_retries = 3) const {
    S3Config c;
    c.bucket = "bkt";
    c.scheme = "http";
    c.endpoint_host = "127.0.0.1:" + std::to_string(port_);
    c.credentials = {"AK", "SK", ""};
    c.max_retries = max_retries;
    c.part_size = kS3MinPartSize;
    return c;
  }

 private:
  http::Server server_;
  int port_ = 0;
  std::mutex mu_;
  std::vector<Answer> script_;
  std::vector<Seen> seen_;
};

TEST(S3Client, RetriesServerErrorsAndSlowDownWithExponentialBackoff) {
  FakeS3 fake;
  fake.Then(FakeS3::Status(503, FakeS3::Error("SlowDown", "Reduce your request rate")));
  fake.Then(FakeS3::Status(500, FakeS3::Error("InternalError", "oops")));
  fake.Then(FakeS3::Status(200, "<ok/>"));
  std::vector<int64_t> sleeps;
  S3Client client(fake.Config(), nullptr, [&](int64_t ms) { sleeps.push_back(ms); });
  S3Request req;
  req.key = "k";
  auto r = client.Do(req);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->body, "<ok/>");
  EXPECT_EQ(fake.seen().size(), 3u);
  ASSERT_EQ(sleeps.size(), 2u);
  EXPECT_GE(sleeps[0], 50);  // base 100 ms, equal jitter
  EXPECT_LE(sleeps[0], 100);
  EXPECT_GE(sleeps[1], 100);  // doubled
  EXPECT_LE(sleeps[1], 200);
}

TEST(S3Client, GivesUpAfterMaxRetriesWithUnavailable) {
  FakeS3 fake;
  for (int i = 0; i < 3; ++i) fake.Then(FakeS3::Status(503, FakeS3::Error("SlowDown", "slow")));
  int sleeps = 0;
  S3Client client(fake.Config(/*max_retries=*/2), nullptr, [&](int64_t) { ++sleeps; });
  S3Request req;
  req.key = "k";
  auto r = client.Do(req);
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("SlowDown"));
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("3 attempts"));
  EXPECT_EQ(fake.seen().size(), 3u);
  EXPECT_EQ(sleeps, 2);
}

TEST(S3Client, ConnectionErrorsAreRetriedThenUnavailable) {
  S3Config c;
  {
    FakeS3 fake;
    c = fake.Config(/*max_retries=*/2);
  }  // stopped: its port now refuses connections
  int sleeps = 0;
  S3Client client(c, nullptr, [&](int64_t) { ++sleeps; });
  auto r = client.Do(S3Request{});
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(sleeps, 2);
}

TEST(S3Client, ClientErrorsAreMappedAndNotRetried) {
  struct Case {
    int status;
    std::string code;
    StatusCode want;
    std::string text;
  };
  const std::vector<Case> cases = {
      {404, "NoSuchBucket", StatusCode::kNotFound, "S3 bucket 'bkt' does not exist at http://"},
      {404, "NoSuchKey", StatusCode::kNotFound, "s3://bkt/k: not found"},
      {403, "AccessDenied", StatusCode::kPermissionDenied, "permission denied"},
      {403, "SignatureDoesNotMatch", StatusCode::kPermissionDenied, "SignatureDoesNotMatch"},
      {403, "InvalidAccessKeyId", StatusCode::kPermissionDenied, "bucket 'bkt'"},
      {412, "PreconditionFailed", StatusCode::kAborted, "changed concurrently"},
      {400, "InvalidArgument", StatusCode::kInvalidArgument, "HTTP 400 InvalidArgument"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.code);
    FakeS3 fake;
    fake.Then(FakeS3::Status(c.status, FakeS3::Error(c.code, "msg")));
    int sleeps = 0;
    S3Client client(fake.Config(), nullptr, [&](int64_t) { ++sleeps; });
    S3Request req;
    req.key = "k";
    auto r = client.Do(req);
    EXPECT_EQ(r.status().code(), c.want);
    EXPECT_THAT(std::string(r.status().message()), HasSubstr(c.text));
    EXPECT_EQ(sleeps, 0);
    EXPECT_EQ(fake.seen().size(), 1u);
  }
}

TEST(S3Store, FailedMultipartUploadIsAborted) {
  FakeS3 fake;
  fake.Then(FakeS3::Status(200, "<ListBucketResult></ListBucketResult>"));  // Open's check
  fake.Then(FakeS3::Status(404));                                           // HEAD blob
  fake.Then(FakeS3::Status(
      200,
      "<InitiateMultipartUploadResult><UploadId>up-1</UploadId></InitiateMultipartUploadResult>"));
  fake.Then([](http::Request&, http::Response& r) {  // part 1
    r.status = 200;
    r.headers["etag"] = "\"e1\"";
  });
  fake.Then(FakeS3::Status(403, FakeS3::Error("AccessDenied", "no more parts for you")));
  fake.Then(FakeS3::Status(204));  // the abort
  const S3Config c = fake.Config();
  auto store =
      S3Store::Open("s3://bkt/pre?endpoint=http://" + c.endpoint_host +
                    "&access_key_id=AK&secret_access_key=SK&part_size=5242880&concurrency=1"
                    "&multipart_threshold=5242880");
  ASSERT_TRUE(store.ok()) << store.status();
  const std::string data = RandomBytes((5 << 20) + 100, 7);
  auto put = (*store)->PutBlobFromString(data);
  EXPECT_EQ(put.status().code(), StatusCode::kPermissionDenied);
  auto seen = fake.seen();
  ASSERT_EQ(seen.size(), 6u);
  const std::string key = "/bkt/pre/blobs/sha256/" + Sha256Digest(data).substr(7);
  EXPECT_EQ(seen[2].method, "POST");
  EXPECT_EQ(seen[2].path, key);
  EXPECT_THAT(seen[3].query, HasSubstr("partNumber=1"));
  EXPECT_THAT(seen[4].query, HasSubstr("partNumber=2"));
  EXPECT_EQ(seen[5].method, "DELETE");
  EXPECT_EQ(seen[5].path, key);
  EXPECT_THAT(seen[5].query, HasSubstr("uploadId=up-1"));
}

// ---- Against the real S3-compatible server (s3rver) ------------------------

INSTANTIATE_TEST_SUITE_P(S3, ObjectStoreConformanceTest,
                         ::testing::Values(ObjectStoreFactory{
                             "s3",
                             []() -> std::unique_ptr<ObjectStore> {
                               std::optional<std::string> base = testing::RequireTestServer("s3");
                               if (!base) return nullptr;
                               auto s = ObjectStore::Open(UniqueS3Uri(*base));
                               EXPECT_TRUE(s.ok()) << s.status();
                               return s.ok() ? *std::move(s) : nullptr;
                             }}),
                         ObjectStoreFactoryName);

TEST_F(S3ServerTest, MultipartUploadAboveThePartSize) {
  auto store = OpenStore("&part_size=5242880&multipart_threshold=5242880");
  ASSERT_NE(store, nullptr);
  std::vector<std::string> calls;  // "METHOD query-names status" of every request
  store->client().set_observer([&](const S3Request& r, int status) {
    std::string q;
    for (const auto& [k, v] : r.query) q += k + ",";
    calls.push_back(r.method + " " + q + " " + std::to_string(status));
  });
  const std::string data = RandomBytes(11 * 1024 * 1024 + 3, 11);  // 3 parts
  auto put = store->PutString("big/model.bin", data);
  ASSERT_TRUE(put.ok()) << put.status();
  EXPECT_EQ(put->digest, Sha256Digest(data));
  EXPECT_EQ(put->size, data.size());
  // HEAD (absent), create, 3 parts, complete; then touch + name record (Link).
  EXPECT_THAT(calls, ::testing::ElementsAre(
                         "HEAD  404", "POST uploads, 200", "PUT partNumber,uploadId, 200",
                         "PUT partNumber,uploadId, 200", "PUT partNumber,uploadId, 200",
                         "POST uploadId, 200", "HEAD  200", "PUT  200", "PUT  200"));
  store->client().set_observer(nullptr);
  auto got = store->GetString("big/model.bin");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_TRUE(*got == data);

  // From a file (hashed first, then uploaded from the file), and again: dedup.
  const std::string path = scratch_ + "/in.bin";
  const std::string other = RandomBytes(6 * 1024 * 1024, 12);
  std::ofstream(path, std::ios::binary) << other;
  auto from_file = store->PutBlobFromFile(path);
  ASSERT_TRUE(from_file.ok()) << from_file.status();
  EXPECT_EQ(from_file->digest, Sha256Digest(other));
  auto again = store->PutBlobFromFile(path);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->digest, from_file->digest);
  const std::string out = scratch_ + "/out.bin";
  ASSERT_TRUE(store->GetBlobToFile(from_file->digest, out).ok());
  std::stringstream ss;
  ss << std::ifstream(out, std::ios::binary).rdbuf();
  EXPECT_TRUE(ss.str() == other);
}

TEST_F(S3ServerTest, CorruptedObjectOnTheServerIsDataLoss) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  const std::string data = RandomBytes(3 * 1024 * 1024, 21);
  auto put = store->PutString("victim", data);
  ASSERT_TRUE(put.ok()) << put.status();
  // Flip one byte of the stored blob, behind tandem's back (same size).
  std::string damaged = data;
  damaged[1234567] ^= 0x40;
  ASSERT_TRUE(OverwriteBlob(*store, put->digest, damaged).ok());

  auto got = store->GetString("victim");
  EXPECT_EQ(got.status().code(), StatusCode::kDataLoss);
  EXPECT_THAT(std::string(got.status().message()), HasSubstr(put->digest));
  EXPECT_EQ(store->VerifyBlob(put->digest).code(), StatusCode::kDataLoss);
  const std::string dst = scratch_ + "/never";
  EXPECT_EQ(store->GetToFile("victim", dst).code(), StatusCode::kDataLoss);
  EXPECT_FALSE(fs::exists(dst));
  EXPECT_TRUE(fs::is_empty(scratch_));

  // Truncated: also DataLoss, never a short OK read.
  ASSERT_TRUE(OverwriteBlob(*store, put->digest, data.substr(0, 1000)).ok());
  EXPECT_EQ(store->GetString("victim").status().code(), StatusCode::kDataLoss);
  // Putting the same content again repairs it (the wrong-size blob is replaced).
  ASSERT_TRUE(store->PutBlobFromString(data).ok());
  auto repaired = store->GetString("victim");
  ASSERT_TRUE(repaired.ok()) << repaired.status();
  EXPECT_TRUE(*repaired == data);
}

// A file that changes after the first pass (digest and part hashes) is
// refused: the part read again no longer hashes the same, the multipart
// upload is aborted and no blob appears.
TEST_F(S3ServerTest, FileChangedDuringPutBlobFromFileIsRefused) {
  auto store = OpenStore("&part_size=5242880&multipart_threshold=5242880&concurrency=2");
  ASSERT_NE(store, nullptr);
  const std::string path = scratch_ + "/changing.bin";
  const std::string data = RandomBytes(3 * 5 * 1024 * 1024 + 9, 23);
  std::ofstream(path, std::ios::binary) << data;
  std::mutex mu;  // parts are sent from several threads
  std::vector<std::string> calls;
  store->client().set_observer([&](const S3Request& r, int status) {
    std::string q;
    for (const auto& [k, v] : r.query) q += k + ",";
    std::lock_guard<std::mutex> lock(mu);
    calls.push_back(r.method + " " + q + " " + std::to_string(status));
    if (r.method == "POST" && q == "uploads,") {
      // Between the first pass and the parts: change one byte of part 3.
      std::fstream f(path, std::ios::binary | std::ios::in | std::ios::out);
      f.seekp(2 * 5 * 1024 * 1024 + 3);
      f.put(static_cast<char>(data[2 * 5 * 1024 * 1024 + 3] ^ 0x20));
    }
  });
  auto put = store->PutBlobFromFile(path);
  store->client().set_observer(nullptr);
  EXPECT_EQ(put.status().code(), StatusCode::kAborted) << put.status();
  EXPECT_THAT(std::string(put.status().message()), HasSubstr("changed while it was being stored"));
  ASSERT_FALSE(calls.empty());
  // The upload was aborted (s3rver answers AbortMultipartUpload with 405).
  EXPECT_THAT(calls.back(), ::testing::StartsWith("DELETE uploadId, "));
  EXPECT_EQ(std::count_if(calls.begin(), calls.end(),
                          [](const std::string& c) { return c.starts_with("POST uploadId,"); }),
            0);  // never completed
  auto has = store->HasBlob(Sha256Digest(data));
  ASSERT_TRUE(has.ok());
  EXPECT_FALSE(*has);
}

// GetBlobToFile's parallel ranged download (three 8 MiB ranges, written in
// place) refuses a blob damaged in its middle range and leaves no file; the
// intact blob arrives whole.
TEST_F(S3ServerTest, ParallelDownloadToFileVerifiesTheDigest) {
  auto store = OpenStore("&concurrency=3");
  ASSERT_NE(store, nullptr);
  const std::string data = RandomBytes(2 * 8 * 1024 * 1024 + 5, 22);
  auto put = store->PutBlobFromString(data);
  ASSERT_TRUE(put.ok()) << put.status();
  const std::string dst = scratch_ + "/whole.bin";
  ASSERT_TRUE(store->GetBlobToFile(put->digest, dst).ok());
  std::stringstream ss;
  ss << std::ifstream(dst, std::ios::binary).rdbuf();
  EXPECT_TRUE(ss.str() == data);
  fs::remove(dst);

  std::string damaged = data;
  damaged[8 * 1024 * 1024 + 77] ^= 0x01;
  ASSERT_TRUE(OverwriteBlob(*store, put->digest, damaged).ok());
  Status st = store->GetBlobToFile(put->digest, dst);
  EXPECT_EQ(st.code(), StatusCode::kDataLoss) << st;
  EXPECT_THAT(std::string(st.message()), HasSubstr("is corrupt"));
  EXPECT_FALSE(fs::exists(dst));
  EXPECT_TRUE(fs::is_empty(scratch_));
  EXPECT_EQ(store->GetBlobToFile("sha256:nothex", dst).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(store->GetBlobToFile(Sha256Digest("absent"), dst).code(), StatusCode::kNotFound);
  EXPECT_TRUE(fs::is_empty(scratch_));
}

TEST_F(S3ServerTest, VirtualHostAddressingAgainstTheServer) {
  // s3rver serves <bucket>.s3.localhost:<port>; libcurl resolves *.localhost to loopback.
  const size_t at = base_.find("endpoint=http://127.0.0.1:");
  ASSERT_NE(at, std::string::npos);
  std::string uri = base_;
  uri.replace(at, std::string("endpoint=http://127.0.0.1:").size(),
              "endpoint=http://s3.localhost:");
  uri.replace(uri.find("addressing=path"), std::string("addressing=path").size(),
              "addressing=virtual");
  auto store = S3Store::Open(UniqueS3Uri(uri));
  ASSERT_TRUE(store.ok()) << store.status();
  EXPECT_TRUE((*store)->client().config().virtual_host);
  EXPECT_THAT((*store)->client().Host(), ::testing::StartsWith("tandem.s3.localhost:"));
  ASSERT_TRUE((*store)->PutString("v/one", "virtual host").ok());
  EXPECT_EQ(*(*store)->GetString("v/one"), "virtual host");
  EXPECT_EQ((*store)->List("v/")->objects.size(), 1u);
}

TEST_F(S3ServerTest, MissingBucketAndWrongCredentialsAreClearErrors) {
  std::string uri = base_;
  uri.replace(0, std::string("s3://tandem/").size(), "s3://no-such-bucket-here/");
  auto missing = S3Store::Open(uri);
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr("'no-such-bucket-here'"));

  // (s3rver checks the access key id but does not verify SigV4 signatures;
  // those are checked against the AWS vectors and botocore instead.)
  std::string wrong = base_;
  wrong.replace(wrong.find("access_key_id=S3RVER"), std::string("access_key_id=S3RVER").size(),
                "access_key_id=NOBODY");
  auto denied = S3Store::Open(wrong);
  EXPECT_EQ(denied.status().code(), StatusCode::kPermissionDenied);
  EXPECT_THAT(std::string(denied.status().message()), HasSubstr("InvalidAccessKeyId"));
}

TEST_F(S3ServerTest, UriHidesTheSecretAndKeysTooLongForThePrefixAreRefused) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  EXPECT_THAT(store->uri(), HasSubstr("secret_access_key=REDACTED"));
  EXPECT_THAT(store->uri(), ::testing::Not(HasSubstr("secret_access_key=S3RVER")));
  std::string key;
  for (int i = 0; i < 5; ++i) key += std::string(200, 'a' + i) + "/";
  key += "x";  // 1006 bytes: valid, but too long with "<prefix>/names/" in front
  ASSERT_TRUE(ValidateKey(key).ok());
  auto put = store->PutString(key, "x");
  EXPECT_EQ(put.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(put.status().message()), HasSubstr("longer than S3 allows"));
}

// A client nobody here wrote (python3-boto3) reads what tandem wrote, and
// tandem reads (and verifies) what boto3 wrote.
TEST_F(S3ServerTest, CrossCheckWithBoto3) {
  TANDEM_REQUIRE_TOOL(HaveBoto3(), "python3-boto3");
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  const S3Config& c = store->client().config();
  const std::string data = RandomBytes(7 * 1024 * 1024 + 5, 31);
  auto put = store->PutString("cross/tandem.bin", data);
  ASSERT_TRUE(put.ok()) << put.status();

  const std::string theirs = RandomBytes(2 * 1024 * 1024 + 9, 32);
  const std::string theirs_path = scratch_ + "/theirs.bin";
  std::ofstream(theirs_path, std::ios::binary) << theirs;
  const std::string theirs_digest = Sha256Digest(theirs);
  const std::string script = scratch_ + "/check.py";
  std::ofstream(script) << R"(
import boto3, hashlib, sys
endpoint, bucket, key_in, key_out, path_out = sys.argv[1:6]
s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                  aws_access_key_id="S3RVER", aws_secret_access_key="S3RVER")
body = s3.get_object(Bucket=bucket, Key=key_in)["Body"].read()
print(len(body), hashlib.sha256(body).hexdigest())
with open(path_out, "rb") as f:
    s3.put_object(Bucket=bucket, Key=key_out, Body=f.read())
)";
  auto boto = ::tandem::testing::RunTool(
      {"/usr/bin/python3", script, c.scheme + "://" + c.endpoint_host, c.bucket,
       store->BlobKey(put->digest), store->BlobKey(theirs_digest), theirs_path});
  ASSERT_TRUE(boto.ok()) << boto.status();
  ASSERT_TRUE(boto->exit.ok()) << boto->out;
  EXPECT_EQ(boto->out, std::to_string(data.size()) + " " + put->digest.substr(7) + "\n");

  // What boto3 stored at the layout's blob key is a verified blob to tandem.
  auto got = store->OpenBlob(theirs_digest);
  ASSERT_TRUE(got.ok()) << got.status();
  auto bytes = (*got)->ReadAll();
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  EXPECT_TRUE(*bytes == theirs);
  ASSERT_TRUE(store->Link("cross/boto3.bin", theirs_digest).ok());
  EXPECT_EQ(store->Stat("cross/boto3.bin")->size, theirs.size());
}

}  // namespace
}  // namespace tandem::store
