// The pre-forked launcher (launcher.h) with the real tandem-job-runner:
// malformed messages are refused without stopping it, a launch forks a
// detached runner that runs the job, a runner that cannot start is reported
// with its diagnostics, and a dead launcher is reported as gone (nothing ran).
#include "compute/substrates/runner/launcher.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "common/subprocess_core.h"
#include "compute/jobs/substrate.h"
#include "compute/substrates/local/substrate.h"
#include "compute/substrates/runner/protocol.h"
#include "gtest/gtest.h"

namespace tandem::compute::runner {
namespace {

namespace fs = std::filesystem;

class LauncherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(jobs::ResolveRunner(runner_).ok());
    root_ = "/tmp/tandem-launcher-test-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name();
    fs::remove_all(root_);
    fs::create_directories(root_ + "/job");
    std::string error;
    launcher_ = Launcher::Start(runner_, &error);
    ASSERT_NE(launcher_, nullptr) << error;
  }
  void TearDown() override {
    launcher_.reset();
    fs::remove_all(root_);
  }

  // A state dir with the request of a job running `script` unsandboxed.
  std::string Prepare(const std::string& name, const std::string& script) {
    std::string dir = root_ + "/" + name;
    fs::create_directories(dir);
    jobs::LaunchRequest r;
    r.job_id = name;
    r.job_dir = root_ + "/job";
    r.log_path = root_ + "/" + name + ".log";
    r.argv = {"/bin/sh", "-c", script};
    r.env = {{"PATH", "/usr/bin:/bin"}};
    r.working_dir = root_ + "/job";
    r.max_runtime_seconds = 60;
    local::LocalSubstrateOptions options;
    EXPECT_EQ(WriteRunnerRequest(dir, r, "", options), "");
    return dir;
  }

