// Warm sandboxes (warm_pool.h, runner/warm.h) through the local substrate:
// a job starts in one and sees only its own directory at /opt/ml; an empty
// pool, a warm sandbox that died and a job directory that cannot become the
// slot each fall back to a normal launch; a control plane killed with warm
// sandboxes alive leaves nothing running, and staged entries of one killed
// mid-staging go back to their job directory. (The sandboxed behaviour
// every job has is in substrate_test.cc, whose "Warm" mode runs it all
// in warm sandboxes.)
#include "compute/substrates/local/warm_pool.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <thread>

#include "common/subprocess_core.h"
#include "common/testing/test_server.h"
#include "compute/substrates/local/substrate.h"
#include "compute/substrates/runner/proc_stats.h"
#include "compute/substrates/runner/protocol.h"
#include "gtest/gtest.h"

namespace tandem::compute::local {
namespace {

namespace fs = std::filesystem;

constexpr char kChildEnv[] = "TANDEM_WARM_POOL_TEST_CHILD_ROOT";

bool HaveBwrap() { return fs::exists("/usr/bin/bwrap") || fs::exists("/bin/bwrap"); }

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool WaitFor(const std::function<bool()>& cond, double seconds = 30) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < deadline) {
    if (cond()) return true;
    usleep(2000);
  }
  return cond();
}

// Live processes whose command line mentions `text` (bubblewrap names its
// slot in its arguments).
std::vector<int> ProcessesMentioning(const std::string& text) {
  std::vector<int> pids;
  for (const auto& e : fs::directory_iterator("/proc")) {
    std::string name = e.path().filename().string();
    if (name.empty() || !std::isdigit(static_cast<unsigned char>(name[0]))) continue;
    std::string cmd = Slurp(e.path().string() + "/cmdline");
    if (cmd.find(text) == std::string::npos) continue;
    auto st = runner::ReadProcStat(std::stoi(name));
    if (st && st->state != 'Z') pids.push_back(std::stoi(name));
  }
  return pids;
}

// The slot directories of the pools under `warm_dir`.
std::vector<std::string> Slots(const std::string& warm_dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& pool : fs::directory_iterator(warm_dir, ec)) {
    for (const auto& slot : fs::directory_iterator(pool.path(), ec)) {
      out.push_back(slot.path().string());
    }
  }
  return out;
}

class WarmPoolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    TANDEM_REQUIRE_TOOL(HaveBwrap(), "bubblewrap (bwrap)");
    static int counter = 0;
    root_ = "/tmp/tandem-warm-test-" + std::to_string(getpid()) + "-" + std::to_string(counter++);
    fs::remove_all(root_);
    fs::create_directories(root_);
    options_.sandbox = LocalSubstrateOptions::Sandbox::kOn;
    options_.grace_seconds = 1;
    options_.warm_dir = root_ + "/warm";
    options_.warm_sandboxes = 1;
  }
  void TearDown() override {
    substrate_.reset();
    if (!root_.empty()) fs::remove_all(root_);
  }

  void MakeSubstrate() {
    auto s = LocalSubstrate::Create(options_);
    ASSERT_TRUE(s.ok()) << s.status();
    substrate_ = *std::move(s);
    ASSERT_NE(substrate_->warm_pool(), nullptr);
    WaitReady(1);
  }
  void WaitReady(int n) {
    ASSERT_TRUE(WaitFor([&] { return substrate_->warm_pool()->ready() >= n; }))
        << "disabled: " << substrate_->warm_pool()->disabled();
  }

  // A fresh job directory (with model/ and code/hello) and a request for it.
  jobs::LaunchRequest Request(const std::string& script, const std::string& parent = "") {
    jobs::LaunchRequest r;
    r.job_id = "job-" + std::to_string(next_++);
    r.job_dir = (parent.empty() ? root_ : parent) + "/" + r.job_id + "/ml";
    fs::create_directories(r.job_dir + "/model");
    fs::create_directories(r.job_dir + "/code");
    std::ofstream(r.job_dir + "/code/hello") << "hello from code\n";
    r.log_path = root_ + "/" + r.job_id + ".log";
    r.argv = {"/bin/sh", "-c", script};
    r.env = {{"PATH", "/usr/bin:/bin"}};
    r.working_dir = "/opt/ml/code";
    r.max_runtime_seconds = 60;
    return r;
  }

  jobs::ExitInfo Run(const jobs::LaunchRequest& r) {
    auto h = substrate_->Submit(r);
    EXPECT_TRUE(h.ok()) << h.status();
    if (!h.ok()) return {};
    last_handle_ = *h;
    std::optional<jobs::ExitInfo> out;
    EXPECT_TRUE(WaitFor([&] {
      auto p = substrate_->Poll(*h);
      if (p.ok() && p->has_value()) out = **p;
      return out.has_value();
    }));
    return out.value_or(jobs::ExitInfo{});
  }

  std::string root_;
  LocalSubstrateOptions options_;
  std::unique_ptr<LocalSubstrate> substrate_;
  int next_ = 1;
  jobs::JobHandle last_handle_;  // of the last Run
};

