// End-to-end tests of the local substrate with real processes: every test
// submits real jobs through tandem-job-runner and polls until they end (no
// sleeps: conditions are polled with a generous deadline).
#include "compute/substrates/local/substrate.h"

#include "compute/substrates/local/warm_pool.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>

#include "common/testing/test_server.h"
#include "compute/substrates/runner/protocol.h"
#include "gtest/gtest.h"

namespace tandem::compute::local {
namespace {

namespace fs = std::filesystem;
using Sandbox = LocalSubstrateOptions::Sandbox;

bool HaveBwrap() { return fs::exists("/usr/bin/bwrap") || fs::exists("/bin/bwrap"); }
bool HavePython() { return fs::exists("/usr/bin/python3"); }

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Running `sleep <token>` processes (token: a number unique to the test).
int CountSleeps(const std::string& token) {
  int n = 0;
  std::string want = std::string("sleep") + '\0' + token + '\0';
  for (const auto& e : fs::directory_iterator("/proc")) {
    std::string name = e.path().filename().string();
    if (name.empty() || !std::isdigit(static_cast<unsigned char>(name[0]))) continue;
    std::string cmd = Slurp(e.path().string() + "/cmdline");
    if (cmd == want || cmd == "/bin/" + want || cmd == "/usr/bin/" + want) ++n;
  }
  return n;
}

bool WaitFor(const std::function<bool()>& cond, double seconds = 30) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < deadline) {
    if (cond()) return true;
    usleep(2000);
  }
  return cond();
}

std::string UniqueToken() {
  static std::atomic<int> n{0};
  return std::to_string(900000 + (getpid() % 1000) * 100 + n++ % 100);
}

// The modes: runners without a sandbox, sandboxed each in its own
// bubblewrap, and sandboxed in warm sandboxes (warm_pool.h) when one is ready.
enum Mode { kDirect = 0, kSandboxed = 1, kWarm = 2 };

class LocalSubstrateTest : public ::testing::TestWithParam<int> {
 protected:
  void SetUp() override {
    sandboxed_ = GetParam() != kDirect;
    warm_ = GetParam() == kWarm;
    if (sandboxed_) TANDEM_REQUIRE_TOOL(HaveBwrap(), "bubblewrap (bwrap)");
    static std::atomic<int> counter{0};
    root_ = "/tmp/tandem-local-test-" + std::to_string(getpid()) + "-" + std::to_string(counter++);
    fs::remove_all(root_);
    fs::create_directories(root_ + "/job/model");
    job_dir_ = root_ + "/job";
    base_ = sandboxed_ ? "/opt/ml" : job_dir_;
    options_.sandbox = sandboxed_ ? Sandbox::kOn : Sandbox::kOff;
    options_.grace_seconds = 1;
    options_.sample_interval_ms = 20;
    if (warm_) options_.warm_dir = root_ + "/warm";
    substrate_ = Make();
    if (warm_) WaitWarm(substrate_.get());
  }

  // Until `s`'s warm sandboxes are all ready.
  void WaitWarm(LocalSubstrate* s) {
    ASSERT_NE(s->warm_pool(), nullptr);
    ASSERT_TRUE(WaitFor([&] { return s->warm_pool()->ready() == options_.warm_sandboxes; }))
        << "warm sandboxes not ready; disabled: " << s->warm_pool()->disabled();
  }
  // The substrate (and its warm pool, whose thread replaces and removes slots
  // under root_) goes first: removing root_ while it runs raced with it.
  void TearDown() override {
    substrate_.reset();
    if (!root_.empty()) fs::remove_all(root_);
  }

  std::unique_ptr<LocalSubstrate> Make() {
    auto s = LocalSubstrate::Create(options_);
    EXPECT_TRUE(s.ok()) << s.status();
    if (!s.ok()) return nullptr;
    EXPECT_EQ((*s)->sandboxed(), sandboxed_);
    return *std::move(s);
  }

  jobs::LaunchRequest Request(std::vector<std::string> argv) {
    jobs::LaunchRequest r;
    r.job_id = "job-" + std::to_string(next_id_++);
    r.job_dir = job_dir_;
    r.log_path = root_ + "/" + r.job_id + ".log";
    r.argv = std::move(argv);
    r.env = {{"PATH", "/usr/local/bin:/usr/bin:/bin"}, {"PYTHONUNBUFFERED", "1"}};
    r.max_runtime_seconds = 60;
    return r;
  }
  jobs::LaunchRequest Shell(const std::string& script) {
    return Request({"/bin/sh", "-c", script});
  }

