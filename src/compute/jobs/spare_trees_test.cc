#include "compute/jobs/spare_trees.h"

#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

#include "common/spread_directory.h"
#include "gtest/gtest.h"

namespace tandem::compute::jobs {
namespace {

namespace fs = std::filesystem;

class SpareTreesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = "/tmp/spare_trees_test_XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    root_ = tmpl;
  }
  void TearDown() override { fs::remove_all(root_); }

  // The directories of an /opt/ml tree without channels (CreateJobTree).
  static void ExpectSkeleton(const std::string& ml) {
    for (const char* d : {"input/config", "input/data", "code", "model", "output/data",
                          "output/intermediate", "checkpoints"}) {
      EXPECT_TRUE(fs::is_directory(ml + "/" + d)) << ml << "/" << d;
    }
    EXPECT_TRUE(fs::is_empty(ml + "/code"));
  }

  std::string root_;
};

// A pid that is certainly not running: a child that has been reaped.
pid_t DeadPid() {
  pid_t pid = ::fork();
  if (pid == 0) ::_exit(0);
  ::waitpid(pid, nullptr, 0);
  return pid;
}

TEST_F(SpareTreesTest, OpenRemovesWhatDeadProcessesLeftAndKeepsTheLiving) {
  const std::string dead = root_ + "/spares/" + std::to_string(DeadPid()) + "-0";
  const std::string old_layout = root_ + "/spares/7";
  const std::string living = root_ + "/spares/" + std::to_string(::getppid()) + "-3";
  for (const std::string& d : {dead, old_layout, living}) {
    fs::create_directories(d + "/code");
    std::ofstream(d + "/code/leftover") << "x";
  }
  auto spares = SpareTrees::Open(root_ + "/spares", 2);
  ASSERT_TRUE(spares.ok()) << spares.status();
  EXPECT_FALSE(fs::exists(dead));
  EXPECT_FALSE(fs::exists(old_layout));
  EXPECT_TRUE(fs::exists(living + "/code/leftover")) << "another running process's spares";
  EXPECT_TRUE(fs::is_empty((*spares)->dir()));
  EXPECT_EQ((*spares)->ready(), 0u);
  EXPECT_FALSE((*spares)->TakeInto(root_ + "/ml")) << "nothing is ready before a refill";
  EXPECT_FALSE(fs::exists(root_ + "/ml"));
  const std::string own = (*spares)->dir();
  spares->reset();
  EXPECT_FALSE(fs::exists(own)) << "the destructor removes its own directory";
}

// Job services sharing one home (racing control planes) each keep their own
// skeletons: opening a second one removes none of the first's.
TEST_F(SpareTreesTest, TwoInstancesOnOneParentKeepTheirOwn) {
  auto a = SpareTrees::Open(root_ + "/spares", 2);
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_TRUE((*a)->Refill());
  auto b = SpareTrees::Open(root_ + "/spares", 2);
  ASSERT_TRUE(b.ok()) << b.status();
  ASSERT_NE((*a)->dir(), (*b)->dir());
  ASSERT_TRUE((*b)->Refill());
  for (int i = 0; i < 2; ++i) {
    fs::create_directories(root_ + "/a" + std::to_string(i));
    fs::create_directories(root_ + "/b" + std::to_string(i));
    ASSERT_TRUE((*a)->TakeInto(root_ + "/a" + std::to_string(i) + "/ml")) << i;
    ASSERT_TRUE((*b)->TakeInto(root_ + "/b" + std::to_string(i) + "/ml")) << i;
    ExpectSkeleton(root_ + "/a" + std::to_string(i) + "/ml");
    ExpectSkeleton(root_ + "/b" + std::to_string(i) + "/ml");
  }
}

