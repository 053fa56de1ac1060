#include "glue/store/object_store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "glue/store/name_record.h"
#include "glue/store/sha256.h"

namespace tandem::store {
namespace {

using ::testing::HasSubstr;

TEST(ValidateKeyTest, AcceptsOrdinaryKeys) {
  for (const char* k :
       {"a", "jobs/01abc/model.tar.gz", "a.b/c-d_e", "x/.hidden", "a/..b", "unicode/é", "a b/c"}) {
    EXPECT_TRUE(ValidateKey(k).ok()) << k;
  }
  EXPECT_TRUE(ValidateKey(std::string(250, 'x')).ok());
  EXPECT_TRUE(ValidateKey(std::string(250, 'x') + "/" + std::string(250, 'y')).ok());
}

TEST(ValidateKeyTest, RefusesWithReasonNamingTheKey) {
  struct Case {
    std::string key;
    std::string reason;
  };
  for (const Case& c : std::vector<Case>{{"", "empty key"},
                                         {"/abs", "absolute"},
                                         {"../x", "'..' segment"},
                                         {"a/..", "'..' segment"},
                                         {".", "'.' segment"},
                                         {"a/./b", "'.' segment"},
                                         {"a//b", "empty path segment"},
                                         {"a/", "empty path segment"},
                                         {"a\\b", "backslash"},
                                         {std::string("a\0b", 3), "NUL"},
                                         {"a\tb", "control character"},
                                         {std::string(1025, 'a'), "longer than 1024"},
                                         {std::string(251, 'a'), "segment longer"}}) {
    Status s = ValidateKey(c.key);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << c.reason;
    EXPECT_THAT(std::string(s.message()), HasSubstr(c.reason));
    if (c.key.size() < 100 && c.key.find('\0') == std::string::npos && c.key != "a\tb") {
      EXPECT_THAT(std::string(s.message()), HasSubstr("'" + c.key + "'"));
    }
  }
}

TEST(ValidateDigestTest, AcceptsOnlyLowercaseSha256) {
  EXPECT_TRUE(ValidateDigest(Sha256Digest("abc")).ok());
  EXPECT_EQ(Sha256Digest("abc"),
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_FALSE(ValidateDigest("sha256:" + std::string(64, 'F')).ok());
  EXPECT_FALSE(ValidateDigest("sha512:" + std::string(64, 'f')).ok());
  EXPECT_FALSE(ValidateDigest("sha256:" + std::string(65, 'f')).ok());
  EXPECT_THAT(std::string(ValidateDigest("nope").message()), HasSubstr("'nope'"));
}

TEST(NameRecordTest, RoundTripsAndRefusesCorruptRecords) {
  ObjectInfo info{"a/b", "sha256:" + std::string(64, 'a'), 12, 34};
  auto back = DecodeNameRecord(EncodeNameRecord(info), "a/b", "for 'a/b'");
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->digest, info.digest);
  EXPECT_EQ(back->size, 12u);
  EXPECT_EQ(back->created_micros, 34);
  for (const auto& [text, why] : std::vector<std::pair<std::string, std::string>>{
           {"[]", "not a JSON object"},
           {R"({"key":"a/b"})", "is corrupt"},
           {EncodeNameRecord(ObjectInfo{"other", info.digest, 1, 1}), "records key 'other'"},
           {EncodeNameRecord(ObjectInfo{"a/b", "sha256:zz", 1, 1}), "bad digest"},
           {std::string(kMaxNameRecordBytes + 1, ' '), "too large"}}) {
    auto bad = DecodeNameRecord(text, "a/b", "for 'a/b'");
    ASSERT_FALSE(bad.ok()) << text.substr(0, 40);
    EXPECT_EQ(bad.status().code(), StatusCode::kDataLoss);
    EXPECT_NE(std::string(bad.status().message()).find(why), std::string::npos) << bad.status();
  }
}

TEST(Sha256Test, IncrementalEqualsOneShot) {
  Sha256 h;
  h.Update("a");
  h.Update("");
  h.Update("bc");
  EXPECT_EQ(h.FinishDigest(), Sha256Digest("abc"));
}

}  // namespace
}  // namespace tandem::store
