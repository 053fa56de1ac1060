#include "common/config.h"

#include <filesystem>
#include <fstream>

#include "common/config_home.h"
#include "gtest/gtest.h"

namespace tandem {
namespace {
namespace fs = std::filesystem;

class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    home_ = fs::temp_directory_path() /
            ("tandem-config-" + std::to_string(::getpid()) + "-" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(home_);
  }
  void TearDown() override { fs::remove_all(home_); }
  fs::path home_;
};

// A command that only reads a configuration (`tandem serve --config FILE`
// without a home) creates nothing in its cwd; LoadConfig creates the home.
TEST_F(ConfigTest, ReadConfigCreatesNoHome) {
  const fs::path cwd = home_ / "cwd";
  fs::create_directories(cwd);
  std::ofstream(home_ / "serve.yaml") << "log_level: debug\n";
  const fs::path before = fs::current_path();
  fs::current_path(cwd);
  auto read = ReadConfig("", (home_ / "serve.yaml").string(), {});
  const bool empty_after_read = fs::is_empty(cwd);
  auto loaded = LoadConfig("", (home_ / "serve.yaml").string(), {});
  fs::current_path(before);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_TRUE(empty_after_read) << "ReadConfig created something in the cwd";
  EXPECT_EQ(read->log_level, "debug");
  EXPECT_EQ(read->home, (fs::canonical(cwd) / ".tandem").string());
  EXPECT_EQ(read->database_uri, "sqlite://" + read->home + "/tandem.db");
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->home, read->home);
  EXPECT_TRUE(fs::is_directory(cwd / ".tandem"));  // the documented default, created
  // A home named by $TANDEM_HOME is not created by a reader either.
  auto env = ReadConfig("", "", {{"TANDEM_HOME", (home_ / "h").string()}});
  ASSERT_TRUE(env.ok()) << env.status();
  EXPECT_EQ(env->home, (home_ / "h").string());
  EXPECT_FALSE(fs::exists(home_ / "h"));
}

TEST_F(ConfigTest, DefaultsUnderHome) {
  auto c = LoadConfig(home_.string(), "", {});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->port, 7070);
  EXPECT_EQ(c->listen_host, "127.0.0.1");
  EXPECT_EQ(c->database_uri, "sqlite://" + c->home + "/tandem.db");
  EXPECT_EQ(c->store_uri, "file://" + c->home + "/store");
  EXPECT_EQ(c->bus_uri, c->database_uri);
  EXPECT_EQ(c->images_uri, "embedded");
}

TEST(ConfigHomeTest, FlagThenEnvironmentThenDotTandem) {
  EXPECT_EQ(ConfigHome("/h/flag", {{"TANDEM_HOME", "/h/env"}}), "/h/flag");
  EXPECT_EQ(ConfigHome("", {{"TANDEM_HOME", "/h/env"}}), "/h/env");
  EXPECT_EQ(ConfigHome("", {}), "./.tandem");
  EXPECT_EQ(ConfigHome("", {{"TANDEM_HOME", ""}}), "./.tandem");
  EXPECT_FALSE(fs::exists("/h/flag")) << "ConfigHome creates nothing";
}

TEST_F(ConfigTest, ImageStoreAsUriOrMapping) {
  fs::create_directories(home_);
  std::ofstream(home_ / "tandem.yaml") << "images: registry://127.0.0.1:5000\n";
  auto c = LoadConfig(home_.string(), "", {});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->images_uri, "registry://127.0.0.1:5000");

  std::ofstream(home_ / "tandem.yaml") << "images:\n  store: registry://h:1/p\n  cache_mb: 10\n";
  c = LoadConfig(home_.string(), "", {});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->images_uri, "registry://h:1/p");
  EXPECT_EQ(c->raw["images"]["cache_mb"], 10);

  // A mapping without `store` keeps the default; the environment wins.
  std::ofstream(home_ / "tandem.yaml") << "images:\n  cache_mb: 10\n";
  c = LoadConfig(home_.string(), "", {{"TANDEM_IMAGES", "registry://e:2"}});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->images_uri, "registry://e:2");

  std::ofstream(home_ / "tandem.yaml") << "images: [a]\n";
  c = LoadConfig(home_.string(), "", {});
  EXPECT_EQ(c.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(c.status().message().find("'images'"), std::string::npos);
  std::ofstream(home_ / "tandem.yaml") << "images:\n  store: 3\n";
  c = LoadConfig(home_.string(), "", {});
  EXPECT_NE(c.status().message().find("images.store"), std::string::npos);
}

TEST_F(ConfigTest, FileThenEnvironmentOverrides) {
  fs::create_directories(home_);
  std::ofstream(home_ / "tandem.yaml") << "listen: 0.0.0.0:9000\nstore: file:///tmp/x\n";
  auto c = LoadConfig(home_.string(), "", {{"TANDEM_PORT", "9100"}, {"TANDEM_BUS", "nats://h"}});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->listen_host, "0.0.0.0");
  EXPECT_EQ(c->port, 9100);
  EXPECT_EQ(c->store_uri, "file:///tmp/x");
  EXPECT_EQ(c->bus_uri, "nats://h");
}

TEST_F(ConfigTest, HomeFromEnvironment) {
  auto c = LoadConfig("", "", {{"TANDEM_HOME", home_.string()}});
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->home, fs::absolute(home_).lexically_normal().string());
}

