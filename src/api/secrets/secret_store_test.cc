// Team secrets: encryption at rest (AES-256-GCM), the key file, and the store
// (values never listed, names validated, teams kept apart).
#include "api/secrets/secret_store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace tandem::api::secrets {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;

class SecretsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "tandem-secrets-XXXXXX").string();
    dir_ = ::mkdtemp(tmpl.data());
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  std::string Slurp(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  std::string dir_;
};

TEST_F(SecretsTest, KeyFileIsCreated0600AndReused) {
  const std::string key = dir_ + "/secrets.key";
  auto a = SecretCipher::OpenKeyFile(key);
  ASSERT_TRUE(a.ok()) << a.status();
  struct stat st;
  ASSERT_EQ(::stat(key.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600);
  EXPECT_EQ(st.st_size, 32);
  auto sealed = a->Seal("hunter2", "aad");
  ASSERT_TRUE(sealed.ok());
  auto b = SecretCipher::OpenKeyFile(key);  // the same key again
  ASSERT_TRUE(b.ok());
  auto opened = b->Open(*sealed, "aad");
  ASSERT_TRUE(opened.ok()) << opened.status();
  EXPECT_EQ(*opened, "hunter2");
}

TEST_F(SecretsTest, KeyFileReadableByOthersOrOfTheWrongSizeIsRefused) {
  const std::string key = dir_ + "/secrets.key";
  ASSERT_TRUE(SecretCipher::OpenKeyFile(key).ok());
  ::chmod(key.c_str(), 0644);
  auto loose = SecretCipher::OpenKeyFile(key);
  EXPECT_EQ(loose.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(loose.status().message(), HasSubstr("chmod 600"));
  std::ofstream(dir_ + "/short.key") << "short";
  ::chmod((dir_ + "/short.key").c_str(), 0600);
  EXPECT_EQ(SecretCipher::OpenKeyFile(dir_ + "/short.key").status().code(),
            StatusCode::kFailedPrecondition);
}

TEST_F(SecretsTest, SealedValuesDoNotOpenUnderAnotherKeyAadOrWhenAltered) {
  auto a = SecretCipher::FromKey(std::string(32, 'a'));
  auto b = SecretCipher::FromKey(std::string(32, 'b'));
  ASSERT_TRUE(a.ok() && b.ok());
  auto sealed = a->Seal("correct horse", "team/name");
  ASSERT_TRUE(sealed.ok());
  EXPECT_THAT(*sealed, Not(HasSubstr("correct horse")));
  EXPECT_NE(*sealed, *a->Seal("correct horse", "team/name"));  // a fresh nonce each time
  EXPECT_EQ(b->Open(*sealed, "team/name").status().code(), StatusCode::kDataLoss);
  EXPECT_EQ(a->Open(*sealed, "team/other").status().code(), StatusCode::kDataLoss);
  std::string altered = *sealed;
  altered[10] = altered[10] == '0' ? '1' : '0';
  EXPECT_EQ(a->Open(altered, "team/name").status().code(), StatusCode::kDataLoss);
  EXPECT_EQ(a->Open("v1:zz", "team/name").status().code(), StatusCode::kDataLoss);
  EXPECT_EQ(SecretCipher::FromKey("short").status().code(), StatusCode::kInvalidArgument);
}

TEST_F(SecretsTest, StoreKeepsValuesEncryptedAndTeamsApart) {
  auto db = sql::Database::Open("sqlite://" + dir_ + "/t.db");
  ASSERT_TRUE(db.ok()) << db.status();
  FakeClock clock(1'700'000'000'000'000);
  auto cipher = SecretCipher::OpenKeyFile(dir_ + "/secrets.key");
  ASSERT_TRUE(cipher.ok());
  auto store = SecretStore::Open(**db, *std::move(cipher), clock);
  ASSERT_TRUE(store.ok()) << store.status();
  SecretStore& s = **store;
  const std::string value = "s3cr3t-VALUE-0123456789";
  auto created = s.Create("fraud", "db-password", value, "alice");
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_THAT(created->ToJson().dump(), Not(HasSubstr(value)));
  EXPECT_EQ(s.Create("fraud", "db-password", "other", "alice").status().code(),
            StatusCode::kAlreadyExists);
  ASSERT_TRUE(s.Create("pricing", "db-password", "pricing's", "bob").ok());

  auto v = s.Value("fraud", "db-password");
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(*v, value);
  EXPECT_EQ(*s.Value("pricing", "db-password"), "pricing's");
  EXPECT_EQ(s.Value("eta", "db-password").status().code(), StatusCode::kNotFound);
  auto list = s.List("fraud");
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].created_by, "alice");

  // Not in the database file (nor its WAL) in the clear.
  std::string everything;
  for (const auto& e : fs::directory_iterator(dir_)) everything += Slurp(e.path().string());
  EXPECT_THAT(everything, Not(HasSubstr(value)));

  for (const char* bad : {"", "-x", "a/b", "a b", "ü"}) {
    EXPECT_EQ(s.Create("fraud", bad, "v", "alice").status().code(), StatusCode::kInvalidArgument)
        << bad;
  }
  EXPECT_EQ(s.Create("fraud", "empty", "", "alice").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.Create("fraud", "big", std::string((64 << 10) + 1, 'x'), "alice").status().code(),
            StatusCode::kInvalidArgument);

  ASSERT_TRUE(s.Delete("fraud", "db-password").ok());
  EXPECT_EQ(s.Delete("fraud", "db-password").code(), StatusCode::kNotFound);
  EXPECT_EQ(s.Value("fraud", "db-password").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(*s.Value("pricing", "db-password"), "pricing's");
}

}  // namespace
}  // namespace tandem::api::secrets