TEST_F(WarmPoolTest, AJobStartsInAWarmSandboxAndSeesOnlyItsDirectory) {
  options_.warm_sandboxes = 2;
  MakeSubstrate();
  WaitReady(2);
  const std::vector<std::string> before = Slots(options_.warm_dir);
  ASSERT_EQ(before.size(), 2u);
  jobs::LaunchRequest r = Request(
      "pwd; cat hello; ls /opt/ml; echo weights > /opt/ml/model/x; "
      "touch /usr/tandem-warm-test 2>/dev/null || echo usr-ro; hostname; "
      "ls " + root_ + " 2>&1 | head -1; echo \"$GREETING\"; exit 3");
  r.env["GREETING"] = "hi";
  jobs::ExitInfo e = Run(r);
  EXPECT_EQ(substrate_->warm_starts(), 1);
  EXPECT_TRUE(last_handle_.warm_sandbox) << "Submit says so (the job service logs it)";
  EXPECT_EQ(e.kind, jobs::ExitKind::kExited) << e.message;
  EXPECT_EQ(e.exit_code, 3);
  EXPECT_GT(e.started_micros, 0);
  // The job's own directory (not the other warm slot, not the host's /tmp).
  EXPECT_EQ(Slurp(r.log_path),
            "/opt/ml/code\nhello from code\ncode\ninput\nmodel\nusr-ro\nalgo-1\n"
            "ls: cannot access '" + root_ + "': No such file or directory\nhi\n");
  EXPECT_EQ(Slurp(r.job_dir + "/model/x"), "weights\n");
  // Its slot became the job directory: it is no longer among the slots, and
  // a fresh one takes its place.
  std::vector<std::string> after = Slots(options_.warm_dir);
  ASSERT_TRUE(WaitFor([&] {
    after = Slots(options_.warm_dir);
    return after.size() == 2;
  }));
  int reused = 0;
  for (const std::string& s : after) reused += std::count(before.begin(), before.end(), s);
  EXPECT_EQ(reused, 1) << "one old slot was used, one is still waiting";
}