TEST_F(ConfigTest, UnknownOrIllTypedKeysAreRefused) {
  fs::create_directories(home_);
  std::ofstream(home_ / "tandem.yaml") << "databse: sqlite:///x\n";
  auto c = LoadConfig(home_.string(), "", {});
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("databse"), std::string::npos);

  std::ofstream(home_ / "tandem.yaml") << "max_body_mb: lots\n";
  c = LoadConfig(home_.string(), "", {});
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("max_body_mb"), std::string::npos);

  std::ofstream(home_ / "tandem.yaml") << "store: [unclosed\n";
  c = LoadConfig(home_.string(), "", {});
  EXPECT_EQ(c.status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace tandem

namespace tandem {
namespace {

TEST(ConfigTlsTest, ServerSectionAndEnvironment) {
  auto home =
      std::filesystem::temp_directory_path() / ("tandem-config-tls-" + std::to_string(::getpid()));
  std::filesystem::create_directories(home);
  std::ofstream(home / "tandem.yaml") << "server:\n  tls_cert: /c.pem\n  tls_key: /k.pem\n"
                                         "  insecure: true\n";
  auto c = LoadConfig(home.string(), "", {});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->tls_cert, "/c.pem");
  EXPECT_EQ(c->tls_key, "/k.pem");
  EXPECT_TRUE(c->insecure);
  auto e =
      LoadConfig(home.string(), "", {{"TANDEM_TLS_CERT", "/e.pem"}, {"TANDEM_TLS_KEY", "/e.key"}});
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->tls_cert, "/e.pem");
  EXPECT_EQ(e->tls_key, "/e.key");
  for (const char* bad :
       {"server: /x\n", "server:\n  tls_cert: 3\n", "server:\n  insecure: yes please\n",
        "server:\n  tls_certificate: /c.pem\n"}) {
    std::ofstream(home / "tandem.yaml") << bad;
    auto r = LoadConfig(home.string(), "", {});
    EXPECT_FALSE(r.ok()) << bad;
    EXPECT_NE(std::string(r.status().message()).find("server"), std::string::npos) << r.status();
  }
  std::filesystem::remove_all(home);
}

TEST(ConfigTlsTest, ServerClientLimits) {
  auto home = std::filesystem::temp_directory_path() /
              ("tandem-config-limits-" + std::to_string(::getpid()));
  std::filesystem::create_directories(home);
  auto defaults = LoadConfig(home.string(), "", {});
  ASSERT_TRUE(defaults.ok()) << defaults.status();
  EXPECT_EQ(defaults->client_limits.min_body_bytes_per_s, 1024);
  EXPECT_EQ(defaults->client_limits.body_window_ms, 20'000);
  EXPECT_EQ(defaults->client_limits.max_connections, 4096);
  EXPECT_EQ(defaults->client_limits.max_connections_per_client, 0);
  std::ofstream(home / "tandem.yaml") << "server:\n  min_body_bytes_per_s: 0\n  body_window_s: 3\n"
                                         "  max_connections: 64\n  max_connections_per_client: 8\n";
  auto c = LoadConfig(home.string(), "", {});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->client_limits.min_body_bytes_per_s, 0);
  EXPECT_EQ(c->client_limits.body_window_ms, 3000);
  EXPECT_EQ(c->client_limits.max_connections, 64);
  EXPECT_EQ(c->client_limits.max_connections_per_client, 8);
  for (const char* bad :
       {"server:\n  min_body_bytes_per_s: -1\n", "server:\n  body_window_s: 0\n",
        "server:\n  body_window_s: 1.5\n", "server:\n  max_connections: 0\n",
        "server:\n  max_connections: lots\n", "server:\n  max_connections_per_client: -2\n"}) {
    std::ofstream(home / "tandem.yaml") << bad;
    auto r = LoadConfig(home.string(), "", {});
    ASSERT_FALSE(r.ok()) << bad;
    const std::string key = std::string(bad).substr(10, std::string(bad).find(':', 10) - 10);
    EXPECT_NE(std::string(r.status().message()).find("'server." + key + "' must be an integer"),
              std::string::npos)
        << r.status();
  }
  std::filesystem::remove_all(home);
}

TEST(ConfigTlsTest, LoopbackHosts) {
  for (const char* h : {"127.0.0.1", "127.1.2.3", "localhost", "::1"}) {
    EXPECT_TRUE(IsLoopbackHost(h)) << h;
  }
  for (const char* h : {"0.0.0.0", "10.0.0.1", "::", "example.com", "128.0.0.1", "127.0.0.1.x", "",
                        "127.0.0.256"}) {
    EXPECT_FALSE(IsLoopbackHost(h)) << h;
  }
}

TEST(ConfigTlsTest, NonLoopbackNeedsTlsOrInsecure) {
  EXPECT_TRUE(CheckListenSecurity("cp", "127.0.0.1", "", "", false).ok());
  Status refused = CheckListenSecurity("cp", "0.0.0.0", "", "", false);
  EXPECT_EQ(refused.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(refused.message()).find("--insecure"), std::string::npos) << refused;
  EXPECT_NE(std::string(refused.message()).find("--tls-cert"), std::string::npos) << refused;
  EXPECT_TRUE(CheckListenSecurity("cp", "0.0.0.0", "", "", true).ok());
  EXPECT_TRUE(CheckListenSecurity("cp", "0.0.0.0", "/c", "/k", false).ok());
  EXPECT_FALSE(CheckListenSecurity("cp", "127.0.0.1", "/c", "", false).ok());
  EXPECT_FALSE(CheckListenSecurity("cp", "127.0.0.1", "", "/k", true).ok());
}

}  // namespace
}  // namespace tandem