  jobs::JobHandle Submit(const jobs::LaunchRequest& r) { return Submit(substrate_.get(), r); }
  jobs::JobHandle Submit(LocalSubstrate* s, const jobs::LaunchRequest& r) {
    auto h = s->Submit(r);
    EXPECT_TRUE(h.ok()) << h.status();
    return h.ok() ? *h : jobs::JobHandle{};
  }

  jobs::ExitInfo WaitDone(const jobs::JobHandle& h, LocalSubstrate* s = nullptr) {
    s = s ? s : substrate_.get();
    std::optional<jobs::ExitInfo> out;
    bool done = WaitFor([&] {
      auto p = s->Poll(h);
      EXPECT_TRUE(p.ok()) << p.status();
      if (p.ok() && p->has_value()) out = **p;
      return out.has_value() || !p.ok();
    });
    EXPECT_TRUE(done) << "job did not end within the deadline";
    if (out) return *out;
    jobs::ExitInfo none;
    none.kind = jobs::ExitKind::kLost;
    none.message = "test: no result";
    return none;
  }

  jobs::ExitInfo Run(const jobs::LaunchRequest& r) { return WaitDone(Submit(r)); }

  bool sandboxed_ = false;
  bool warm_ = false;
  std::string root_, job_dir_, base_;
  LocalSubstrateOptions options_;
  std::unique_ptr<LocalSubstrate> substrate_;
  int next_id_ = 1;
};

std::string ModeName(const ::testing::TestParamInfo<int>& info) {
  return info.param == kDirect ? "Direct" : info.param == kSandboxed ? "Sandboxed" : "Warm";
}

INSTANTIATE_TEST_SUITE_P(Modes, LocalSubstrateTest, ::testing::Values(kDirect, kSandboxed, kWarm),
                         ModeName);

// A caller that died between Submit and recording the handle: another
// substrate (another control plane) finds the running job by its attempt,
// and re-attaches; an attempt never submitted, or cut short before the
// runner started (no runner.json), is not found, and its leftovers go.
TEST_P(LocalSubstrateTest, FindLaunchedFindsASubmittedAttemptOnly) {
  jobs::LaunchRequest r = Shell("sleep 30");
  jobs::JobHandle h = Submit(r);
  auto other = Make();
  auto found = other->FindLaunched(r);
  ASSERT_TRUE(found.ok()) << found.status();
  ASSERT_TRUE(found->has_value());
  EXPECT_EQ((*found)->substrate, "local");
  EXPECT_EQ((*found)->id, h.id);
  auto polled = other->Poll(**found);
  ASSERT_TRUE(polled.ok()) << polled.status();
  EXPECT_FALSE(polled->has_value()) << "the job runs";
  ASSERT_TRUE(other->Stop(**found, 0).ok());
  EXPECT_EQ(WaitDone(**found, other.get()).kind, jobs::ExitKind::kStopped);

  jobs::LaunchRequest next = r;
  next.attempt = 2;
  auto none = other->FindLaunched(next);
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_FALSE(none->has_value());

  // A Submit cut short after writing its request, before the runner started.
  jobs::LaunchRequest cut = Shell("echo never");
  const std::string dir = root_ + "/.runner/" + cut.job_id + "-1";
  fs::create_directories(dir);
  std::ofstream(dir + "/request.json") << "{}";
  auto gone = other->FindLaunched(cut);
  ASSERT_TRUE(gone.ok()) << gone.status();
  EXPECT_FALSE(gone->has_value());
  EXPECT_FALSE(fs::exists(dir));
  EXPECT_FALSE(fs::exists(dir + ".abandoned"));
  // ... so the attempt may be submitted again, and runs.
  EXPECT_EQ(Run(cut).kind, jobs::ExitKind::kExited);

  jobs::LaunchRequest bad = r;
  bad.job_dir = "relative/job";
  EXPECT_EQ(other->FindLaunched(bad).status().code(), StatusCode::kInvalidArgument);
}

TEST_P(LocalSubstrateTest, ExitZeroWithLogAndTimes) {
  jobs::LaunchRequest r = Shell("echo hello; echo oops >&2; exit 0");
  jobs::JobHandle h = Submit(r);
  EXPECT_EQ(h.substrate, "local");
  jobs::ExitInfo e = WaitDone(h);
  EXPECT_EQ(e.kind, jobs::ExitKind::kExited) << e.message;
  EXPECT_EQ(e.exit_code, 0);
  EXPECT_EQ(e.message, "exit status 0");
  EXPECT_EQ(Slurp(r.log_path), "hello\noops\n");
  EXPECT_GT(e.started_micros, 0);
  EXPECT_GE(e.ended_micros, e.started_micros);
  EXPECT_EQ(substrate_->StartedMicros(h), e.started_micros);
}

