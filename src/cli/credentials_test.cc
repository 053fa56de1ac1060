#include "cli/credentials.h"

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "gtest/gtest.h"

namespace tandem::cli {
namespace {
namespace fs = std::filesystem;

class CredentialsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("tandem-cred-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

TEST_F(CredentialsTest, PathFollowsXdgThenHome) {
  EXPECT_EQ(CredentialsPath({{"XDG_CONFIG_HOME", "/x"}, {"HOME", "/h"}}), "/x/tandem/credentials");
  EXPECT_EQ(CredentialsPath({{"HOME", "/h"}}), "/h/.config/tandem/credentials");
  EXPECT_EQ(CredentialsPath({}), "");
}

TEST_F(CredentialsTest, WrittenOwnerOnlyAndReadBack) {
  EnvLookup env = {{"XDG_CONFIG_HOME", dir_.string()}};
  std::string path = CredentialsPath(env);
  ASSERT_TRUE(WriteCredentials(path, "http://127.0.0.1:7070", "tdm_secret").ok());
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(::stat((dir_ / "tandem").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  EXPECT_EQ(*ReadCredentialsToken(path), "tdm_secret");
  EXPECT_EQ(ResolveToken(env), "tdm_secret");
  env["TANDEM_TOKEN"] = "tdm_env";  // the environment wins
  EXPECT_EQ(ResolveToken(env), "tdm_env");
}

TEST_F(CredentialsTest, MissingAndMalformedFiles) {
  std::string path = (dir_ / "credentials").string();
  EXPECT_EQ(ReadCredentialsToken(path).status().code(), StatusCode::kNotFound);
  std::ofstream(path) << "token=abc\n";
  auto bad = ReadCredentialsToken(path);
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(bad.status().message()).find(path), std::string::npos);
  EXPECT_EQ(ResolveToken({{"XDG_CONFIG_HOME", dir_.string()}}), "");
}

TEST_F(CredentialsTest, CaFileFromEnvironmentThenFile) {
  EnvLookup env = {{"XDG_CONFIG_HOME", dir_.string()}};
  std::string path = CredentialsPath(env);
  EXPECT_EQ(ResolveCaFile(env), "");  // no file
  ASSERT_TRUE(WriteCredentials(path, "https://cp:7443", "tdm_secret", "/etc/tandem/ca.pem").ok());
  EXPECT_EQ(ResolveCaFile(env), "/etc/tandem/ca.pem");
  EXPECT_EQ(ResolveToken(env), "tdm_secret");
  env["TANDEM_CA_FILE"] = "/other/ca.pem";  // the environment wins
  EXPECT_EQ(ResolveCaFile(env), "/other/ca.pem");
  env.erase("TANDEM_CA_FILE");
  // Written by hand, relative to the file's directory.
  std::ofstream(path) << R"({"server": "https://cp", "token": "t", "ca_file": "ca.pem"})";
  EXPECT_EQ(ResolveCaFile(env), (dir_ / "tandem" / "ca.pem").string());
  // Without one: none.
  ASSERT_TRUE(WriteCredentials(path, "http://127.0.0.1:7070", "tdm_secret").ok());
  EXPECT_EQ(ResolveCaFile(env), "");
}

TEST_F(CredentialsTest, ServerFromEnvironmentThenFileThenDefault) {
  EnvLookup env = {{"XDG_CONFIG_HOME", dir_.string()}};
  EXPECT_EQ(ResolveServer(env), "http://127.0.0.1:7070");  // no file
  std::string path = CredentialsPath(env);
  ASSERT_TRUE(WriteCredentials(path, "https://a:7443,https://b:7443", "tdm_secret").ok());
  EXPECT_EQ(ResolveServer(env), "https://a:7443,https://b:7443");
  env["TANDEM_URL"] = "http://url:1";
  EXPECT_EQ(ResolveServer(env), "http://url:1");
  env["TANDEM_SERVER"] = "http://server:2";  // wins over TANDEM_URL
  EXPECT_EQ(ResolveServer(env), "http://server:2");
  env.erase("TANDEM_SERVER");
  env.erase("TANDEM_URL");
  std::ofstream(path) << "not json";  // a malformed file: the default
  EXPECT_EQ(ResolveServer(env), "http://127.0.0.1:7070");
}

}  // namespace
}  // namespace tandem::cli
