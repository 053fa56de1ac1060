// Unit tests of the Slurm substrate with recorded command outputs (no Slurm
// needed): the parsers, the state table, sbatch script generation, and
// Submit/Poll/Stop driven through a scripted SlurmCommands.
#include "compute/substrates/slurm/substrate.h"

#include <deque>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>

#include "common/ids.h"
#include "compute/jobs/spec.h"
#include "compute/substrates/runner/protocol.h"
#include "compute/substrates/slurm/node_job.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tandem::compute::slurm {
namespace {

namespace fs = std::filesystem;
using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// ---- parsers with recorded outputs (Debian slurm-wlm 22.05) ---------------------

TEST(SlurmParse, Sbatch) {
  EXPECT_EQ(*ParseSbatchParsable("42\n"), "42");
  EXPECT_EQ(*ParseSbatchParsable("42;tandemlocal\n"), "42");
  auto bad = ParseSbatchParsable("Submitted batch job 42\n");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("Submitted batch job 42"));
  EXPECT_FALSE(ParseSbatchParsable("").ok());
}

TEST(SlurmParse, SqueueRecorded) {
  // squeue -h -t all -j 1 -O JobID:|,State:|,Reason:|,exit_code:|,StartTime:|,EndTime:|
  auto s =
      ParseSqueue("1|FAILED|NonZeroExitCode|768|2026-11-30T08:39:51|2026-11-30T08:39:53|\n", "1");
  ASSERT_TRUE(s.ok()) << s.status();
  ASSERT_TRUE(s->has_value());
  EXPECT_EQ((*s)->state, "FAILED");
  EXPECT_EQ((*s)->reason, "NonZeroExitCode");
  EXPECT_EQ((*s)->exit_code, 3);
  EXPECT_EQ((*s)->signal, 0);
  EXPECT_EQ((*s)->end_micros - (*s)->start_micros, 2'000'000);
  EXPECT_DOUBLE_EQ((*s)->elapsed_seconds, 2);

  auto pending = ParseSqueue("7|PENDING|Resources|0|N/A|N/A|\n", "7");
  ASSERT_TRUE(pending.ok());
  EXPECT_EQ((*pending)->state, "PENDING");
  EXPECT_EQ((*pending)->start_micros, 0);

  auto killed = ParseSqueue("9|CANCELLED|None|9|2026-11-30T08:39:51|2026-11-30T08:39:52|", "9");
  ASSERT_TRUE(killed.ok());
  EXPECT_EQ((*killed)->signal, 9);

  auto other = ParseSqueue("8|RUNNING|None|0|2026-11-30T08:39:51|N/A|\n", "7");
  ASSERT_TRUE(other.ok());
  EXPECT_FALSE(other->has_value());
  EXPECT_FALSE(ParseSqueue("", "7")->has_value());
}

TEST(SlurmParse, SqueueErrorsNameTheText) {
  auto short_line = ParseSqueue("1|RUNNING\n", "1");
  ASSERT_FALSE(short_line.ok());
  EXPECT_THAT(std::string(short_line.status().message()), HasSubstr("1|RUNNING"));
  auto bad_code = ParseSqueue("1|FAILED|x|abc|N/A|N/A|", "1");
  ASSERT_FALSE(bad_code.ok());
  EXPECT_THAT(std::string(bad_code.status().message()), HasSubstr("abc"));
  auto bad_time = ParseSqueue("1|FAILED|x|0|yesterday|N/A|", "1");
  ASSERT_FALSE(bad_time.ok());
  EXPECT_THAT(std::string(bad_time.status().message()), HasSubstr("yesterday"));
}

TEST(SlurmParse, SacctCompletionLog) {
  // sacct -c -P -n -j 2 -o JobID,State,ExitCode,Start,End,Elapsed,TotalCPU,MaxRSS
  auto s = ParseSacct("2|FAILED|4:0|2026-11-30T08:40:12|2026-11-30T08:40:16|00:00:04|||\n", "2");
  ASSERT_TRUE(s.ok()) << s.status();
  ASSERT_TRUE(s->has_value());
  EXPECT_EQ((*s)->state, "FAILED");
  EXPECT_EQ((*s)->exit_code, 4);
  EXPECT_DOUBLE_EQ((*s)->elapsed_seconds, 4);
  EXPECT_EQ((*s)->cpu_seconds, -1);
  EXPECT_EQ((*s)->max_rss_bytes, -1);
}