TEST_P(LocalSubstrateTest, NonZeroExitCode) {
  jobs::ExitInfo e = Run(Shell("exit 3"));
  EXPECT_EQ(e.kind, jobs::ExitKind::kExited);
  EXPECT_EQ(e.exit_code, 3);
  EXPECT_EQ(e.message, "exit status 3");
}

TEST_P(LocalSubstrateTest, KilledBySignal) {
  jobs::ExitInfo e = Run(Shell("kill -SEGV $$"));
  EXPECT_EQ(e.kind, jobs::ExitKind::kSignaled) << e.message;
  EXPECT_EQ(e.signal, SIGSEGV);
  EXPECT_EQ(e.message, "killed by SIGSEGV");
}

TEST_P(LocalSubstrateTest, EnvironmentAndWorkingDirectory) {
  fs::create_directories(job_dir_ + "/code");
  jobs::LaunchRequest r = Shell("echo \"$GREETING $(pwd)\"; echo \"$HOME\"");
  r.env["GREETING"] = "hi";
  r.working_dir = base_ + "/code";
  jobs::ExitInfo e = Run(r);
  EXPECT_EQ(e.exit_code, 0) << e.message;
  // Only the requested environment: HOME is not inherited from the test.
  EXPECT_EQ(Slurp(r.log_path), "hi " + base_ + "/code\n\n");
}

TEST_P(LocalSubstrateTest, MissingExecutableFails) {
  jobs::LaunchRequest r = Request({"/no/such/trainer"});
  jobs::ExitInfo e = Run(r);
  EXPECT_EQ(e.kind, jobs::ExitKind::kExited);
  EXPECT_NE(e.exit_code, 0);
  // Direct: the runner names it; sandboxed: bwrap does, in the job's log.
  std::string where = sandboxed_ ? Slurp(r.log_path) : e.message;
  EXPECT_NE(where.find("/no/such/trainer"), std::string::npos) << where;
}

// tandem's own programs (tandem-transform, ...) live beside the runner,
// wherever tandem is installed -- here under /tmp, which the sandbox replaces
// with its own -- and the job reaches them at /opt/tandem-libexec.
TEST_P(LocalSubstrateTest, HelperProgramsAreReachedAtTheFixedPathFromAnyInstallDir) {
  const std::string helpers = root_ + "/prefix/libexec/tandem";
  fs::create_directories(helpers);
  fs::copy_file(substrate_->runner_path(), helpers + "/tandem-job-runner");
  std::ofstream(helpers + "/tandem-hello") << "#!/bin/sh\necho \"$0 $1\"\n";
  fs::permissions(helpers + "/tandem-hello", fs::perms::owner_all);
  options_.runner_path = helpers + "/tandem-job-runner";
  std::unique_ptr<LocalSubstrate> installed = Make();
  ASSERT_NE(installed, nullptr);
  jobs::LaunchRequest r = Request({"/opt/tandem-libexec/tandem-hello", "hi"});
  jobs::ExitInfo e = WaitDone(Submit(installed.get(), r), installed.get());
  EXPECT_EQ(e.exit_code, 0) << e.message << Slurp(r.log_path);
  // Sandboxed, the job sees the fixed path; directly, the host's.
  EXPECT_EQ(Slurp(r.log_path),
            (sandboxed_ ? "/opt/tandem-libexec" : helpers) + "/tandem-hello hi\n");
  // Nothing else under that path: a missing helper fails and is named.
  jobs::LaunchRequest missing = Request({"/opt/tandem-libexec/no-such-helper"});
  e = WaitDone(Submit(installed.get(), missing), installed.get());
  EXPECT_NE(e.exit_code, 0);
  std::string where = sandboxed_ ? Slurp(missing.log_path) : e.message;
  EXPECT_NE(where.find("no-such-helper"), std::string::npos) << where;
}

TEST_P(LocalSubstrateTest, MaxRuntimeTimesOutAndKillsTheTree) {
  std::string token = UniqueToken();
  jobs::LaunchRequest r = Shell("sleep " + token + " & exec sleep " + token);
  r.max_runtime_seconds = 1;
  jobs::ExitInfo e = Run(r);
  EXPECT_EQ(e.kind, jobs::ExitKind::kTimedOut) << e.message;
  EXPECT_NE(e.message.find("max_runtime_seconds (1 s)"), std::string::npos) << e.message;
  EXPECT_GE(e.metering.wall_seconds, 0.9);
  EXPECT_LT(e.metering.wall_seconds, 10);
  EXPECT_EQ(CountSleeps(token), 0);
}