TEST_F(SpareTreesTest, RefillMakesTheTargetAndTakeMovesACompleteSkeleton) {
  auto spares = SpareTrees::Open(root_ + "/spares", 3);
  ASSERT_TRUE(spares.ok()) << spares.status();
  ASSERT_TRUE((*spares)->Refill());
  EXPECT_EQ((*spares)->ready(), 3u);
  EXPECT_TRUE((*spares)->Refill());  // already full: makes nothing more
  EXPECT_EQ((*spares)->ready(), 3u);
  for (int i = 0; i < 3; ++i) {
    std::string ml = root_ + "/job-" + std::to_string(i) + "/ml";
    fs::create_directories(root_ + "/job-" + std::to_string(i));
    ASSERT_TRUE((*spares)->TakeInto(ml)) << i;
    ExpectSkeleton(ml);
  }
  EXPECT_EQ((*spares)->ready(), 0u);
  EXPECT_FALSE((*spares)->TakeInto(root_ + "/job-3/ml"));
  ASSERT_TRUE((*spares)->Refill());
  EXPECT_EQ((*spares)->ready(), 3u);
}

// Skeletons come and go by the thousand: where the filesystem can (ext4),
// they are spread over its block groups (common/spread_directory.h).
TEST_F(SpareTreesTest, SkeletonsAreSpreadOverTheDiskWhereTheFilesystemCan) {
  const bool can = SpreadSubdirectories(root_);  // the test's own directory: can it here?
  auto spares = SpareTrees::Open(root_ + "/spares", 1);
  ASSERT_TRUE(spares.ok()) << spares.status();
  EXPECT_EQ(SpreadsSubdirectories((*spares)->dir()), can);
  EXPECT_FALSE(SpreadsSubdirectories(root_ + "/spares"));  // its parent: one child per process
}

TEST_F(SpareTreesTest, ARefusedRenameKeepsTheSkeletonAndChangesNothing) {
  auto spares = SpareTrees::Open(root_ + "/spares", 1);
  ASSERT_TRUE(spares.ok()) << spares.status();
  ASSERT_TRUE((*spares)->Refill());
  // The target's parent is missing; then the target is a non-empty directory.
  EXPECT_FALSE((*spares)->TakeInto(root_ + "/missing/ml"));
  fs::create_directories(root_ + "/busy/ml");
  std::ofstream(root_ + "/busy/ml/keep") << "mine";
  EXPECT_FALSE((*spares)->TakeInto(root_ + "/busy/ml"));
  EXPECT_TRUE(fs::exists(root_ + "/busy/ml/keep"));
  EXPECT_FALSE(fs::exists(root_ + "/busy/ml/code"));
  EXPECT_EQ((*spares)->ready(), 1u);
  fs::create_directories(root_ + "/ok");
  EXPECT_TRUE((*spares)->TakeInto(root_ + "/ok/ml"));
  ExpectSkeleton(root_ + "/ok/ml");
}

TEST_F(SpareTreesTest, ConcurrentRefillsAndTakesNeverHandOutOneTreeTwice) {
  auto spares = SpareTrees::Open(root_ + "/spares", 4);
  ASSERT_TRUE(spares.ok()) << spares.status();
  std::vector<std::thread> threads;
  std::vector<int> taken(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 25; ++i) {
        (*spares)->Refill();
        std::string dir = root_ + "/t" + std::to_string(t) + "-" + std::to_string(i);
        fs::create_directories(dir);
        if ((*spares)->TakeInto(dir + "/ml")) ++taken[t];
      }
    });
  }
  for (auto& th : threads) th.join();
  int total = 0;
  for (int n : taken) total += n;
  EXPECT_GT(total, 0);
  // Every take is its own tree; what is left is ready and complete.
  int moved = 0;
  for (const auto& e : fs::directory_iterator(root_)) {
    if (e.path().filename() == "spares") continue;
    if (fs::exists(e.path() / "ml")) {
      ExpectSkeleton((e.path() / "ml").string());
      ++moved;
    }
  }
  EXPECT_EQ(moved, total);
  EXPECT_LE((*spares)->ready(), 4u);
  size_t left = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator((*spares)->dir())) ++left;
  EXPECT_EQ(left, (*spares)->ready());
}

}  // namespace
}  // namespace tandem::compute::jobs