  static bool WaitForFile(const std::string& path) {
    for (int i = 0; i < 3000 && !fs::exists(path); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return fs::exists(path);
  }

  std::string runner_;
  std::string root_;
  std::unique_ptr<Launcher> launcher_;
};

TEST_F(LauncherTest, LaunchForksADetachedRunnerThatRunsTheJob) {
  std::string dir = Prepare("ok", "echo hello; exit 3");
  std::string error;
  ASSERT_EQ(launcher_->Launch(dir, &error), Launcher::Outcome::kStarted) << error;
  Json runner;
  ASSERT_EQ(ReadJsonFile(dir + "/" + kRunnerFile, &runner), "");
  const int pid = runner["pid"].get<int>();
  EXPECT_NE(pid, launcher_->pid());
  ASSERT_TRUE(WaitForFile(dir + "/" + kResultFile));
  Json result;
  ASSERT_EQ(ReadJsonFile(dir + "/" + kResultFile, &result), "");
  EXPECT_EQ(result["kind"], "Exited");
  EXPECT_EQ(result["exit_code"], 3);
  EXPECT_EQ(ReadFile(root_ + "/ok.log").value_or(""), "hello\n");
}

TEST_F(LauncherTest, RunnerInItsOwnSessionWithoutTheLauncherSocket) {
  std::string dir = Prepare("session", "exec sleep 30");
  std::string error;
  ASSERT_EQ(launcher_->Launch(dir, &error), Launcher::Outcome::kStarted) << error;
  Json runner;
  ASSERT_EQ(ReadJsonFile(dir + "/" + kRunnerFile, &runner), "");
  const int pid = runner["pid"].get<int>();
  EXPECT_EQ(getsid(pid), pid);
  for (const auto& fd : fs::directory_iterator("/proc/" + std::to_string(pid) + "/fd")) {
    std::error_code ec;
    EXPECT_EQ(fs::read_symlink(fd.path(), ec).string().find("socket:"), std::string::npos)
        << fd.path();
  }
  // Its stderr is the attempt's runner.log.
  std::error_code ec;
  EXPECT_EQ(fs::read_symlink("/proc/" + std::to_string(pid) + "/fd/2", ec).string(),
            dir + "/" + kRunnerLogFile);
  ASSERT_EQ(kill(pid, SIGTERM), 0);  // stop the job
  EXPECT_TRUE(WaitForFile(dir + "/" + kResultFile));
}

TEST_F(LauncherTest, MalformedMessagesAreRefusedAndTheLauncherKeepsServing) {
  EXPECT_EQ(launcher_->SendRawForTest("bogus", true),
            "Elauncher message must be \"run <state dir>\"");
  EXPECT_EQ(launcher_->SendRawForTest("", true), "Elauncher message must be \"run <state dir>\"");
  EXPECT_EQ(launcher_->SendRawForTest("run relative/dir", true),
            "Elauncher message: the state dir must be absolute");
  EXPECT_EQ(launcher_->SendRawForTest(std::string("run /tmp\0x", 10), true),
            "Elauncher message: the state dir has a NUL or newline");
  EXPECT_EQ(launcher_->SendRawForTest("run " + root_ + "/missing", true),
            "Elauncher message: " + root_ + "/missing is not a directory");
  EXPECT_EQ(launcher_->SendRawForTest("run " + std::string(kMaxLauncherMessage, '/'), true),
            "Elauncher message longer than 4096 bytes");
  // No reply pipe: dropped without a word (nothing to answer on), no runner forked.
  EXPECT_EQ(launcher_->SendRawForTest("run " + Prepare("unanswered", "exit 0"), false), "");
  // Still serving, and nothing ran for the dropped message.
  std::string dir = Prepare("after", "exit 0");
  std::string error;
  EXPECT_EQ(launcher_->Launch(dir, &error), Launcher::Outcome::kStarted) << error;
  EXPECT_TRUE(WaitForFile(dir + "/" + kResultFile));
  EXPECT_FALSE(fs::exists(root_ + "/unanswered/" + kRunnerFile));
  EXPECT_EQ(kill(launcher_->pid(), 0), 0);
}

TEST_F(LauncherTest, ARunnerThatCannotStartIsReportedWithItsDiagnostics) {
  std::string dir = root_ + "/empty";  // no request.json
  fs::create_directories(dir);
  std::string error;
  EXPECT_EQ(launcher_->Launch(dir, &error), Launcher::Outcome::kRunnerFailed);
  EXPECT_NE(error.find("request.json"), std::string::npos) << error;
  EXPECT_FALSE(fs::exists(dir + "/" + kRunnerFile));
}

TEST_F(LauncherTest, ADeadLauncherIsReportedGoneAndNothingRuns) {
  ASSERT_EQ(kill(launcher_->pid(), SIGKILL), 0);
  std::string dir = Prepare("late", "exit 0");
  std::string error;
  EXPECT_EQ(launcher_->Launch(dir, &error), Launcher::Outcome::kLauncherGone);
  EXPECT_FALSE(error.empty());
  EXPECT_FALSE(fs::exists(dir + "/" + kRunnerFile));
  EXPECT_FALSE(fs::exists(dir + "/" + kRunnerLogFile));
}

// A control plane killed with -9 never runs ~Launcher: the launcher must
// notice its end of the socket closing and exit by itself.
TEST(LauncherStartTest, TheLauncherExitsWhenTheClientEndCloses) {
  std::string runner;
  ASSERT_TRUE(jobs::ResolveRunner(runner).ok());
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
  subprocess::SpawnOptions options;
  options.argv = {runner, "--launcher"};
  options.env = std::vector<std::string>{};
  options.keep_fds = {{3, sv[1]}};
  subprocess::SpawnFailure failure;
  pid_t pid = subprocess::SpawnProcess(options, &failure);
  close(sv[1]);
  ASSERT_GT(pid, 0) << failure.message;
  char hello = 0;
  ASSERT_EQ(recv(sv[0], &hello, 1, 0), 1);
  EXPECT_EQ(hello, 'R');
  close(sv[0]);
  int status = -1;
  pid_t done = 0;
  for (int i = 0; i < 3000 && done == 0; ++i) {
    done = waitpid(pid, &status, WNOHANG);
    if (done == 0) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (done == 0) kill(pid, SIGKILL), waitpid(pid, &status, 0);
  ASSERT_EQ(done, pid) << "the launcher outlived its client";
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
}

// Given no socket at descriptor 3, it refuses to serve.
TEST(LauncherStartTest, WithoutASocketTheLauncherRefusesToServe) {
  std::string runner;
  ASSERT_TRUE(jobs::ResolveRunner(runner).ok());
  int p[2];
  ASSERT_EQ(pipe2(p, O_CLOEXEC), 0);
  subprocess::SpawnOptions options;
  options.argv = {runner, "--launcher"};
  options.env = std::vector<std::string>{};
  options.keep_fds = {{3, p[0]}};
  subprocess::SpawnFailure failure;
  pid_t pid = subprocess::SpawnProcess(options, &failure);
  close(p[0]);
  close(p[1]);
  ASSERT_GT(pid, 0) << failure.message;
  int status = -1;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 2) << status;
}

TEST(LauncherStartTest, AProgramThatIsNoLauncherIsAnError) {
  std::string error;
  EXPECT_EQ(Launcher::Start("/bin/false", &error), nullptr);
  EXPECT_NE(error.find("exited before serving"), std::string::npos) << error;
  EXPECT_EQ(Launcher::Start("/no/such/runner", &error), nullptr);
  EXPECT_NE(error.find("/no/such/runner"), std::string::npos) << error;
}

}  // namespace
}  // namespace tandem::compute::runner