TEST_P(LocalSubstrateTest, IgnoredSigtermIsFollowedBySigkillAfterGrace) {
  std::string token = UniqueToken();
  jobs::LaunchRequest r = Shell("trap '' TERM; sleep " + token + "; echo survived");
  r.max_runtime_seconds = 1;
  jobs::ExitInfo e = Run(r);
  EXPECT_EQ(e.kind, jobs::ExitKind::kTimedOut);
  EXPECT_GE(e.metering.wall_seconds, 1.8);  // 1 s runtime + 1 s grace
  EXPECT_EQ(Slurp(r.log_path).find("survived"), std::string::npos);
  EXPECT_EQ(CountSleeps(token), 0);
}

TEST_P(LocalSubstrateTest, MemoryLimitKillsWithOutOfMemory) {
  TANDEM_REQUIRE_TOOL(HavePython(), "/usr/bin/python3");
  jobs::LaunchRequest r = Request(
      {"/usr/bin/python3", "-c", "x = b'x' * (200 * 1024 * 1024)\nimport time\ntime.sleep(30)"});
  r.resources.memory_mb = 50;
  jobs::ExitInfo e = Run(r);
  EXPECT_EQ(e.kind, jobs::ExitKind::kOutOfMemory) << e.message;
  EXPECT_NE(e.message.find("limit 50 MiB"), std::string::npos) << e.message;
  EXPECT_GT(e.metering.peak_rss_bytes, 50LL << 20);
  EXPECT_LT(e.metering.wall_seconds, 20);
}

TEST_P(LocalSubstrateTest, MemoryUnderTheLimitIsFine) {
  jobs::ExitInfo e = Run([&] {
    jobs::LaunchRequest r = Shell("exit 0");
    r.resources.memory_mb = 512;
    return r;
  }());
  EXPECT_EQ(e.kind, jobs::ExitKind::kExited);
  EXPECT_EQ(e.exit_code, 0);
}

TEST_P(LocalSubstrateTest, ChildrenLeftBehindAreKilled) {
  std::string token = UniqueToken();
  // A background child and a setsid'd daemon; wait until both run, then exit.
  jobs::LaunchRequest r = Shell("sleep " + token + " & a=$!; setsid sleep " + token +
                                " & b=$!; until grep -q ^sleep /proc/$a/cmdline && "
                                "grep -q ^sleep /proc/$b/cmdline; do :; done; echo forked; exit 0");
  jobs::ExitInfo e = Run(r);
  EXPECT_EQ(e.kind, jobs::ExitKind::kExited) << e.message;
  EXPECT_EQ(e.exit_code, 0);
  EXPECT_EQ(Slurp(r.log_path), "forked\n");
  EXPECT_EQ(CountSleeps(token), 0);
}

TEST_P(LocalSubstrateTest, StopEndsTheTreeAfterACleanShutdown) {
  std::string token = UniqueToken();
  jobs::LaunchRequest r = Shell("trap 'echo bye; exit 0' TERM; sleep " + token + " & wait");
  jobs::JobHandle h = Submit(r);
  ASSERT_TRUE(WaitFor([&] { return CountSleeps(token) >= 1; }));
  ASSERT_TRUE(substrate_->Stop(h, 5).ok());
  jobs::ExitInfo e = WaitDone(h);
  EXPECT_EQ(e.kind, jobs::ExitKind::kStopped);
  EXPECT_EQ(e.message, "stopped");
  EXPECT_EQ(Slurp(r.log_path), "bye\n");
  EXPECT_EQ(CountSleeps(token), 0);
  // Stopping a finished job is a no-op.
  EXPECT_TRUE(substrate_->Stop(h, 5).ok());
  EXPECT_EQ(WaitDone(h).kind, jobs::ExitKind::kStopped);
}

TEST_P(LocalSubstrateTest, StopWithZeroGraceKillsAtOnce) {
  std::string token = UniqueToken();
  jobs::JobHandle h = Submit(Shell("trap '' TERM; sleep " + token));
  ASSERT_TRUE(WaitFor([&] { return CountSleeps(token) >= 1; }));
  ASSERT_TRUE(substrate_->Stop(h, 0).ok());
  jobs::ExitInfo e = WaitDone(h);
  EXPECT_EQ(e.kind, jobs::ExitKind::kStopped);
  EXPECT_LT(e.metering.wall_seconds, 5);
  EXPECT_EQ(CountSleeps(token), 0);
}

TEST_P(LocalSubstrateTest, HugeOutputIsCappedWithoutBlockingTheJob) {
  options_.log_limit_bytes = 1 << 20;
  substrate_ = Make();
  jobs::LaunchRequest r = Shell("head -c 50000000 /dev/zero | tr '\\0' a; echo; echo done >&2");
  jobs::ExitInfo e = Run(r);
  EXPECT_EQ(e.kind, jobs::ExitKind::kExited) << e.message;
  EXPECT_EQ(e.exit_code, 0);
  std::string log = Slurp(r.log_path);
  EXPECT_GE(log.size(), 1u << 20);
  EXPECT_LT(log.size(), (1u << 20) + 200);
  EXPECT_NE(log.find("[tandem] log truncated after 1048576 bytes"), std::string::npos);
  EXPECT_NE(e.message.find("log truncated"), std::string::npos) << e.message;
  EXPECT_LT(e.metering.wall_seconds, 20);
}