TEST(SlurmParse, SacctDatabaseWithSteps) {
  // With slurmdbd: the job line plus .batch/.extern steps carrying TotalCPU/MaxRSS.
  auto s = ParseSacct(
      "12|CANCELLED by 0|0:15|2026-11-30T08:40:12|2026-11-30T08:41:13|00:01:01|00:02.500||\n"
      "12.batch|CANCELLED|0:15|2026-11-30T08:40:12|2026-11-30T08:41:13|00:01:01|00:02.500|204800K\n"
      "12.extern|COMPLETED|0:0|2026-11-30T08:40:12|2026-11-30T08:41:13|00:01:01|00:00:00|1024K\n",
      "12");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ((*s)->state, "CANCELLED");
  EXPECT_EQ((*s)->signal, 15);
  EXPECT_DOUBLE_EQ((*s)->elapsed_seconds, 61);
  EXPECT_DOUBLE_EQ((*s)->cpu_seconds, 2.5);
  EXPECT_EQ((*s)->max_rss_bytes, 204800 * 1024);

  auto bad = ParseSacct("12|FAILED|four|N/A|N/A|00:00:01||\n", "12");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("four"));
}

TEST(SlurmParse, DurationsSizesSinfo) {
  EXPECT_DOUBLE_EQ(*ParseSlurmDuration("00:00:04"), 4);
  EXPECT_DOUBLE_EQ(*ParseSlurmDuration("1-02:03:04"), 86400 + 7384);
  EXPECT_DOUBLE_EQ(*ParseSlurmDuration("01:02.250"), 62.25);
  EXPECT_FALSE(ParseSlurmDuration("soon").ok());
  EXPECT_EQ(*ParseSlurmSize("1024"), 1024);
  EXPECT_EQ(*ParseSlurmSize("2K"), 2048);
  EXPECT_EQ(*ParseSlurmSize("1.5M"), 1536 * 1024);
  EXPECT_FALSE(ParseSlurmSize("lots").ok());
  EXPECT_DOUBLE_EQ(*ParseSinfoCpus("0/2/0/2\n1/3/0/4\n"), 6);
  auto bad = ParseSinfoCpus("idle\n");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("idle"));
}

// ---- the state table ---------------------------------------------------------------

struct StateCase {
  const char* squeue_line;  // recorded/representative squeue output for job 5
  bool ended;
  jobs::ExitKind kind;
  int exit_code;
};

TEST(SlurmStates, EveryStateMaps) {
  const std::vector<StateCase> cases = {
      {"5|PENDING|Priority|0|N/A|N/A|", false, jobs::ExitKind::kExited, 0},
      {"5|RUNNING|None|0|2026-11-30T08:00:00|2026-11-30T09:00:00|", false, jobs::ExitKind::kExited,
       0},
      {"5|COMPLETING|None|0|2026-11-30T08:00:00|2026-11-30T08:00:05|", false,
       jobs::ExitKind::kExited, 0},
      {"5|COMPLETED|None|0|2026-11-30T08:00:00|2026-11-30T08:00:05|", true, jobs::ExitKind::kExited,
       0},
      {"5|FAILED|NonZeroExitCode|512|2026-11-30T08:00:00|2026-11-30T08:00:05|", true,
       jobs::ExitKind::kExited, 2},
      {"5|CANCELLED|None|15|2026-11-30T08:00:00|2026-11-30T08:00:05|", true,
       jobs::ExitKind::kStopped, 0},
      {"5|TIMEOUT|TimeLimit|0|2026-11-30T08:00:00|2026-11-30T08:01:05|", true,
       jobs::ExitKind::kTimedOut, 0},
      {"5|OUT_OF_MEMORY|OutOfMemory|0|2026-11-30T08:00:00|2026-11-30T08:00:05|", true,
       jobs::ExitKind::kOutOfMemory, 0},
      {"5|NODE_FAIL|NodeDown|0|2026-11-30T08:00:00|2026-11-30T08:00:05|", true,
       jobs::ExitKind::kLost, 0},
      {"5|PREEMPTED|None|0|2026-11-30T08:00:00|2026-11-30T08:00:05|", true, jobs::ExitKind::kLost,
       0},
      {"5|BOOT_FAIL|None|0|N/A|2026-11-30T08:00:05|", true, jobs::ExitKind::kLost, 0},
      {"5|DEADLINE|DeadLine|0|N/A|2026-11-30T08:00:05|", true, jobs::ExitKind::kTimedOut, 0},
      {"5|FAILED|None|0|2026-11-30T08:00:00|2026-11-30T08:00:01|", true, jobs::ExitKind::kExited,
       1},
      {"5|FAILED|None|11|2026-11-30T08:00:00|2026-11-30T08:00:01|", true, jobs::ExitKind::kSignaled,
       0},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.squeue_line);
    auto parsed = ParseSqueue(c.squeue_line, "5");
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    ASSERT_TRUE(parsed->has_value());
    auto mapped = MapSlurmState(**parsed);
    ASSERT_TRUE(mapped.ok()) << mapped.status();
    ASSERT_EQ(mapped->has_value(), c.ended);
    if (!c.ended) continue;
    EXPECT_EQ((*mapped)->kind, c.kind) << jobs::ExitKindName((*mapped)->kind);
    EXPECT_EQ((*mapped)->exit_code, c.exit_code);
    EXPECT_THAT((*mapped)->message, HasSubstr("Slurm job 5 " + (**parsed).state));
    if ((*parsed)->start_micros > 0) {
      EXPECT_DOUBLE_EQ((*mapped)->metering.wall_seconds,
                       ((*parsed)->end_micros - (*parsed)->start_micros) / 1e6);
    }
  }
}

