// LocalPathPolicy (which local paths a REST spec may name), the `security:`
// section of tandem.yaml and the host paths hidden from sandboxed jobs.
#include "api/local_paths.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>

namespace tandem::api {
namespace {

namespace fs = std::filesystem;
using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::Not;

class LocalPathsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "tandem-paths-XXXXXX").string();
    root_ = ::mkdtemp(tmpl.data());
    fs::create_directories(root_ + "/data/train");
    fs::create_directories(root_ + "/home");
    std::ofstream(root_ + "/data/train/a.csv") << "1,2\n";
    std::ofstream(root_ + "/home/tandem.db") << "db";
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(root_, ec);
  }
  std::string root_;
};

TEST_F(LocalPathsTest, NoPrefixRefusesEveryLocalPath) {
  LocalPathPolicy none;
  for (const std::string& p : std::vector<std::string>{"/etc/passwd", "file:///etc",
                                                       root_ + "/data/train",
                                                       root_ + "/home/tandem.db", "/"}) {
    Status s = none.Check(p, "inputs.train");
    EXPECT_EQ(s.code(), StatusCode::kPermissionDenied) << p;
    EXPECT_THAT(s.message(), HasSubstr("inputs.train: the local path " + p + " is refused"));
    EXPECT_THAT(s.message(), HasSubstr("none is allowed"));
  }
}

TEST_F(LocalPathsTest, StoreKeysAndDigestsAreNotLocal) {
  LocalPathPolicy none;
  for (const char* v : {"", "datasets/train.csv", "teams/a/uploads/x/inputs/train",
                        "sha256:0000000000000000000000000000000000000000000000000000000000000000",
                        "etc/passwd"}) {
    EXPECT_TRUE(none.Check(v, "source_dir").ok()) << v;
  }
}

TEST_F(LocalPathsTest, AllowedPrefixIsCanonicalAndNotEscapedByDotsOrLinks) {
  LocalPathPolicy policy({fs::canonical(root_ + "/data").string()});
  EXPECT_TRUE(policy.Check(root_ + "/data/train/a.csv", "inputs.train").ok());
  EXPECT_TRUE(policy.Check("file://" + root_ + "/data", "inputs.train").ok());
  EXPECT_TRUE(policy.Check(root_ + "/data/not-yet", "inputs.train").ok());
  // `..` out of the prefix, a sibling sharing its name's start, a link out of it.
  fs::create_directories(root_ + "/data2");
  fs::create_directory_symlink(root_ + "/home", root_ + "/data/home-link");
  for (const std::string& p :
       std::vector<std::string>{root_ + "/data/../home/tandem.db", root_ + "/data2",
                                root_ + "/data/home-link/tandem.db", root_ + "/home"}) {
    Status s = policy.Check(p, "source_dir");
    EXPECT_EQ(s.code(), StatusCode::kPermissionDenied) << p;
    EXPECT_THAT(s.message(), HasSubstr("allowed: "));
  }
}

TEST_F(LocalPathsTest, JobSpecFieldsAreNamed) {
  LocalPathPolicy none;
  compute::jobs::JobSpec spec;
  spec.entry_point = "train.py";
  spec.source_dir = "jobs/uploads/x/source.tar.gz";
  spec.inputs = {{"train", "datasets/train"}, {"keys", "/etc/ssl/private"}};
  Status s = none.CheckJobSpec(spec, "training_job.");
  EXPECT_EQ(s.code(), StatusCode::kPermissionDenied);
  EXPECT_THAT(s.message(), HasSubstr("training_job.inputs.keys: the local path /etc/ssl/private"));
  spec.inputs.erase("keys");
  EXPECT_TRUE(none.CheckJobSpec(spec).ok());
  spec.source_dir = root_ + "/home";
  EXPECT_THAT(none.CheckJobSpec(spec).message(), HasSubstr("source_dir: the local path"));
}

TEST_F(LocalPathsTest, SecuritySection) {
  Config c;
  c.raw = Json::parse(R"({"security": {"allowed_local_paths": ["/srv/data/"],
                                        "hidden_paths": ["/srv/keys"]}})");
  auto s = SecurityConfig::FromConfig(c);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->allowed_local_paths, std::vector<std::string>{"/srv/data/"});
  EXPECT_EQ(s->hidden_paths, std::vector<std::string>{"/srv/keys"});
  for (const char* bad : {R"({"security": {"allowed_local_paths": ["srv/data"]}})",
                          R"({"security": {"allowed_local_paths": "/srv"}})",
                          R"({"security": {"allowed_local_paths": ["/"]}})",
                          R"({"security": {"hidden_paths": [3]}})",
                          R"({"security": {"allowed_paths": []}})"}) {
    c.raw = Json::parse(bad);
    auto r = SecurityConfig::FromConfig(c);
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(r.status().message(), HasSubstr("security.")) << bad;
  }
  c.raw = Json::object();
  auto empty = SecurityConfig::FromConfig(c);
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->allowed_local_paths.empty());
}

TEST_F(LocalPathsTest, HiddenPathsCoverHomeDatabaseStoreAndCredentials) {
  Config c;
  c.home = "/var/lib/tandem";
  c.database_uri = "sqlite:///srv/db/tandem.db";
  c.bus_uri = "postgres://localhost/tandem";
  c.store_uri = "file:///srv/store";
  SecurityConfig sec;
  sec.hidden_paths = {"/srv/keys"};
  auto hidden = SandboxHiddenPaths(c, sec, {{"HOME", "/home/ops"}});
  for (const char* p : {"/var/lib/tandem", "/srv/db/tandem.db", "/srv/db/tandem.db-wal",
                        "/srv/store", "/home/ops/.config/tandem", "/srv/keys"}) {
    EXPECT_THAT(hidden, Contains(std::string(p)));
  }
  EXPECT_THAT(hidden, Not(Contains(std::string("/"))));
  auto xdg = SandboxHiddenPaths(c, sec, {{"HOME", "/home/ops"}, {"XDG_CONFIG_HOME", "/cfg"}});
  EXPECT_THAT(xdg, Contains(std::string("/cfg/tandem")));
}

}  // namespace
}  // namespace tandem::api