TEST_P(LocalSubstrateTest, MetersCpuAndMemoryOfTheTree) {
  TANDEM_REQUIRE_TOOL(HavePython(), "/usr/bin/python3");
  // The busy work runs in a grandchild, so only tree-wide metering sees it.
  jobs::LaunchRequest r = Shell(
      "/usr/bin/python3 -c 'import time\nt = time.process_time()\n"
      "while time.process_time() - t < 0.5: pass' & wait");
  jobs::ExitInfo e = Run(r);
  EXPECT_EQ(e.exit_code, 0) << e.message;
  EXPECT_GE(e.metering.cpu_seconds, 0.3);
  EXPECT_LT(e.metering.cpu_seconds, 5);
  EXPECT_GE(e.metering.wall_seconds, 0.3);
  EXPECT_GT(e.metering.peak_rss_bytes, 1 << 20);
}

TEST_P(LocalSubstrateTest, ReattachesAfterTheSubstrateIsDestroyed) {
  jobs::LaunchRequest r = Shell("while [ ! -e " + base_ + "/go ]; do sleep 0.01; done; exit 7");
  jobs::JobHandle h = Submit(r);
  substrate_.reset();  // the control plane goes away; the job keeps running
  std::unique_ptr<LocalSubstrate> again = Make();
  auto p = again->Poll(h);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_FALSE(p->has_value());
  EXPECT_TRUE(again->StartedMicros(h).has_value() ||
              WaitFor([&] { return again->StartedMicros(h).has_value(); }));
  std::ofstream(job_dir_ + "/go") << "go";
  jobs::ExitInfo e = WaitDone(h, again.get());
  EXPECT_EQ(e.kind, jobs::ExitKind::kExited);
  EXPECT_EQ(e.exit_code, 7);
}

TEST_P(LocalSubstrateTest, KilledRunnerIsReportedLostAndTheJobDies) {
  std::string token = UniqueToken();
  jobs::JobHandle h = Submit(Shell("exec sleep " + token));
  ASSERT_TRUE(WaitFor([&] { return CountSleeps(token) >= 1; }));
  Json runner;
  ASSERT_EQ(runner::ReadJsonFile(h.id + "/runner.json", &runner), "");
  ASSERT_EQ(kill(runner["pid"].get<int>(), SIGKILL), 0);
  jobs::ExitInfo e = WaitDone(h);
  EXPECT_EQ(e.kind, jobs::ExitKind::kLost);
  EXPECT_EQ(e.message, "runner vanished without a result");
  EXPECT_TRUE(WaitFor([&] { return CountSleeps(token) == 0; }));
  EXPECT_EQ(WaitDone(h).kind, jobs::ExitKind::kLost);  // stable across polls
}

// The pre-forked launcher dying (killed, OOM) costs no job: Submit starts
// the runner directly and a new launcher serves the jobs after it.
TEST_P(LocalSubstrateTest, ADeadLauncherIsReplacedAndNoJobIsLost) {
  // Jobs in warm sandboxes do not go through the launcher (warm_pool_test
  // has the pool replacing a dead one): here they start their own.
  if (warm_) {
    substrate_->warm_pool()->PauseForTest(true);
    while (substrate_->warm_pool()->Take() != nullptr) {
    }
  }
  const pid_t first = substrate_->launcher_pid();
  ASSERT_GT(first, 0);
  jobs::ExitInfo e = Run(Shell("exit 4"));
  EXPECT_EQ(e.exit_code, 4);
  ASSERT_EQ(kill(first, SIGKILL), 0);
  e = Run(Shell("exit 5"));
  EXPECT_EQ(e.kind, jobs::ExitKind::kExited);
  EXPECT_EQ(e.exit_code, 5);
  const pid_t second = substrate_->launcher_pid();
  EXPECT_GT(second, 0);
  EXPECT_NE(second, first);
  EXPECT_EQ(Run(Shell("exit 6")).exit_code, 6);  // through the new launcher
  EXPECT_EQ(substrate_->launcher_pid(), second);
}