// compute.warm_sandboxes is 0..64, 0 meaning no warm_dir: a substrate asked
// for a pool of 0 or more than 64 is refused, naming the bound.
TEST_F(WarmPoolTest, APoolSizeOutOfRangeIsRefused) {
  for (int size : {0, -1, 65}) {
    options_.warm_sandboxes = size;
    auto s = LocalSubstrate::Create(options_);
    ASSERT_FALSE(s.ok()) << size;
    EXPECT_EQ(s.status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(std::string(s.status().message()),
              "warm_sandboxes must be between 1 and 64 with a warm_dir, got " +
                  std::to_string(size));
  }
  EXPECT_FALSE(fs::exists(options_.warm_dir)) << "nothing was started";
  options_.warm_sandboxes = 3;
  MakeSubstrate();
  WaitReady(3);
  EXPECT_EQ(Slots(options_.warm_dir).size(), 3u);
}

TEST_F(WarmPoolTest, AMissingCommandIsNamed) {
  MakeSubstrate();
  jobs::LaunchRequest r = Request("unused");
  r.argv = {"/no/such/trainer"};
  jobs::ExitInfo e = Run(r);
  EXPECT_EQ(substrate_->warm_starts(), 1);
  EXPECT_EQ(e.kind, jobs::ExitKind::kExited);
  EXPECT_EQ(e.exit_code, 127);
  EXPECT_EQ(e.message, "cannot execute /no/such/trainer: No such file or directory");
  EXPECT_NE(Slurp(r.log_path).find("/no/such/trainer"), std::string::npos);
}

TEST_F(WarmPoolTest, AnEmptyPoolFallsBackToANormalLaunch) {
  MakeSubstrate();
  substrate_->warm_pool()->PauseForTest(true);
  EXPECT_EQ(Run(Request("exit 4")).exit_code, 4);
  EXPECT_EQ(substrate_->warm_starts(), 1);
  ASSERT_EQ(substrate_->warm_pool()->ready(), 0);
  jobs::LaunchRequest r = Request("cat hello; exit 5");
  jobs::ExitInfo e = Run(r);
  EXPECT_EQ(e.exit_code, 5) << e.message;
  EXPECT_EQ(Slurp(r.log_path), "hello from code\n");
  EXPECT_EQ(substrate_->warm_starts(), 1) << "started in a sandbox of its own";
  EXPECT_FALSE(last_handle_.warm_sandbox);
  substrate_->warm_pool()->PauseForTest(false);
  WaitReady(1);
}

TEST_F(WarmPoolTest, JobsAWarmSandboxDoesNotFitStartTheirOwn) {
  MakeSubstrate();
  jobs::LaunchRequest online = Request("exit 6");
  online.network = true;
  EXPECT_EQ(Run(online).exit_code, 6);
  jobs::LaunchRequest secret = Request("cat /run/secrets/token; exit 7");
  secret.secret_files = {{"token", "s3cr3t"}};
  jobs::ExitInfo e = Run(secret);
  EXPECT_EQ(e.exit_code, 7) << e.message;
  EXPECT_EQ(Slurp(secret.log_path), "s3cr3t");
  EXPECT_EQ(substrate_->warm_starts(), 0);
  EXPECT_EQ(substrate_->warm_pool()->ready(), 1) << "still waiting for a job that fits";
}

// Input channels (maybe hard links to the store's blobs) go into the slot's
// input/data, which the warm sandbox bound read-only before the job existed:
// the job reads them, its config beside them, and can neither change,
// remove nor rename them, nor see another job's.
TEST_F(WarmPoolTest, AJobWithInputChannelsStartsWarmAndCannotWriteThem) {
  options_.warm_sandboxes = 2;
  MakeSubstrate();
  WaitReady(2);
  const std::string blob = root_ + "/blob.csv";  // a store blob the channel links to
  std::ofstream(blob) << "1,2\n";
  auto make = [&](const std::string& script) {
    jobs::LaunchRequest r = Request(script);
    fs::create_directories(r.job_dir + "/input/data/train");
    fs::create_directories(r.job_dir + "/input/data/validation");
    fs::create_directories(r.job_dir + "/input/config");
    std::ofstream(r.job_dir + "/input/config/hyperparameters.json") << "{}";
    std::ofstream(r.job_dir + "/input/data/validation/v.csv") << "3,4\n";
    return r;
  };
  jobs::LaunchRequest r = make(
      "cat /opt/ml/input/data/train/a.csv /opt/ml/input/data/validation/v.csv "
      "/opt/ml/input/config/hyperparameters.json; echo; "
      "{ echo x >> /opt/ml/input/data/train/a.csv; } 2>/dev/null || echo append-refused; "
      "rm -f /opt/ml/input/data/train/a.csv 2>/dev/null || echo rm-refused; "
      "mv /opt/ml/input/data/train /opt/ml/t 2>/dev/null || echo mv-refused; "
      "touch /opt/ml/input/data/new 2>/dev/null || echo create-refused; "
      "rmdir /opt/ml/input/data 2>/dev/null || echo rmdir-refused; "
      "ls /opt/ml/input/data; echo out > /opt/ml/model/m; exit 8");
  ASSERT_EQ(link(blob.c_str(), (r.job_dir + "/input/data/train/a.csv").c_str()), 0);
  jobs::ExitInfo e = Run(r);
  EXPECT_EQ(substrate_->warm_starts(), 1) << "started warm";
  EXPECT_EQ(e.exit_code, 8) << e.message;
  EXPECT_EQ(Slurp(r.log_path),
            "1,2\n3,4\n{}\nappend-refused\nrm-refused\nmv-refused\ncreate-refused\n"
            "rmdir-refused\ntrain\nvalidation\n");
  EXPECT_EQ(Slurp(blob), "1,2\n") << "the blob was written through its link";
  EXPECT_EQ(Slurp(r.job_dir + "/input/data/train/a.csv"), "1,2\n");
  EXPECT_EQ(Slurp(r.job_dir + "/input/config/hyperparameters.json"), "{}");
  EXPECT_EQ(Slurp(r.job_dir + "/model/m"), "out\n");
  // A second job in the other warm sandbox sees its own channels only.
  jobs::LaunchRequest other = make("ls /opt/ml/input/data; ls " + r.job_dir + " 2>&1 | head -1");
  jobs::ExitInfo e2 = Run(other);
  EXPECT_EQ(substrate_->warm_starts(), 2);
  EXPECT_EQ(e2.exit_code, 0) << e2.message;
  EXPECT_EQ(Slurp(other.log_path), "train\nvalidation\nls: cannot access '" + r.job_dir +
                                       "': No such file or directory\n");
}

TEST_F(WarmPoolTest, ADeadWarmSandboxIsSkipped) {
  MakeSubstrate();
  substrate_->warm_pool()->PauseForTest(true);
  std::vector<std::string> slots = Slots(options_.warm_dir);
  ASSERT_EQ(slots.size(), 1u);
  std::vector<int> bwrap = ProcessesMentioning(slots[0]);
  ASSERT_FALSE(bwrap.empty());
  for (int pid : bwrap) kill(pid, SIGKILL);
  // Its runner notices and goes; the pool's socket says so.
  ASSERT_TRUE(WaitFor([&] { return ProcessesMentioning(slots[0]).empty(); }));
  jobs::LaunchRequest r = Request("cat hello; exit 8");
  jobs::ExitInfo e = Run(r);
  EXPECT_EQ(e.exit_code, 8) << e.message;
  EXPECT_EQ(Slurp(r.log_path), "hello from code\n");
  EXPECT_EQ(substrate_->warm_starts(), 0);
}

// The launcher dying costs no warm sandbox: the pool starts a new launcher
// for the next one (and runners started the usual way use it too).
TEST_F(WarmPoolTest, ADeadLauncherIsReplacedByThePool) {
  MakeSubstrate();
  const pid_t first = substrate_->launcher_pid();
  ASSERT_GT(first, 0);
  ASSERT_EQ(kill(first, SIGKILL), 0);
  EXPECT_EQ(Run(Request("exit 3")).exit_code, 3);  // in the sandbox started before
  EXPECT_EQ(substrate_->warm_starts(), 1);
  WaitReady(1);
  EXPECT_NE(substrate_->launcher_pid(), first);
  EXPECT_GT(substrate_->launcher_pid(), 0);
  EXPECT_EQ(Run(Request("exit 4")).exit_code, 4);
  EXPECT_EQ(substrate_->warm_starts(), 2);
}

// The sandbox dies after it was taken and the job staged into it: Run says
// nothing ran, and the job directory (now the slot) has everything.
TEST_F(WarmPoolTest, ASandboxThatDiesAfterStagingRunsNothing) {
  MakeSubstrate();
  substrate_->warm_pool()->PauseForTest(true);
  std::unique_ptr<WarmSandbox> warm = substrate_->warm_pool()->Take();
  ASSERT_NE(warm, nullptr);
  jobs::LaunchRequest r = Request("exit 0");
  ASSERT_TRUE(warm->Stage(r.job_dir).ok());
  EXPECT_EQ(Slurp(r.job_dir + "/code/hello"), "hello from code\n");
  EXPECT_FALSE(fs::exists(warm->slot()));
  for (int pid : ProcessesMentioning(warm->slot())) kill(pid, SIGKILL);
  ASSERT_TRUE(WaitFor([&] { return ProcessesMentioning(warm->slot()).empty(); }));
  const std::string state = root_ + "/state";
  fs::create_directories(state);
  std::string error;
  EXPECT_EQ(warm->Run(state, &error), WarmSandbox::Outcome::kNotRun);
  EXPECT_FALSE(error.empty());
  EXPECT_FALSE(fs::exists(state + "/runner.json"));
  EXPECT_TRUE(fs::is_directory(r.job_dir + "/model"));
}

// A job directory on another filesystem cannot become the slot: nothing
// moves, and the job starts its own sandbox.
TEST_F(WarmPoolTest, AJobDirectoryThatCannotBeStagedFallsBack) {
  MakeSubstrate();
  const std::string other = "/dev/shm/tandem-warm-test-" + std::to_string(getpid());
  fs::remove_all(other);
  jobs::LaunchRequest r = Request("cat hello; ls /opt/ml; exit 9", other);
  // Staging into a sandbox directly reports it, and leaves the entries.
  {
    substrate_->warm_pool()->PauseForTest(true);
    std::unique_ptr<WarmSandbox> warm = substrate_->warm_pool()->Take();
    ASSERT_NE(warm, nullptr);
    Status s = warm->Stage(r.job_dir);
    EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition) << s;
    EXPECT_NE(s.message().find("Invalid cross-device link"), std::string::npos) << s;
    EXPECT_TRUE(fs::is_directory(warm->slot()));
    EXPECT_TRUE(fs::is_empty(warm->slot() + "/input/data")) << "the slot is as it was made";
    EXPECT_EQ(std::distance(fs::directory_iterator(warm->slot()), fs::directory_iterator()), 1);
    EXPECT_EQ(Slurp(r.job_dir + "/code/hello"), "hello from code\n");
    substrate_->warm_pool()->PauseForTest(false);
  }
  WaitReady(1);
  jobs::ExitInfo e = Run(r);
  EXPECT_EQ(e.exit_code, 9) << e.message;
  EXPECT_EQ(Slurp(r.log_path), "hello from code\ncode\nmodel\n");
  EXPECT_EQ(substrate_->warm_starts(), 0);
  fs::remove_all(other);
}

