#include "runtime/worker_sandbox.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>

#include "runtime/python_handler_pool.h"
#include "runtime/testing/xgboost_test_util.h"

namespace tandem::runtime {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
namespace fs = std::filesystem;

// The value following `flag` ... `src` in argv, i.e. where `src` is bound.
std::string BoundAt(const std::vector<std::string>& argv, const std::string& flag,
                    const std::string& src) {
  for (size_t i = 0; i + 2 < argv.size(); ++i) {
    if (argv[i] == flag && argv[i + 1] == src) return argv[i + 2];
  }
  return "";
}

WorkerSandbox Sandbox(const std::string& rootfs) {
  return WorkerSandbox{"/usr/bin/bwrap", rootfs, {"PATH=/opt/conda/bin:/usr/bin", "A=image"},
                       "/srv", "sha256:abc"};
}

TEST(WorkerSandboxTest, HandlerInsideThePackageKeepsItsPlace) {
  WorkerPaths p = SandboxedPaths("/models/m1/code/handler.py", "/models/m1");
  EXPECT_EQ(p.model_dir, "/opt/ml/model");
  EXPECT_EQ(p.handler, "/opt/ml/model/code/handler.py");
  WorkerPaths outside = SandboxedPaths("/elsewhere/h.py", "/models/m1");
  EXPECT_EQ(outside.handler, "/opt/tandem-handler/h.py");
  // A sibling directory with the package's name as prefix is outside.
  EXPECT_EQ(SandboxedPaths("/models/m10/h.py", "/models/m1").handler, "/opt/tandem-handler/h.py");
}

TEST(WorkerSandboxTest, CommandBindsTheImageRootReadOnlyAndThePackage) {
  std::vector<std::string> argv =
      WorkerBwrapCommand(Sandbox("/cache/images/x/rootfs"), "/models/m1/handler.py",
                         "/models/m1", {{"conda", ""}, {"ml", ""}, {"link", "/usr/share"}},
                         {"python3", "-c", "script"});
  ASSERT_GE(argv.size(), 4u);
  EXPECT_EQ(argv[0], "/usr/bin/bwrap");
  EXPECT_EQ(BoundAt(argv, "--ro-bind", "/cache/images/x/rootfs"), "/");
  EXPECT_EQ(BoundAt(argv, "--ro-bind", "/models/m1"), "/opt/ml/model");
  // The image's /opt entries are re-exposed; its own "ml" gives way to the model.
  EXPECT_EQ(BoundAt(argv, "--ro-bind-try", "/cache/images/x/rootfs/opt/conda"), "/opt/conda");
  EXPECT_EQ(BoundAt(argv, "--ro-bind-try", "/cache/images/x/rootfs/opt/ml"), "");
  // A symlink is recreated, never bound (its target would be the host's).
  EXPECT_EQ(BoundAt(argv, "--symlink", "/usr/share"), "/opt/link");
  EXPECT_EQ(BoundAt(argv, "--ro-bind-try", "/cache/images/x/rootfs/opt/link"), "");
  // Nothing writable is bound from the host.
  EXPECT_EQ(std::count(argv.begin(), argv.end(), "--bind"), 0);
  EXPECT_EQ(BoundAt(argv, "--chdir", "/srv"), "--");
  auto dash = std::find(argv.begin(), argv.end(), "--");
  ASSERT_NE(dash, argv.end());
  EXPECT_THAT(std::vector<std::string>(dash + 1, argv.end()), ElementsAre("python3", "-c", "script"));
}

TEST(WorkerSandboxTest, HandlerOutsideThePackageIsBoundOnItsOwn) {
  std::vector<std::string> argv = WorkerBwrapCommand(Sandbox("/r"), "/elsewhere/h.py",
                                                     "/models/m1", {}, {"python3"});
  EXPECT_EQ(BoundAt(argv, "--ro-bind", "/elsewhere/h.py"), "/opt/tandem-handler/h.py");
}

TEST(WorkerSandboxTest, EnvironmentIsTheImagesNotTheHosts) {
  ::setenv("TANDEM_SANDBOX_TEST_HOST_ONLY", "1", 1);
  std::vector<std::string> env = WorkerEnvironment(Sandbox("/r"), {{"A", "package"}});
  EXPECT_THAT(env, ElementsAre("A=package", "HOME=/tmp", "OMP_NUM_THREADS=1",
                               "PATH=/opt/conda/bin:/usr/bin"));
}

TEST(WorkerSandboxTest, ImageOptEntriesListsDirectoriesAndSymlinks) {
  testing::TempDir dir;
  fs::create_directories(dir.path() + "/opt/tool");
  fs::create_directories(dir.path() + "/opt/ml");  // reserved: the model goes there
  fs::create_symlink("/etc", dir.path() + "/opt/etc-link");
  std::vector<OptEntry> entries = ImageOptEntries(dir.path());
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries[0].name, "etc-link");
  EXPECT_EQ(entries[0].symlink_target, "/etc");
  EXPECT_EQ(entries[1].name, "tool");
  EXPECT_EQ(entries[1].symlink_target, "");
  EXPECT_TRUE(ImageOptEntries(dir.path() + "/missing").empty());
}

TEST(WorkerSandboxTest, PoolRefusesAMissingRootOrBubblewrap) {
  testing::TempDir dir;
  std::string handler = dir.Write("handler.py", "def load(d): return 1\n");
  PythonPoolOptions o;
  o.workers = 1;
  o.sandbox = Sandbox(dir.path() + "/no-such-rootfs");
  auto pool = PythonHandlerPool::Start(handler, dir.path(), o);
  ASSERT_FALSE(pool.ok());
  EXPECT_EQ(pool.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(pool.status().message(), HasSubstr("sha256:abc"));
  EXPECT_THAT(pool.status().message(), HasSubstr("no-such-rootfs"));
  o.sandbox->bwrap_path = "";
  o.sandbox->rootfs = dir.path();
  pool = PythonHandlerPool::Start(handler, dir.path(), o);
  ASSERT_FALSE(pool.ok());
  EXPECT_THAT(pool.status().message(), HasSubstr("bubblewrap"));
}

}  // namespace
}  // namespace tandem::runtime