// Without the launcher (prefork_launcher off) runners are started directly.
TEST_P(LocalSubstrateTest, RunnersStartDirectlyWithoutTheLauncher) {
  options_.prefork_launcher = false;
  std::unique_ptr<LocalSubstrate> direct = Make();
  EXPECT_EQ(direct->launcher_pid(), 0);
  jobs::ExitInfo e = WaitDone(Submit(direct.get(), Shell("echo hi; exit 9")), direct.get());
  EXPECT_EQ(e.exit_code, 9);
}

TEST_P(LocalSubstrateTest, RunnerInheritsNoDescriptors) {
  int sock = socket(AF_INET, SOCK_STREAM, 0);  // deliberately not CLOEXEC
  ASSERT_GE(sock, 0);
  std::string token = UniqueToken();
  jobs::JobHandle h = Submit(Shell("exec sleep " + token));
  Json runner;
  ASSERT_EQ(runner::ReadJsonFile(h.id + "/runner.json", &runner), "");
  std::string fd_dir = "/proc/" + std::to_string(runner["pid"].get<int>()) + "/fd";
  if (warm_) {
    // A warm runner talks to its sandbox's waiter over a socket until the
    // job's command is exec'd.
    ASSERT_TRUE(WaitFor([&] { return CountSleeps(token) >= 1; }));
    WaitFor([&] {
      for (const auto& fd : fs::directory_iterator(fd_dir)) {
        std::error_code ec;
        if (fs::read_symlink(fd.path(), ec).string().find("socket:") != std::string::npos) {
          return false;
        }
      }
      return true;
    }, 5);
  }
  for (const auto& fd : fs::directory_iterator(fd_dir)) {
    std::error_code ec;
    EXPECT_EQ(fs::read_symlink(fd.path(), ec).string().find("socket:"), std::string::npos)
        << fd.path();
  }
  close(sock);
  ASSERT_TRUE(substrate_->Stop(h, 0).ok());
  EXPECT_EQ(WaitDone(h).kind, jobs::ExitKind::kStopped);
}

