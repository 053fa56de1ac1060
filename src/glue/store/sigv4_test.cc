#include "glue/store/sigv4.h"

#include <gtest/gtest.h>

namespace tandem::store::sigv4 {
namespace {

constexpr char kEmptySha[] = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

// The generic AWS SigV4 test suite (service "service", us-east-1,
// 2015-08-30T12:36:00Z, AKIDEXAMPLE).
const Credentials kSuiteCreds{"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", ""};
constexpr char kSuiteDate[] = "20150830T123600Z";
constexpr char kSuitePrefix[] =
    "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, ";

Request SuiteRequest(std::string method, std::string path,
                     std::vector<std::pair<std::string, std::string>> query = {},
                     std::vector<std::pair<std::string, std::string>> extra = {}) {
  Request r{std::move(method),
            std::move(path),
            std::move(query),
            {{"Host", "example.amazonaws.com"}, {"X-Amz-Date", kSuiteDate}},
            kEmptySha};
  for (auto& h : extra) r.headers.push_back(std::move(h));
  return r;
}

std::string SuiteAuth(const Request& r) {
  return Authorization(r, kSuiteCreds, "us-east-1", "service", kSuiteDate);
}

TEST(SigV4Suite, GetVanillaCanonicalRequestStringToSignAndSignature) {
  const Request r = SuiteRequest("GET", "/");
  std::string signed_headers;
  const std::string creq = CanonicalRequest(r, &signed_headers);
  EXPECT_EQ(creq, std::string("GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n"
                              "\nhost;x-amz-date\n") +
                      kEmptySha);
  EXPECT_EQ(signed_headers, "host;x-amz-date");
  EXPECT_EQ(StringToSign(kSuiteDate, "20150830/us-east-1/service/aws4_request", creq),
            "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\n"
            "bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63");
  EXPECT_EQ(SuiteAuth(r),
            std::string(kSuitePrefix) +
                "SignedHeaders=host;x-amz-date, "
                "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
}

TEST(SigV4Suite, GetVanillaQueryOrderKeyCase) {
  const Request r = SuiteRequest("GET", "/", {{"Param2", "value2"}, {"Param1", "value1"}});
  EXPECT_EQ(SuiteAuth(r),
            std::string(kSuitePrefix) +
                "SignedHeaders=host;x-amz-date, "
                "Signature=b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500");
}

TEST(SigV4Suite, GetUnreserved) {
  const Request r = SuiteRequest(
      "GET",
      UriEncode("/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", true));
  EXPECT_EQ(SuiteAuth(r),
            std::string(kSuitePrefix) +
                "SignedHeaders=host;x-amz-date, "
                "Signature=07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f");
}

TEST(SigV4Suite, GetHeaderValueTrim) {
  const Request r =
      SuiteRequest("GET", "/", {}, {{"My-Header1", " value1"}, {"My-Header2", "\"a   b   c\""}});
  EXPECT_EQ(SuiteAuth(r),
            std::string(kSuitePrefix) +
                "SignedHeaders=host;my-header1;my-header2;x-amz-date, "
                "Signature=acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736");
}

TEST(SigV4Suite, PostVanillaAndHeaderValueCase) {
  EXPECT_EQ(SuiteAuth(SuiteRequest("POST", "/")),
            std::string(kSuitePrefix) +
                "SignedHeaders=host;x-amz-date, "
                "Signature=5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b");
  EXPECT_EQ(SuiteAuth(SuiteRequest("POST", "/", {}, {{"My-Header1", "VALUE1"}})),
            std::string(kSuitePrefix) +
                "SignedHeaders=host;my-header1;x-amz-date, "
                "Signature=cdbc9802e29d2942e5e10b5bccfdd67c5f22c7c4e8ae67b53629efa58b974b7d");
}

// The examples of the S3 API reference ("Signature Calculations for the
// Authorization Header: Transferring Payload in a Single Chunk").
const Credentials kS3Creds{"AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", ""};
constexpr char kS3Date[] = "20130524T000000Z";
constexpr char kS3Prefix[] =
    "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, ";

std::string S3Auth(const Request& r) {
  return Authorization(r, kS3Creds, "us-east-1", "s3", kS3Date);
}

// A GET of the example bucket's root with `query` and no body, as the
// bucket examples send it.
Request ExampleBucketGet(std::vector<std::pair<std::string, std::string>> query) {
  return Request{"GET",
                 "/",
                 std::move(query),
                 {{"Host", "examplebucket.s3.amazonaws.com"},
                  {"x-amz-content-sha256", kEmptySha},
                  {"x-amz-date", kS3Date}},
                 kEmptySha};
}

TEST(SigV4S3Examples, GetObjectWithRange) {
  Request r{"GET",
            "/test.txt",
            {},
            {{"Host", "examplebucket.s3.amazonaws.com"},
             {"Range", "bytes=0-9"},
             {"x-amz-content-sha256", kEmptySha},
             {"x-amz-date", kS3Date}},
            kEmptySha};
  EXPECT_EQ(S3Auth(r),
            std::string(kS3Prefix) +
                "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
                "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
}

TEST(SigV4S3Examples, PutObjectWithEncodedKey) {
  const std::string payload_sha = HexSha256("Welcome to Amazon S3.");
  EXPECT_EQ(payload_sha, "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");
  Request r{"PUT",
            "/" + UriEncode("test$file.text", true),
            {},
            {{"Host", "examplebucket.s3.amazonaws.com"},
             {"Date", "Fri, 24 May 2013 00:00:00 GMT"},
             {"x-amz-date", kS3Date},
             {"x-amz-storage-class", "REDUCED_REDUNDANCY"},
             {"x-amz-content-sha256", payload_sha}},
            payload_sha};
  EXPECT_EQ(r.canonical_uri, "/test%24file.text");
  EXPECT_EQ(S3Auth(r),
            std::string(kS3Prefix) +
                "SignedHeaders=date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class, "
                "Signature=98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd");
}

TEST(SigV4S3Examples, GetBucketLifecycleValuelessQuery) {
  EXPECT_EQ(S3Auth(ExampleBucketGet({{"lifecycle", ""}})),
            std::string(kS3Prefix) +
                "SignedHeaders=host;x-amz-content-sha256;x-amz-date, "
                "Signature=fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543");
}

TEST(SigV4S3Examples, ListObjects) {
  EXPECT_EQ(S3Auth(ExampleBucketGet({{"prefix", "J"}, {"max-keys", "2"}})),
            std::string(kS3Prefix) +
                "SignedHeaders=host;x-amz-content-sha256;x-amz-date, "
                "Signature=34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7");
}

TEST(SigV4, EncodingAndDates) {
  EXPECT_EQ(UriEncode("a b/c~d+e$\xc3\xa9", true), "a%20b/c~d%2Be%24%C3%A9");
  EXPECT_EQ(UriEncode("a/b", false), "a%2Fb");
  EXPECT_EQ(CanonicalQueryString({{"b", "x y"}, {"a", "2"}, {"a", "1"}}), "a=1&a=2&b=x%20y");
  EXPECT_EQ(AmzDate(1369353600), kS3Date);
  EXPECT_EQ(AmzDate(1440938160), kSuiteDate);
}

TEST(SigV4, ChangingAnySignedPartChangesTheSignature) {
  const Request base = SuiteRequest("GET", "/");
  const std::string auth = SuiteAuth(base);
  Request other = base;
  other.canonical_uri = "/x";
  EXPECT_NE(SuiteAuth(other), auth);
  other = base;
  other.payload_sha256 = "UNSIGNED-PAYLOAD";
  EXPECT_NE(SuiteAuth(other), auth);
  EXPECT_NE(Authorization(base, {"AKIDEXAMPLE", "other", ""}, "us-east-1", "service", kSuiteDate),
            auth);
  EXPECT_NE(Authorization(base, kSuiteCreds, "eu-west-1", "service", kSuiteDate), auth);
}

}  // namespace
}  // namespace tandem::store::sigv4