// A control plane killed between moving a job's entries into a slot and
// renaming the slot: the next pool puts them back; pools of live processes
// are left alone.
TEST_F(WarmPoolTest, StagedEntriesOfADeadControlPlaneGoBack) {
  jobs::LaunchRequest r = Request("unused");
  const std::string dead_pool = options_.warm_dir + "/999999999-1";
  fs::create_directories(dead_pool + "/0");
  fs::rename(r.job_dir + "/code", dead_pool + "/0/code");
  std::ofstream(dead_pool + "/0.dest") << r.job_dir;
  fs::create_directories(dead_pool + "/1");  // an unused slot
  auto self = runner::ReadProcStat(getpid());
  ASSERT_TRUE(self.has_value());
  const std::string live_pool =
      options_.warm_dir + "/" + std::to_string(getpid()) + "-" + std::to_string(self->start_ticks);
  fs::create_directories(live_pool + "/7");
  WarmPool::RecoverDeadPools(options_.warm_dir);
  EXPECT_EQ(Slurp(r.job_dir + "/code/hello"), "hello from code\n");
  EXPECT_FALSE(fs::exists(dead_pool));
  // Killed midway through a job's input/: its channels and config go back
  // into the job's input/ (still there, with its emptied data/).
  jobs::LaunchRequest in = Request("unused");
  fs::create_directories(in.job_dir + "/input/data");
  fs::create_directories(dead_pool + "/0/input/data/train");
  fs::create_directories(dead_pool + "/0/input/config");
  std::ofstream(dead_pool + "/0/input/data/train/a.csv") << "1,2\n";
  std::ofstream(dead_pool + "/0/input/config/hp.json") << "{}";
  std::ofstream(dead_pool + "/0.dest") << in.job_dir;
  WarmPool::RecoverDeadPools(options_.warm_dir);
  EXPECT_EQ(Slurp(in.job_dir + "/input/data/train/a.csv"), "1,2\n");
  EXPECT_EQ(Slurp(in.job_dir + "/input/config/hp.json"), "{}");
  EXPECT_EQ(Slurp(in.job_dir + "/code/hello"), "hello from code\n");
  EXPECT_FALSE(fs::exists(dead_pool));
  EXPECT_TRUE(fs::exists(live_pool + "/7"));
  fs::remove_all(live_pool);
}

