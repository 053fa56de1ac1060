// WarmPool with a FakeClock: retain, take, expiry, replacement, no sharing.
#include "compute/jobs/warm_pool.h"

#include <filesystem>
#include <fstream>

#include "common/ids.h"
#include "gtest/gtest.h"

namespace tandem::compute::jobs {
namespace {

namespace fs = std::filesystem;

class WarmPoolTest : public ::testing::Test {
 protected:
  void SetUp() override { root_ = "/tmp/tandem-warm-" + NewUlid(Clock::Real()); }
  void TearDown() override { fs::remove_all(root_); }

  // A prepared environment (code + data dirs) under `name`.
  std::pair<std::string, std::string> Env(const std::string& name) {
    std::string code = root_ + "/" + name + "/code", data = root_ + "/" + name + "/data";
    fs::create_directories(code);
    fs::create_directories(data + "/train");
    std::ofstream(code + "/train.py") << "print(1)\n";
    std::ofstream(data + "/train/x.csv") << name;
    return {code, data};
  }

  std::string root_;
  FakeClock clock_;
};

TEST_F(WarmPoolTest, KeyDependsOnSourcesResourcesAndTeam) {
  Resources r;
  std::string k = WarmPool::Key("sha256:a", {{"train", "sha256:b"}}, r, "t");
  EXPECT_EQ(k.size(), 64u);
  EXPECT_EQ(k, WarmPool::Key("sha256:a", {{"train", "sha256:b"}}, r, "t"));
  EXPECT_NE(k, WarmPool::Key("sha256:x", {{"train", "sha256:b"}}, r, "t"));
  EXPECT_NE(k, WarmPool::Key("sha256:a", {{"train", "sha256:c"}}, r, "t"));
  EXPECT_NE(k, WarmPool::Key("sha256:a", {{"test", "sha256:b"}}, r, "t"));
  Resources bigger = r;
  bigger.cpus = 2;
  EXPECT_NE(k, WarmPool::Key("sha256:a", {{"train", "sha256:b"}}, bigger, "t"));
  // Another team never gets a tree this team's job could have rewritten.
  EXPECT_NE(k, WarmPool::Key("sha256:a", {{"train", "sha256:b"}}, r, "other"));
}

TEST_F(WarmPoolTest, TakeWithinWindowMovesTheEnvironmentOnce) {
  WarmPool pool(root_ + "/warm", clock_);
  auto [code, data] = Env("a");
  auto retained = pool.Retain("k1", code, data, 60, "job-a", Json{{"code_digest", "sha256:c"}});
  ASSERT_TRUE(retained.ok()) << retained.status();
  EXPECT_FALSE(retained->has_value());
  EXPECT_FALSE(fs::exists(code));
  clock_.AdvanceSeconds(10);
  std::string to = root_ + "/next";
  fs::create_directories(to);
  auto taken = pool.Take("k1", to + "/code", to + "/data");
  ASSERT_TRUE(taken.ok()) << taken.status();
  ASSERT_TRUE(taken->has_value());
  EXPECT_EQ((*taken)->origin_job_id, "job-a");
  EXPECT_DOUBLE_EQ((*taken)->retained_seconds, 10);
  EXPECT_EQ((*taken)->info["code_digest"], "sha256:c");
  EXPECT_TRUE(fs::exists(to + "/code/train.py"));
  EXPECT_TRUE(fs::exists(to + "/data/train/x.csv"));
  // Taken once: a second job finds nothing.
  auto again = pool.Take("k1", root_ + "/other/code", root_ + "/other/data");
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(again->has_value());
  EXPECT_FALSE(pool.Take("unknown", to + "/c2", to + "/d2")->has_value());
}

TEST_F(WarmPoolTest, ExpiredEntriesAreNotTakenAndAreDeleted) {
  WarmPool pool(root_ + "/warm", clock_);
  auto [code, data] = Env("a");
  ASSERT_TRUE(pool.Retain("k1", code, data, 30, "job-a").ok());
  auto [code2, data2] = Env("b");
  ASSERT_TRUE(pool.Retain("k2", code2, data2, 300, "job-b").ok());
  clock_.AdvanceSeconds(31);
  auto expired = pool.Expire();
  ASSERT_EQ(expired.size(), 1u);
  EXPECT_EQ(expired[0].key, "k1");
  EXPECT_EQ(expired[0].origin_job_id, "job-a");
  EXPECT_DOUBLE_EQ(expired[0].retained_seconds, 31);
  EXPECT_FALSE(fs::exists(root_ + "/warm/k1"));
  EXPECT_TRUE(fs::exists(root_ + "/warm/k2"));
  clock_.AdvanceSeconds(300);
  EXPECT_FALSE(pool.Take("k2", root_ + "/n/code", root_ + "/n/data")->has_value());
  EXPECT_FALSE(fs::exists(root_ + "/warm/k2"));
}

TEST_F(WarmPoolTest, RetainingTheSameKeyReplacesAndReleasesTheOldEntry) {
  WarmPool pool(root_ + "/warm", clock_);
  auto [code, data] = Env("a");
  ASSERT_TRUE(pool.Retain("k1", code, data, 60, "job-a").ok());
  clock_.AdvanceSeconds(5);
  auto [code2, data2] = Env("b");
  auto replaced = pool.Retain("k1", code2, data2, 60, "job-b");
  ASSERT_TRUE(replaced.ok());
  ASSERT_TRUE(replaced->has_value());
  EXPECT_EQ((*replaced)->origin_job_id, "job-a");
  EXPECT_DOUBLE_EQ((*replaced)->retained_seconds, 5);
  std::ifstream in(root_ + "/warm/k1/data/train/x.csv");
  std::string content;
  in >> content;
  EXPECT_EQ(content, "b");
}

}  // namespace
}  // namespace tandem::compute::jobs