TEST(SlurmStates, TableIsCompleteAndUnknownIsAnError) {
  for (const char* s : {"PENDING", "RUNNING", "COMPLETED", "FAILED", "CANCELLED", "TIMEOUT",
                        "OUT_OF_MEMORY", "NODE_FAIL", "PREEMPTED", "BOOT_FAIL", "DEADLINE"}) {
    bool found = false;
    for (const auto& row : SlurmStateTable()) found = found || row.state == s;
    EXPECT_TRUE(found) << s;
  }
  SlurmJobState s;
  s.job_id = "5";
  s.state = "LAUNCHED_INTO_SPACE";
  auto mapped = MapSlurmState(s);
  ASSERT_FALSE(mapped.ok());
  EXPECT_EQ(mapped.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(mapped.status().message()), HasSubstr("LAUNCHED_INTO_SPACE"));
}

TEST(SlurmStates, SacctMetering) {
  auto s = ParseSacct(
      "3|COMPLETED|0:0|2026-11-30T08:40:12|2026-11-30T08:40:22|00:00:10|00:07.500||\n"
      "3.batch|COMPLETED|0:0|2026-11-30T08:40:12|2026-11-30T08:40:22|00:00:10|00:07.500|10M\n",
      "3");
  ASSERT_TRUE(s.ok());
  auto e = MapSlurmState(**s);
  ASSERT_TRUE(e.ok());
  EXPECT_DOUBLE_EQ((*e)->metering.wall_seconds, 10);
  EXPECT_DOUBLE_EQ((*e)->metering.cpu_seconds, 7.5);
  EXPECT_EQ((*e)->metering.peak_rss_bytes, 10 << 20);
}

// ---- the substrate with scripted commands ------------------------------------------

class FakeCommands : public SlurmCommands {
 public:
  StatusOr<CommandResult> Run(const std::vector<std::string>& argv) override {
    calls.push_back(argv);
    auto& q = replies[argv[0]];
    if (q.empty()) return CommandResult{1, "", "unexpected call to " + argv[0]};
    CommandResult r = q.front();
    if (q.size() > 1) q.pop_front();  // the last reply repeats
    return r;
  }
  void Reply(const std::string& cmd, int code, std::string out, std::string err = "") {
    replies[cmd].push_back(CommandResult{code, std::move(out), std::move(err)});
  }
  int CountCalls(const std::string& cmd) const {
    int n = 0;
    for (const auto& c : calls) n += c[0] == cmd;
    return n;
  }
  std::map<std::string, std::deque<CommandResult>> replies;
  std::vector<std::vector<std::string>> calls;
};

class SlurmSubstrateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = "/tmp/tandem-slurm-unit-" + NewUlid(Clock::Real());
    fs::create_directories(root_ + "/job1/ml");
    fake_ = std::make_shared<FakeCommands>();
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(root_, ec);
  }

  std::unique_ptr<SlurmSubstrate> Make(double cpus = 4) {
    SlurmSubstrateOptions o;
    o.commands = fake_;
    o.clock = &clock_;
    o.capacity_cpus = cpus;
    o.partition = "debug";
    o.extra_sbatch_args = {"--qos=normal"};
    o.sandbox = SlurmSubstrateOptions::Sandbox::kOff;
    o.grace_seconds = 5;
    auto s = SlurmSubstrate::Create(o);
    EXPECT_TRUE(s.ok()) << s.status();
    return s.ok() ? *std::move(s) : nullptr;
  }

  jobs::LaunchRequest Request() {
    jobs::LaunchRequest r;
    r.job_id = "job1";
    r.attempt = 1;
    r.job_dir = root_ + "/job1/ml";
    r.log_path = root_ + "/job1/job.log";
    r.argv = {"/bin/sh", "-c", "echo hi"};
    r.resources.cpus = 1.5;
    r.resources.memory_mb = 512;
    r.max_runtime_seconds = 100;
    return r;
  }

  std::string StateDir() { return root_ + "/job1/.slurm/job1-1"; }

  FakeClock clock_{1'800'000'000'000'000};
  std::string root_;
  std::shared_ptr<FakeCommands> fake_;
};