// The child side of the next test: a control plane holding warm sandboxes,
// run in a process of its own (this binary, with kChildEnv set: the test is
// registered only then).
class HoldWarmSandboxes : public ::testing::Test {
 public:
  void TestBody() override {
    const std::string root = std::getenv(kChildEnv);
    LocalSubstrateOptions o;
    o.sandbox = LocalSubstrateOptions::Sandbox::kOn;
    o.warm_dir = root + "/warm";
    o.warm_sandboxes = 2;
    auto s = LocalSubstrate::Create(o);
    ASSERT_TRUE(s.ok()) << s.status();
    ASSERT_TRUE(WaitFor([&] { return (*s)->warm_pool()->ready() == 2; }));
    std::ofstream(root + "/ready") << "ready";
    std::this_thread::sleep_for(std::chrono::seconds(120));
  }
};
[[maybe_unused]] const bool kChildRegistered = [] {
  if (std::getenv(kChildEnv) == nullptr) return false;
  ::testing::RegisterTest("WarmPoolChild", "HoldsWarmSandboxesUntilKilled", nullptr, nullptr,
                          __FILE__, __LINE__, []() -> ::testing::Test* {
                            return new HoldWarmSandboxes;
                          });
  return true;
}();

TEST_F(WarmPoolTest, KilledControlPlaneLeavesNoWarmSandboxBehind) {
  subprocess::SpawnOptions so;
  so.argv = {"/proc/self/exe", "--gtest_filter=WarmPoolChild.HoldsWarmSandboxesUntilKilled"};
  char self[4096];
  ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
  ASSERT_GT(n, 0);
  so.argv[0] = std::string(self, static_cast<size_t>(n));
  so.env = std::vector<std::string>{std::string(kChildEnv) + "=" + root_, "PATH=/usr/bin:/bin"};
  so.err = subprocess::Redirect::Inherit();
  subprocess::SpawnFailure failure;
  pid_t child = subprocess::SpawnProcess(so, &failure);
  ASSERT_GT(child, 0) << failure.message;
  bool ready = WaitFor([&] { return fs::exists(root_ + "/ready"); }, 60);
  std::vector<std::string> slots = Slots(options_.warm_dir);
  kill(child, SIGKILL);
  int status;
  waitpid(child, &status, 0);
  ASSERT_TRUE(ready) << "the child control plane's warm sandboxes did not get ready";
  ASSERT_EQ(slots.size(), 2u);
  // Each warm runner sees its socket close, ends its sandbox, removes its slot.
  for (const std::string& slot : slots) {
    EXPECT_TRUE(WaitFor([&] { return ProcessesMentioning(slot).empty(); })) << slot;
    EXPECT_TRUE(WaitFor([&] { return !fs::exists(slot); })) << slot;
  }
  // The next control plane's pool removes what is left of the dead one's.
  MakeSubstrate();
  for (const std::string& slot : slots) {
    EXPECT_FALSE(fs::exists(fs::path(slot).parent_path())) << slot;
  }
  EXPECT_EQ(Run(Request("exit 0")).exit_code, 0);
  EXPECT_EQ(substrate_->warm_starts(), 1);
}

}  // namespace
}  // namespace tandem::compute::local