TEST_P(LocalSubstrateTest, BadRequestsAreRefusedByName) {
  auto code_and_message = [&](jobs::LaunchRequest r) {
    auto h = substrate_->Submit(r);
    EXPECT_FALSE(h.ok());
    return std::make_pair(h.status().code(), std::string(h.status().message()));
  };
  jobs::LaunchRequest r = Shell("exit 0");
  r.argv.clear();
  EXPECT_EQ(code_and_message(r).first, StatusCode::kInvalidArgument);
  r = Shell("exit 0");
  r.job_id = "../escape";
  EXPECT_NE(code_and_message(r).second.find("job_id"), std::string::npos);
  r = Shell("exit 0");
  r.job_dir = "relative/dir";
  EXPECT_NE(code_and_message(r).second.find("job_dir"), std::string::npos);
  r = Shell("exit 0");
  r.job_dir = root_ + "/missing";
  EXPECT_EQ(code_and_message(r).first, StatusCode::kNotFound);
  r = Shell("exit 0");
  r.log_path = root_ + "/no/such/dir/log";
  EXPECT_NE(code_and_message(r).second.find("log_path"), std::string::npos);
  r = Shell("exit 0");
  r.max_runtime_seconds = 0;
  EXPECT_NE(code_and_message(r).second.find("max_runtime_seconds"), std::string::npos);
  r = Shell("exit 0");
  r.resources.memory_mb = -1;
  EXPECT_NE(code_and_message(r).second.find("memory_mb"), std::string::npos);

  r = Shell("exit 0");
  jobs::JobHandle h = Submit(r);
  EXPECT_EQ(code_and_message(r).first, StatusCode::kAlreadyExists);
  EXPECT_EQ(WaitDone(h).exit_code, 0);

  // The runner refuses a log path it cannot open; nothing is left behind.
  r = Shell("exit 0");
  r.log_path = root_;  // a directory
  auto failed = code_and_message(r);
  EXPECT_EQ(failed.first, StatusCode::kInternal);
  EXPECT_NE(failed.second.find("cannot open log " + root_), std::string::npos) << failed.second;
  r.log_path = root_ + "/fixed.log";
  EXPECT_EQ(WaitDone(Submit(r)).exit_code, 0);  // the same attempt, now fine

  EXPECT_EQ(substrate_->Poll(jobs::JobHandle{"local", root_ + "/nope"}).status().code(),
            StatusCode::kNotFound);
  EXPECT_EQ(substrate_->Poll(jobs::JobHandle{"slurm", "123"}).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(substrate_->Stop(jobs::JobHandle{"local", ""}, 1).code(), StatusCode::kNotFound);
  EXPECT_EQ(substrate_->Stop(h, -1).code(), StatusCode::kInvalidArgument);
  EXPECT_FALSE(substrate_->StartedMicros(jobs::JobHandle{"local", root_ + "/nope"}).has_value());
}

// The start and end times a job reports (what cold-start figures and
// billing use) bracket the user's code: the start is taken once the exec
// succeeded (after Submit was called), the end after the process exited (the
// job prints its own clock, the same wall clock). How long a cold start takes
// is a benchmark (bench/compute), not a test.
TEST_P(LocalSubstrateTest, StartAndEndTimesBracketTheJob) {
  for (int i = 0; i < 5; ++i) {
    jobs::LaunchRequest r = Request({"/bin/date", "+%s%6N"});
    int64_t submitted = runner::WallMicros();
    jobs::JobHandle h = Submit(r);
    jobs::ExitInfo e = WaitDone(h);
    int64_t done = runner::WallMicros();
    ASSERT_EQ(e.exit_code, 0) << e.message;
    int64_t user_code = std::strtoll(Slurp(r.log_path).c_str(), nullptr, 10);
    EXPECT_GE(e.started_micros, submitted) << "start time taken before Submit";
    EXPECT_GE(user_code, submitted) << "user code ran before Submit";
    EXPECT_LE(user_code, e.ended_micros) << "end time taken before the user's code ran";
    EXPECT_LE(e.started_micros, e.ended_micros);
    EXPECT_LE(e.ended_micros, done) << "end time taken after WaitDone returned";
  }
}

// --- Sandbox-only behaviour ---------------------------------------------

class SandboxTest : public LocalSubstrateTest {};
INSTANTIATE_TEST_SUITE_P(Bwrap, SandboxTest, ::testing::Values(kSandboxed, kWarm), ModeName);

TEST_P(SandboxTest, OptMlIsWritableAndTheRestReadOnly) {
  fs::create_directories(root_ + "/outside");
  jobs::LaunchRequest r = Shell(
      "echo weights > /opt/ml/model/x && echo model-ok; "
      "touch /usr/tandem-test 2>/dev/null || echo usr-ro; "
      "touch " +
      root_ +
      "/outside/f 2>/dev/null || echo host-ro; "
      "touch /tmp/scratch && echo tmp-ok; hostname");
  jobs::ExitInfo e = Run(r);
  EXPECT_EQ(e.exit_code, 0) << e.message;
  EXPECT_EQ(Slurp(r.log_path), "model-ok\nusr-ro\nhost-ro\ntmp-ok\nalgo-1\n");
  EXPECT_EQ(Slurp(job_dir_ + "/model/x"), "weights\n");
  EXPECT_FALSE(fs::exists(root_ + "/outside/f"));
}

TEST_P(SandboxTest, NetworkOnlyWhenAsked) {
  TANDEM_REQUIRE_TOOL(HavePython(), "/usr/bin/python3");
  int sock = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(sock, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(sock, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(listen(sock, 8), 0);
  socklen_t len = sizeof(addr);
  getsockname(sock, reinterpret_cast<sockaddr*>(&addr), &len);
  std::string connect = "import socket\nsocket.create_connection(('127.0.0.1', " +
                        std::to_string(ntohs(addr.sin_port)) + "), timeout=5)\nprint('connected')";
  jobs::LaunchRequest offline = Request({"/usr/bin/python3", "-c", connect});
  jobs::ExitInfo e = Run(offline);
  EXPECT_EQ(e.kind, jobs::ExitKind::kExited);
  EXPECT_NE(e.exit_code, 0) << Slurp(offline.log_path);
  jobs::LaunchRequest online = Request({"/usr/bin/python3", "-c", connect});
  online.network = true;
  e = Run(online);
  EXPECT_EQ(e.exit_code, 0) << Slurp(online.log_path);
  EXPECT_EQ(Slurp(online.log_path), "connected\n");
  close(sock);
}

// --- Options --------------------------------------------------------------

TEST(LocalSubstrateOptionsTest, CreateRefusesMissingPieces) {
  LocalSubstrateOptions o;
  o.runner_path = "/no/such/tandem-job-runner";
  auto s = LocalSubstrate::Create(o);
  EXPECT_EQ(s.status().code(), StatusCode::kNotFound);
  EXPECT_NE(std::string(s.status().message()).find("/no/such/tandem-job-runner"),
            std::string::npos);
  o = LocalSubstrateOptions{};
  o.sandbox = Sandbox::kOn;
  o.bwrap_path = "/no/such/bwrap";
  EXPECT_EQ(LocalSubstrate::Create(o).status().code(), StatusCode::kNotFound);
  o = LocalSubstrateOptions{};
  o.log_limit_bytes = 0;
  EXPECT_EQ(LocalSubstrate::Create(o).status().code(), StatusCode::kInvalidArgument);
}

TEST(LocalSubstrateOptionsTest, ARunnerThatFailsToStartIsAnError) {
  LocalSubstrateOptions o;
  o.runner_path = "/bin/false";
  o.sandbox = Sandbox::kOff;
  auto s = LocalSubstrate::Create(o);
  ASSERT_TRUE(s.ok()) << s.status();
  std::string dir = "/tmp/tandem-local-false-" + std::to_string(getpid());
  fs::create_directories(dir + "/job");
  jobs::LaunchRequest r;
  r.job_id = "j";
  r.job_dir = dir + "/job";
  r.log_path = dir + "/log";
  r.argv = {"/bin/true"};
  auto h = (*s)->Submit(r);
  EXPECT_EQ(h.status().code(), StatusCode::kInternal);
  EXPECT_NE(std::string(h.status().message()).find("tandem-job-runner failed"), std::string::npos);
  EXPECT_FALSE(fs::exists(dir + "/.runner/j-1"));
  fs::remove_all(dir);
}

TEST(LocalSubstrateOptionsTest, DefaultsFindTheRunnerAndCapacity) {
  auto s = LocalSubstrate::Create(LocalSubstrateOptions{});
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ((*s)->name(), "local");
  EXPECT_GE((*s)->capacity_cpus(), 1);
  EXPECT_EQ((*s)->sandboxed(), HaveBwrap());
  LocalSubstrateOptions o;
  o.capacity_cpus = 3.5;
  o.sandbox = Sandbox::kOff;
  auto t = LocalSubstrate::Create(o);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ((*t)->capacity_cpus(), 3.5);
  EXPECT_FALSE((*t)->sandboxed());
}

Config ComputeConfig(const char* compute_section) {
  Config config;
  config.raw = Json{{"compute", Json::parse(compute_section)}};
  return config;
}

std::string Message(const Status& s) { return std::string(s.message()); }

TEST(LocalConfig, OptionsFromTheComputeSection) {
  auto defaults = LocalOptionsFromConfig(Config{});
  ASSERT_TRUE(defaults.ok()) << defaults.status();
  EXPECT_EQ(defaults->capacity_cpus, 0);
  EXPECT_EQ(defaults->sandbox, Sandbox::kAuto);
  EXPECT_EQ(defaults->warm_sandboxes, 8);

  auto o = LocalOptionsFromConfig(ComputeConfig(
      R"({"substrate": "local", "cpus": 2.5, "sandbox": "off", "grace_seconds": 3,
          "warm_sandboxes": 3})"));
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_DOUBLE_EQ(o->capacity_cpus, 2.5);
  EXPECT_EQ(o->sandbox, Sandbox::kOff);
  EXPECT_EQ(o->grace_seconds, 3);
  EXPECT_EQ(o->warm_sandboxes, 3);
  auto off = LocalOptionsFromConfig(ComputeConfig(R"({"warm_sandboxes": 0})"));
  ASSERT_TRUE(off.ok()) << off.status();
  EXPECT_EQ(off->warm_sandboxes, 0);

  struct Bad {
    const char* section;
    const char* message;
  };
  for (const Bad& bad : std::initializer_list<Bad>{
           {R"({"cpus": 0})", "'compute.cpus' must be a positive number, got 0"},
           {R"({"cpus": "two"})", "'compute.cpus' must be a positive number, got a string"},
           {R"({"sandbox": "maybe"})", "'compute.sandbox' must be one of auto, on or off"},
           {R"({"grace_seconds": -1})", "'compute.grace_seconds' must be an integer between 0"},
           {R"({"grace_seconds": 1.5})", "'compute.grace_seconds' must be an integer"},
           {R"({"substrate": "slurm"})", "'compute.substrate' must be one of local"},
           {R"({"warm_sandboxes": -1})",
            "'compute.warm_sandboxes' must be an integer between 0 and 64"},
           {R"({"warm_sandboxes": 65})",
            "'compute.warm_sandboxes' must be an integer between 0 and 64"},
           {R"({"warm_sandboxes": "8"})", "'compute.warm_sandboxes' must be an integer"},
           {R"({"warm_sandboxes": true})", "'compute.warm_sandboxes' must be an integer"},
           {R"({"queue": "x"})", "unknown field 'compute.queue'"}}) {
    auto r = LocalOptionsFromConfig(ComputeConfig(bad.section));
    ASSERT_FALSE(r.ok()) << bad.section;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(Message(r.status()).find(bad.message), std::string::npos)
        << bad.section << ": " << r.status();
  }
  Config list;
  list.raw = Json{{"compute", Json::array()}};
  EXPECT_EQ(Message(LocalOptionsFromConfig(list).status()),
            "'compute' must be a mapping, got a list");
}

}  // namespace
}  // namespace tandem::compute::local