TEST_F(SlurmSubstrateTest, CreateAsksSinfoForCapacity) {
  fake_->Reply("sinfo", 0, "0/8/0/8\n");
  auto s = Make(0);
  ASSERT_NE(s, nullptr);
  EXPECT_DOUBLE_EQ(s->capacity_cpus(), 8);
  EXPECT_THAT(fake_->calls[0], Contains("--partition=debug"));
}

TEST_F(SlurmSubstrateTest, CreateErrors) {
  fake_->Reply("sinfo", 1, "", "sinfo: error: Unable to contact slurm controller");
  SlurmSubstrateOptions o;
  o.commands = fake_;
  auto down = SlurmSubstrate::Create(o);
  ASSERT_FALSE(down.ok());
  EXPECT_EQ(down.status().code(), StatusCode::kUnavailable);
  EXPECT_THAT(std::string(down.status().message()), HasSubstr("Unable to contact"));

  o.capacity_cpus = 1;
  o.extra_sbatch_args = {"qos=high"};
  auto bad = SlurmSubstrate::Create(o);
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("qos=high"));

  o.extra_sbatch_args.clear();
  o.slurm_conf = root_ + "/nope.conf";
  auto conf = SlurmSubstrate::Create(o);
  ASSERT_FALSE(conf.ok());
  EXPECT_EQ(conf.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(std::string(conf.status().message()), HasSubstr("nope.conf"));

  o.slurm_conf.clear();
  o.runner_path = root_ + "/no-runner";
  EXPECT_EQ(SlurmSubstrate::Create(o).status().code(), StatusCode::kNotFound);
}

TEST_F(SlurmSubstrateTest, SbatchArgsAndScript) {
  auto s = Make();
  jobs::LaunchRequest r = Request();
  auto args = s->SbatchArgs(r, "/shared/state", "/shared/state/job.sbatch");
  EXPECT_EQ(args.front(), "sbatch");
  EXPECT_EQ(args.back(), "/shared/state/job.sbatch");
  EXPECT_THAT(args, Contains("--parsable"));
  EXPECT_THAT(args, Contains("--job-name=tandem-job1"));
  EXPECT_THAT(args, Contains("--output=" + r.log_path));
  EXPECT_THAT(args, Contains("--open-mode=append"));
  EXPECT_THAT(args, Contains("--cpus-per-task=2"));  // 1.5 rounded up
  EXPECT_THAT(args, Contains("--mem=512M"));
  EXPECT_THAT(args, Contains("--time=3"));  // 100 + 5 grace + 60 margin = 165 s -> 3 min
  EXPECT_THAT(args, Contains("--partition=debug"));
  EXPECT_THAT(args, Contains("--qos=normal"));
  EXPECT_THAT(args, Contains("--chdir=/shared/state"));
  r.resources.memory_mb = 0;
  EXPECT_THAT(s->SbatchArgs(r, "/d", "/d/s"), ::testing::Not(Contains("--mem=0M")));

  std::string script = s->BatchScript(r, "/shared/it's here");
  EXPECT_EQ(script.rfind("#!/bin/sh\n", 0), 0u);
  EXPECT_THAT(script, HasSubstr("tandem-slurm-step' '"));
  EXPECT_THAT(script, HasSubstr("tandem-job-runner' '/shared/it'\\''s here'\n"));
}

TEST_F(SlurmSubstrateTest, SubmitWritesStateAndHandle) {
  auto s = Make();
  fake_->Reply("sbatch", 0, "42\n");
  auto h = s->Submit(Request());
  ASSERT_TRUE(h.ok()) << h.status();
  EXPECT_EQ(h->substrate, "slurm");
  EXPECT_EQ(h->id, "42:" + StateDir());
  EXPECT_TRUE(fs::exists(StateDir() + "/request.json"));
  EXPECT_TRUE(fs::exists(StateDir() + "/job.sbatch"));
  Json j;
  ASSERT_EQ(runner::ReadJsonFile(StateDir() + "/request.json", &j), "");
  runner::RunnerRequest rr;
  ASSERT_EQ(runner::RunnerRequestFromJson(j, &rr), "");
  EXPECT_EQ(rr.launch.job_id, "job1");
  EXPECT_EQ(rr.launch.argv, Request().argv);
  EXPECT_EQ(rr.grace_seconds, 5);
  auto parsed = SlurmSubstrate::ParseHandle(*h);
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->slurm_id, "42");
  // The same attempt twice is refused.
  EXPECT_EQ(s->Submit(Request()).status().code(), StatusCode::kAlreadyExists);
}

