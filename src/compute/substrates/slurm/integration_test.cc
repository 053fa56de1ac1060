// The Slurm substrate against a real single-node cluster (slurmctld + slurmd
// + munged on loopback, scripts/test-servers/slurm): real jobs through sbatch,
// squeue, sacct -c and scancel.
#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/ids.h"
#include "common/testing/test_server.h"
#include "common/uri.h"
#include "compute/substrates/slurm/substrate.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tandem::compute::slurm {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

constexpr int64_t kTimeoutMicros = 120'000'000;

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class SlurmIntegrationTest : public ::testing::Test {
 protected:
  void Open(const std::string& uri_text) {
    auto uri = ParseUri(uri_text);
    ASSERT_TRUE(uri.ok()) << uri.status();
    ASSERT_EQ(uri->scheme, "slurm");
    conf_ = uri->query["conf"];
    ASSERT_FALSE(conf_.empty()) << "no conf= in " << uri_text;
    // Under the build tree: on the same filesystem slurmd's jobs see.
    root_ =
        fs::path(conf_).parent_path().parent_path().string() + "/jobs-" + NewUlid(Clock::Real());
    fs::create_directories(root_);
    SlurmSubstrateOptions o;
    o.slurm_conf = conf_;
    o.sandbox = SlurmSubstrateOptions::Sandbox::kOff;
    o.grace_seconds = 1;
    o.query_interval_ms = 200;
    auto s = SlurmSubstrate::Create(o);
    ASSERT_TRUE(s.ok()) << s.status();
    substrate_ = *std::move(s);
    ProcessSlurmCommandsOptions copts;
    copts.slurm_conf = conf_;
    commands_ = NewProcessSlurmCommands(copts);
  }

  void TearDown() override {
    std::error_code ec;
    if (!root_.empty()) fs::remove_all(root_, ec);
  }

  jobs::LaunchRequest Request(const std::string& id, const std::string& script) {
    std::string dir = root_ + "/" + id;
    std::string ml = dir + "/ml";
    for (const char* sub : {"/code", "/model", "/output", "/input/data/train"}) {
      fs::create_directories(ml + sub);
    }
    std::ofstream(ml + "/code/train.sh") << script;
    std::ofstream(ml + "/input/data/train/data.csv") << "x,y\n1,2\n";
    jobs::LaunchRequest r;
    r.job_id = id;
    r.job_dir = ml;
    r.log_path = dir + "/job.log";
    r.argv = {"/bin/sh", ml + "/code/train.sh"};
    r.env = {{"PATH", "/usr/bin:/bin"},
             {"SM_MODEL_DIR", ml + "/model"},
             {"SM_CHANNEL_TRAIN", ml + "/input/data/train"},
             {"SM_OUTPUT_DATA_DIR", ml + "/output"}};
    r.working_dir = ml + "/code";
    r.max_runtime_seconds = 120;
    return r;
  }

  jobs::ExitInfo WaitEnd(const jobs::JobHandle& h) {
    int64_t deadline = Clock::Real().NowMicros() + kTimeoutMicros;
    while (Clock::Real().NowMicros() < deadline) {
      auto p = substrate_->Poll(h);
      EXPECT_TRUE(p.ok()) << p.status();
      if (!p.ok()) break;
      if (p->has_value()) return **p;
      Clock::Real().SleepMicros(50'000);
    }
    ADD_FAILURE() << "job " << h.id << " did not end";
    return jobs::ExitInfo{};
  }

  bool WaitStarted(const jobs::JobHandle& h) {
    int64_t deadline = Clock::Real().NowMicros() + kTimeoutMicros;
    while (Clock::Real().NowMicros() < deadline) {
      if (substrate_->StartedMicros(h)) return true;
      Clock::Real().SleepMicros(50'000);
    }
    return false;
  }

  // Slurm's own record of the job, straight from squeue/sacct -c, once final.
  std::string SlurmRecord(const jobs::JobHandle& h) {
    auto parsed = SlurmSubstrate::ParseHandle(h);
    EXPECT_TRUE(parsed.ok());
    int64_t deadline = Clock::Real().NowMicros() + kTimeoutMicros;
    std::string last;
    while (Clock::Real().NowMicros() < deadline) {
      auto r = commands_->Run(
          {"squeue", "-h", "-t", "all", "-j", parsed->slurm_id, "-O", kSqueueFormat});
      if (r.ok() && r->exit_code == 0) {
        auto s = ParseSqueue(r->out, parsed->slurm_id);
        if (s.ok() && *s && (*s)->state != "RUNNING" && (*s)->state != "COMPLETING") {
          return (*s)->state + " " + std::to_string((*s)->exit_code);
        }
        if (s.ok() && *s) last = (*s)->state;
      }
      Clock::Real().SleepMicros(100'000);
    }
    return "still " + last;
  }

  std::string conf_;
  std::string root_;
  std::unique_ptr<SlurmSubstrate> substrate_;
  std::unique_ptr<SlurmCommands> commands_;
};

TEST_F(SlurmIntegrationTest, SuccessfulJobSeesTheContractAndWritesAModel) {
  TANDEM_REQUIRE_TEST_SERVER("slurm", uri);
  Open(uri);
  ASSERT_NE(substrate_, nullptr);
  EXPECT_GT(substrate_->capacity_cpus(), 0);
  auto h = substrate_->Submit(Request("ok", R"sh(
echo "model dir: $SM_MODEL_DIR"
echo "cwd: $(pwd)"
wc -l < "$SM_CHANNEL_TRAIN/data.csv"
echo weights > "$SM_MODEL_DIR/model.txt"
)sh"));
  ASSERT_TRUE(h.ok()) << h.status();
  jobs::ExitInfo e = WaitEnd(*h);
  EXPECT_EQ(e.kind, jobs::ExitKind::kExited) << e.message;
  EXPECT_EQ(e.exit_code, 0) << e.message;
  EXPECT_GT(e.metering.wall_seconds, 0);
  EXPECT_GT(e.started_micros, 0);
  EXPECT_GE(e.ended_micros, e.started_micros);
  std::string ml = root_ + "/ok/ml";
  EXPECT_EQ(Slurp(ml + "/model/model.txt"), "weights\n");
  std::string log = Slurp(root_ + "/ok/job.log");
  EXPECT_THAT(log, HasSubstr("model dir: " + ml + "/model"));
  EXPECT_THAT(log, HasSubstr("cwd: " + ml + "/code"));
  EXPECT_THAT(log, HasSubstr("2\n"));
  EXPECT_EQ(SlurmRecord(*h), "COMPLETED 0");
}

TEST_F(SlurmIntegrationTest, FailingJobRecordsItsExitCode) {
  TANDEM_REQUIRE_TEST_SERVER("slurm", uri);
  Open(uri);
  ASSERT_NE(substrate_, nullptr);
  auto h = substrate_->Submit(Request("fail", "echo about to fail >&2\nexit 7\n"));
  ASSERT_TRUE(h.ok()) << h.status();
  jobs::ExitInfo e = WaitEnd(*h);
  EXPECT_EQ(e.kind, jobs::ExitKind::kExited) << e.message;
  EXPECT_EQ(e.exit_code, 7);
  EXPECT_THAT(Slurp(root_ + "/fail/job.log"), HasSubstr("about to fail"));
  EXPECT_EQ(SlurmRecord(*h), "FAILED 7");
}

TEST_F(SlurmIntegrationTest, JobExceedingMaxRuntimeTimesOut) {
  TANDEM_REQUIRE_TEST_SERVER("slurm", uri);
  Open(uri);
  ASSERT_NE(substrate_, nullptr);
  jobs::LaunchRequest r = Request("slow", "sleep 100\n");
  r.max_runtime_seconds = 2;
  auto h = substrate_->Submit(r);
  ASSERT_TRUE(h.ok()) << h.status();
  jobs::ExitInfo e = WaitEnd(*h);
  EXPECT_EQ(e.kind, jobs::ExitKind::kTimedOut) << e.message;
  EXPECT_LT(e.metering.wall_seconds, 60);
}

TEST_F(SlurmIntegrationTest, StoppedJobIsCancelled) {
  TANDEM_REQUIRE_TEST_SERVER("slurm", uri);
  Open(uri);
  ASSERT_NE(substrate_, nullptr);
  auto h = substrate_->Submit(Request("stop",
                                      "trap 'echo got TERM; exit 143' TERM\n"
                                      "echo waiting\nsleep 100 & wait\n"));
  ASSERT_TRUE(h.ok()) << h.status();
  ASSERT_TRUE(WaitStarted(*h));
  ASSERT_TRUE(substrate_->Stop(*h, 5).ok());
  jobs::ExitInfo e = WaitEnd(*h);
  EXPECT_EQ(e.kind, jobs::ExitKind::kStopped) << e.message;
  EXPECT_THAT(Slurp(root_ + "/stop/job.log"), HasSubstr("got TERM"));
  EXPECT_EQ(SlurmRecord(*h).substr(0, 9), "CANCELLED");
}

TEST_F(SlurmIntegrationTest, StopWhilePendingAndRestartSafety) {
  TANDEM_REQUIRE_TEST_SERVER("slurm", uri);
  Open(uri);
  ASSERT_NE(substrate_, nullptr);
  // A held job (sbatch --hold) stays PENDING until released.
  jobs::LaunchRequest r = Request("held", "echo never\n");
  SlurmSubstrateOptions o;
  o.slurm_conf = conf_;
  o.sandbox = SlurmSubstrateOptions::Sandbox::kOff;
  o.extra_sbatch_args = {"--hold"};
  o.query_interval_ms = 200;
  auto held_substrate = SlurmSubstrate::Create(o);
  ASSERT_TRUE(held_substrate.ok()) << held_substrate.status();
  auto h = (*held_substrate)->Submit(r);
  ASSERT_TRUE(h.ok()) << h.status();
  auto p = (*held_substrate)->Poll(*h);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_FALSE(p->has_value());
  held_substrate->reset();  // "control-plane restart": a new substrate takes over the handle
  ASSERT_TRUE(substrate_->Stop(*h, 1).ok());
  jobs::ExitInfo e = WaitEnd(*h);
  EXPECT_EQ(e.kind, jobs::ExitKind::kStopped) << e.message;
  EXPECT_EQ(e.started_micros, 0);
  EXPECT_EQ(SlurmRecord(*h).substr(0, 9), "CANCELLED");
}

TEST_F(SlurmIntegrationTest, SlurmRefusesAnImpossibleJob) {
  TANDEM_REQUIRE_TEST_SERVER("slurm", uri);
  Open(uri);
  ASSERT_NE(substrate_, nullptr);
  jobs::LaunchRequest r = Request("huge", "echo never\n");
  r.resources.memory_mb = int64_t{1} << 40;  // more than any node has
  auto h = substrate_->Submit(r);
  ASSERT_FALSE(h.ok());
  EXPECT_EQ(h.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(h.status().message()), HasSubstr("sbatch refused job huge"));
  EXPECT_THAT(std::string(h.status().message()), HasSubstr("Memory specification"));
}

}  // namespace
}  // namespace tandem::compute::slurm