TEST_F(SlurmSubstrateTest, SubmitRefusedBySlurmLeavesNothing) {
  auto s = Make();
  fake_->Reply("sbatch", 1, "",
               "sbatch: error: Batch job submission failed: Requested node configuration is not "
               "available\n");
  auto h = s->Submit(Request());
  ASSERT_FALSE(h.ok());
  EXPECT_EQ(h.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(h.status().message()), HasSubstr("Requested node configuration"));
  EXPECT_FALSE(fs::exists(StateDir()));
  fake_->replies["sbatch"].clear();
  fake_->Reply("sbatch", 0, "garbage\n");
  auto g = s->Submit(Request());
  ASSERT_FALSE(g.ok());
  EXPECT_THAT(std::string(g.status().message()), HasSubstr("garbage"));
  EXPECT_FALSE(fs::exists(StateDir()));
}

TEST_F(SlurmSubstrateTest, SubmitValidates) {
  auto s = Make();
  jobs::LaunchRequest r = Request();
  r.job_id = "../evil";
  EXPECT_EQ(s->Submit(r).status().code(), StatusCode::kInvalidArgument);
  r = Request();
  r.job_dir = root_ + "/missing";
  EXPECT_EQ(s->Submit(r).status().code(), StatusCode::kNotFound);
  r = Request();
  r.max_runtime_seconds = 0;
  EXPECT_EQ(s->Submit(r).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(fake_->CountCalls("sbatch"), 0);
}

// shared_fs: false -- the batch script carries the job; a bundle that does
// not unpack is refused and the outcome falls back to Slurm's.
TEST_F(SlurmSubstrateTest, NodeLocalSubmitCarriesTheJobAndRefusesABadBundle) {
  auto store = store::ObjectStore::Open("file://" + root_ + "/store");
  ASSERT_TRUE(store.ok()) << store.status();
  SlurmSubstrateOptions o;
  o.commands = fake_;
  o.clock = &clock_;
  o.capacity_cpus = 4;
  o.sandbox = SlurmSubstrateOptions::Sandbox::kOff;
  o.shared_fs = false;
  o.store = store->get();
  o.node_dir = "/scratch/tandem";
  o.node_path = "/bin/true";
  auto s = SlurmSubstrate::Create(o);
  ASSERT_TRUE(s.ok()) << s.status();
  jobs::LaunchRequest r = Request();
  fs::create_directories(r.job_dir);
  EXPECT_THAT(std::string((*s)->Submit(r).status().message()), HasSubstr("spec"));
  jobs::JobSpec spec;
  spec.name = "job1";
  spec.entry_point = "train.sh";
  r.spec = &spec;
  fake_->Reply("sbatch", 0, "42\n");
  auto h = (*s)->Submit(r);
  ASSERT_TRUE(h.ok()) << h.status();
  const auto& argv = fake_->calls.back();
  EXPECT_THAT(argv, Contains("--output=/dev/null"));
  EXPECT_THAT(argv, Contains("--chdir=/tmp"));
  std::string script = runner::ReadFile(StateDir() + "/job.sbatch").value_or("");
  EXPECT_EQ(fs::status(StateDir() + "/job.sbatch").permissions() & fs::perms::all,
            fs::perms::owner_all);
  size_t at = script.find("<<'TANDEM_NODE_PAYLOAD'\n");
  ASSERT_NE(at, std::string::npos) << script;
  std::string line = script.substr(at + 24, script.find('\n', at + 24) - at - 24);
  auto payload = NodePayload::FromJson(Json::parse(line));
  ASSERT_TRUE(payload.ok()) << payload.status();
  EXPECT_EQ(payload->bundle_key, NodeBundleKey("job1", 1));
  EXPECT_EQ(payload->node_dir, "/scratch/tandem");
  EXPECT_EQ(payload->store_uri, (*store)->uri());
  EXPECT_EQ(payload->spec["name"], "job1");
  EXPECT_THAT(script, HasSubstr("exec '/bin/true' "));

  // The job ended; its bundle is garbage: refused, deleted, and the outcome
  // is Slurm's with the reason.
  ASSERT_TRUE((*store)->PutString(payload->bundle_key, "not a tar.gz").ok());
  fake_->Reply("squeue", 0,
               "42|FAILED|NonZeroExitCode|512|2026-11-30T08:40:12|2026-11-30T08:40:16|\n");
  auto p = (*s)->Poll(*h);
  EXPECT_FALSE((*store)->Stat(payload->bundle_key).ok());
  ASSERT_TRUE(p.ok()) << p.status();
  ASSERT_TRUE(p->has_value());
  EXPECT_EQ((*p)->kind, jobs::ExitKind::kExited);
  EXPECT_EQ((*p)->exit_code, 2);
  EXPECT_THAT((*p)->message, HasSubstr("were refused"));
  EXPECT_FALSE(fs::exists(StateDir() + "/node-bundle"));

  // Images need the node's own layer cache: refused with a shared filesystem.
  auto shared = Make();
  jobs::LaunchRequest img = Request();
  img.job_id = "img1";
  img.image_repository = "team/train";
  img.image_digest = "sha256:" + std::string(64, 'a');
  auto refused = shared->Submit(img);
  EXPECT_EQ(refused.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr("shared_fs: false"));
}

TEST_F(SlurmSubstrateTest, PollMapsSlurmStatesAndFallsBackToSacct) {
  auto s = Make();
  fake_->Reply("sbatch", 0, "42\n");
  auto h = s->Submit(Request());
  ASSERT_TRUE(h.ok());
  fake_->Reply("squeue", 0, "42|PENDING|Resources|0|N/A|N/A|\n");
  auto p = s->Poll(*h);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_FALSE(p->has_value());
  // Within the query interval Slurm is not asked again.
  ASSERT_TRUE(s->Poll(*h).ok());
  EXPECT_EQ(fake_->CountCalls("squeue"), 1);

  // slurmctld forgot the job; no accounting DB; the completion log has it.
  clock_.Advance(2'000'000);
  fake_->replies["squeue"].clear();
  fake_->Reply("squeue", 1, "", "slurm_load_jobs error: Invalid job id specified\n");
  fake_->Reply("sacct", 1, "", "Slurm accounting storage is disabled\n");
  fake_->Reply("sacct", 0, "42|CANCELLED by 0|0:0|None|2026-11-30T08:40:16|00:00:00|||\n");
  p = s->Poll(*h);
  ASSERT_TRUE(p.ok()) << p.status();
  ASSERT_TRUE(p->has_value());
  EXPECT_EQ((*p)->kind, jobs::ExitKind::kStopped);
  EXPECT_THAT(fake_->calls.back(), Contains("-c"));
  // The answer is recorded: later polls do not ask Slurm.
  size_t calls = fake_->calls.size();
  clock_.Advance(10'000'000);
  auto again = s->Poll(*h);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ((*again)->kind, jobs::ExitKind::kStopped);
  EXPECT_EQ(fake_->calls.size(), calls);
}

TEST_F(SlurmSubstrateTest, PollUnknownToSlurmIsLostAndParseErrorsAreNotLost) {
  auto s = Make();
  fake_->Reply("sbatch", 0, "43\n");
  auto h = s->Submit(Request());
  ASSERT_TRUE(h.ok());
  fake_->Reply("squeue", 0, "43|WEIRD|None|0|N/A|N/A|\n");
  auto weird = s->Poll(*h);
  ASSERT_FALSE(weird.ok());
  EXPECT_EQ(weird.status().code(), StatusCode::kDataLoss);  // not NotFound: the job is not lost
  EXPECT_THAT(std::string(weird.status().message()), HasSubstr("WEIRD"));

  clock_.Advance(2'000'000);
  fake_->replies["squeue"].clear();
  fake_->Reply("squeue", 0, "");
  fake_->Reply("sacct", 0, "");
  auto lost = s->Poll(*h);
  ASSERT_TRUE(lost.ok()) << lost.status();
  ASSERT_TRUE(lost->has_value());
  EXPECT_EQ((*lost)->kind, jobs::ExitKind::kLost);
  EXPECT_THAT((*lost)->message, HasSubstr("43"));
}

TEST_F(SlurmSubstrateTest, ResultFileIsThePrimarySource) {
  auto s = Make();
  fake_->Reply("sbatch", 0, "44\n");
  auto h = s->Submit(Request());
  ASSERT_TRUE(h.ok());
  jobs::ExitInfo e;
  e.kind = jobs::ExitKind::kExited;
  e.exit_code = 3;
  e.metering.cpu_seconds = 1.25;
  e.metering.peak_rss_bytes = 1 << 20;
  ASSERT_EQ(runner::WriteFileAtomic(StateDir() + "/result.json", runner::ExitInfoToJson(e).dump()),
            "");
  auto p = s->Poll(*h);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ((*p)->exit_code, 3);
  EXPECT_DOUBLE_EQ((*p)->metering.cpu_seconds, 1.25);
  EXPECT_EQ(fake_->CountCalls("squeue"), 0);
}

TEST_F(SlurmSubstrateTest, RunnerStoppedBySlurmTimeLimitIsATimeout) {
  auto s = Make();
  fake_->Reply("sbatch", 0, "45\n");
  auto h = s->Submit(Request());
  ASSERT_TRUE(h.ok());
  jobs::ExitInfo e;
  e.kind = jobs::ExitKind::kStopped;  // the runner saw Slurm's SIGTERM
  e.message = "stopped";
  ASSERT_EQ(runner::WriteFileAtomic(StateDir() + "/result.json", runner::ExitInfoToJson(e).dump()),
            "");
  fake_->Reply("squeue", 0, "45|TIMEOUT|TimeLimit|0|2026-11-30T08:00:00|2026-11-30T08:03:00|\n");
  auto p = s->Poll(*h);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ((*p)->kind, jobs::ExitKind::kTimedOut);
  EXPECT_THAT((*p)->message, HasSubstr("TIMEOUT"));
}

TEST_F(SlurmSubstrateTest, StopSignalsTheBatchStepThenEscalates) {
  auto s = Make();
  fake_->Reply("sbatch", 0, "46\n");
  auto h = s->Submit(Request());
  ASSERT_TRUE(h.ok());
  // Not started yet: a plain scancel.
  fake_->Reply("scancel", 0, "");
  ASSERT_TRUE(s->Stop(*h, 3).ok());
  EXPECT_THAT(fake_->calls.back(), ElementsAre("scancel", "46"));
  // Started (the runner wrote runner.json): SIGTERM to the step only.
  ASSERT_EQ(runner::WriteFileAtomic(StateDir() + "/runner.json", "{}"), "");
  ASSERT_TRUE(s->Stop(*h, 3).ok());
  EXPECT_THAT(fake_->calls.back(), ElementsAre("scancel", "--batch", "--signal=TERM", "46"));
  Json stop;
  ASSERT_EQ(runner::ReadJsonFile(StateDir() + "/stop", &stop), "");
  EXPECT_EQ(stop["grace_seconds"], 3);

  // Still running past grace + kill_after: Poll sends a plain scancel once.
  fake_->Reply("squeue", 0, "46|RUNNING|None|0|2026-11-30T08:00:00|N/A|\n");
  ASSERT_TRUE(s->Poll(*h).ok());
  EXPECT_EQ(fake_->CountCalls("scancel"), 2);
  clock_.Advance(40'000'000);
  ASSERT_TRUE(s->Poll(*h).ok());
  EXPECT_EQ(fake_->CountCalls("scancel"), 3);
  EXPECT_THAT(fake_->calls.back(), ElementsAre("scancel", "46"));
  clock_.Advance(2'000'000);
  ASSERT_TRUE(s->Poll(*h).ok());
  EXPECT_EQ(fake_->CountCalls("scancel"), 3);

  fake_->replies["scancel"].clear();
  fake_->Reply("scancel", 1, "", "scancel: error: Unable to contact slurm controller\n");
  auto failed = s->Stop(*h, 3);
  EXPECT_EQ(failed.code(), StatusCode::kUnavailable);
}

TEST_F(SlurmSubstrateTest, StoppedResultCancelsTheLingeringStepOnce) {
  auto s = Make();
  fake_->Reply("sbatch", 0, "47\n");
  auto h = s->Submit(Request());
  ASSERT_TRUE(h.ok());
  ASSERT_EQ(runner::WriteFileAtomic(StateDir() + "/runner.json", "{}"), "");
  fake_->Reply("scancel", 0, "");
  ASSERT_TRUE(s->Stop(*h, 2).ok());
  jobs::ExitInfo e;
  e.kind = jobs::ExitKind::kStopped;
  e.message = "stopped";
  ASSERT_EQ(runner::WriteFileAtomic(StateDir() + "/result.json", runner::ExitInfoToJson(e).dump()),
            "");
  auto p = s->Poll(*h);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ((*p)->kind, jobs::ExitKind::kStopped);
  EXPECT_THAT(fake_->calls.back(), ElementsAre("scancel", "47"));
  ASSERT_TRUE(s->Poll(*h).ok());
  EXPECT_EQ(fake_->CountCalls("scancel"), 2);  // the TERM, then one plain scancel
  EXPECT_EQ(fake_->CountCalls("squeue"), 0);
  // Stopping what has ended is a no-op.
  ASSERT_TRUE(s->Stop(*h, 2).ok());
  EXPECT_EQ(fake_->CountCalls("scancel"), 2);
}

TEST_F(SlurmSubstrateTest, BadHandles) {
  auto s = Make();
  EXPECT_EQ(s->Poll(jobs::JobHandle{"local", "/x"}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s->Poll(jobs::JobHandle{"slurm", "nonsense"}).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(s->Poll(jobs::JobHandle{"slurm", "12:/does/not/exist"}).status().code(),
            StatusCode::kNotFound);
  EXPECT_EQ(s->Stop(jobs::JobHandle{"slurm", "x:/y"}, 1).code(), StatusCode::kNotFound);
  EXPECT_FALSE(s->StartedMicros(jobs::JobHandle{"slurm", "12:/does/not/exist"}).has_value());
}

Config ComputeConfig(const char* compute_section) {
  Config config;
  config.raw = Json{{"compute", Json::parse(compute_section)}};
  return config;
}

TEST(SlurmConfig, OptionsFromTheComputeSection) {
  auto o = SlurmOptionsFromConfig(ComputeConfig(R"({"substrate": "slurm", "conf": "/etc/slurm.conf",
      "partition": "gpu", "account": "ml", "sbatch_args": ["--qos=high"], "cpus": 32,
      "sandbox": "off", "grace_seconds": 3, "state_root": "/shared/s"})"));
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->slurm_conf, "/etc/slurm.conf");
  EXPECT_EQ(o->partition, "gpu");
  EXPECT_EQ(o->account, "ml");
  EXPECT_THAT(o->extra_sbatch_args, ElementsAre("--qos=high"));
  EXPECT_DOUBLE_EQ(o->capacity_cpus, 32);
  EXPECT_EQ(o->sandbox, SlurmSubstrateOptions::Sandbox::kOff);
  EXPECT_EQ(o->grace_seconds, 3);
  EXPECT_EQ(o->state_root, "/shared/s");

  auto unknown = SlurmOptionsFromConfig(ComputeConfig(R"({"substrate": "slurm", "queue": "x"})"));
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(unknown.status().message()), HasSubstr("compute.queue"));
  auto typed = SlurmOptionsFromConfig(ComputeConfig(R"({"sbatch_args": "--qos=high"})"));
  ASSERT_FALSE(typed.ok());
  EXPECT_THAT(std::string(typed.status().message()), HasSubstr("compute.sbatch_args"));
  EXPECT_FALSE(SlurmOptionsFromConfig(ComputeConfig(R"({"cpus": -1})")).ok());
  EXPECT_FALSE(SlurmOptionsFromConfig(ComputeConfig(R"({"partition": 3})")).ok());
  EXPECT_FALSE(SlurmOptionsFromConfig(ComputeConfig(R"({"cpus": 0})")).ok());
  EXPECT_FALSE(SlurmOptionsFromConfig(ComputeConfig(R"({"sandbox": "maybe"})")).ok());
  EXPECT_FALSE(SlurmOptionsFromConfig(ComputeConfig(R"({"grace_seconds": -1})")).ok());
  EXPECT_FALSE(SlurmOptionsFromConfig(ComputeConfig(R"({"sbatch_args": ["--a", 3]})")).ok());
  auto other = SlurmOptionsFromConfig(ComputeConfig(R"({"substrate": "local"})"));
  ASSERT_FALSE(other.ok());
  EXPECT_THAT(std::string(other.status().message()), HasSubstr("compute.substrate"));
  Config not_a_mapping;
  not_a_mapping.raw = Json{{"compute", Json::array()}};
  EXPECT_FALSE(SlurmOptionsFromConfig(not_a_mapping).ok());

  // Node-local job directories (node_job.h).
  auto noshare = SlurmOptionsFromConfig(ComputeConfig(R"({"shared_fs": false,
      "node_dir": "/scratch/tandem", "node_store": "s3://b/p", "node_images": "embedded",
      "node_image_cache_mb": 512})"));
  ASSERT_TRUE(noshare.ok()) << noshare.status();
  EXPECT_FALSE(noshare->shared_fs);
  EXPECT_EQ(noshare->node_dir, "/scratch/tandem");
  EXPECT_EQ(noshare->node_store_uri, "s3://b/p");
  EXPECT_EQ(noshare->node_images_uri, "embedded");
  EXPECT_EQ(noshare->node_image_cache_bytes, uint64_t{512} << 20);
  EXPECT_TRUE(SlurmOptionsFromConfig(ComputeConfig("{}"))->shared_fs);  // the default
  auto not_bool = SlurmOptionsFromConfig(ComputeConfig(R"({"shared_fs": "no"})"));
  ASSERT_FALSE(not_bool.ok());
  EXPECT_THAT(std::string(not_bool.status().message()), HasSubstr("compute.shared_fs"));
  EXPECT_FALSE(SlurmOptionsFromConfig(ComputeConfig(R"({"node_image_cache_mb": 0})")).ok());
  EXPECT_FALSE(SlurmOptionsFromConfig(ComputeConfig(R"({"node_dir": 5})")).ok());
}

// The per-command timeout follows the commands' clock: a command that never
// ends is killed once a FakeClock passes the timeout, however little real
// time went by.
TEST(SlurmCommandsTimeout, FakeClockDrivesTheCommandTimeout) {
  FakeClock clock;
  ProcessSlurmCommandsOptions o;
  o.bin_dir = "/bin";
  o.timeout_ms = 30'000;
  o.clock = &clock;
  auto commands = NewProcessSlurmCommands(o);
  auto run = std::async(std::launch::async, [&] { return commands->Run({"sleep", "3600"}); });
  while (run.wait_for(std::chrono::milliseconds(20)) != std::future_status::ready) {
    clock.AdvanceSeconds(10);
  }
  auto r = run.get();
  EXPECT_EQ(r.status().code(), StatusCode::kDeadlineExceeded) << r.status();
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("did not finish within 30000 ms"));
}

}  // namespace
}  // namespace tandem::compute::slurm
