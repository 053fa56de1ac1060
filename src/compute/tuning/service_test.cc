// The tuning service end to end: an in-process JobService on the real local
// substrate, SQLite, a file store, the SQL bus and registry; trials run a
// tiny shell script that prints its objective.
#include "compute/tuning/service.h"

#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include "common/ids.h"
#include "compute/substrates/local/substrate.h"
#include "compute/tuning/bohb.h"
#include "compute/testing/job_env.h"
#include "glue/bus/event_types.h"
#include "glue/bus/sql_event_bus.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tandem::compute::tuning {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

constexpr int64_t kTimeoutMs = 120'000;

// loss at step i = x + 1 / (i + 1); prints `steps` lines, sleeping `pause`
// seconds between them; a model file so the job can be registered.
constexpr char kTrainer[] = R"(#!/bin/sh
set -e
x=0; steps=3; pause=0
while [ $# -gt 0 ]; do
  case "$1" in -x | --x) x=$2; shift;; --steps) steps=$2; shift;; --pause) pause=$2; shift;; esac
  shift
done
i=0
while [ "$i" -lt "$steps" ]; do
  awk -v x="$x" -v i="$i" 'BEGIN { printf "step %d loss=%.6f\n", i, x + 1 / (i + 1) }'
  i=$((i + 1))
  [ "$pause" = 0 ] || sleep "$pause"
done
echo "x=$x" > "$SM_MODEL_DIR/model.txt"
)";

// The same objective, resuming from $TANDEM_CHECKPOINT_DIR/steps (the steps
// it already ran) and saving its step count there: a promoted trial runs
// only the steps its configuration has not run yet.
constexpr char kResumingTrainer[] = R"(#!/bin/sh
set -e
x=0; steps=3
while [ $# -gt 0 ]; do
  case "$1" in -x | --x) x=$2; shift;; --steps) steps=$2; shift;; esac
  shift
done
i=0
[ -f "$TANDEM_CHECKPOINT_DIR/steps" ] && i=$(cat "$TANDEM_CHECKPOINT_DIR/steps")
echo "resumed at $i"
if [ "$i" -ge "$steps" ]; then  # nothing to train: report, keep the longer checkpoint
  awk -v x="$x" -v s="$steps" 'BEGIN { printf "step %d loss=%.6f\n", s - 1, x + 1 / s }'
else
  while [ "$i" -lt "$steps" ]; do
    awk -v x="$x" -v i="$i" 'BEGIN { printf "step %d loss=%.6f\n", i, x + 1 / (i + 1) }'
    i=$((i + 1))
  done
  echo "$steps" > "$TANDEM_CHECKPOINT_DIR/steps"
fi
echo "x=$x" > "$SM_MODEL_DIR/model.txt"
)";

class TuningServiceTest : public testing::JobServiceTestEnv {
 protected:
  void SetUp() override {
    OpenGlue("/tmp/tandem-tuning-");
    ASSERT_FALSE(HasFatalFailure());
    fs::create_directories(home_ + "/src");
    WriteExecutable(home_ + "/src/train.sh", kTrainer);
    jobs::JobServiceOptions opts = JobOptions(/*cpus=*/3, /*grace_seconds=*/2);
    opts.stop_grace_seconds = 2;
    StartJobs(std::move(opts));
    ASSERT_FALSE(HasFatalFailure());
    OpenTuning();
  }

  void TearDown() override {
    tuning_.reset();
    jobs_.reset();
    RemoveHome();
  }

  void OpenTuning() {
    TuningServiceOptions o;
    o.db = db_.get();
    o.outbox = bus_->outbox();
    o.jobs = jobs_.get();
    o.registry = registry_.get();
    o.store = store_.get();
    o.poll_interval_ms = 50;
    auto t = TuningService::Open(o);
    ASSERT_TRUE(t.ok()) << t.status();
    tuning_ = *std::move(t);
    tuning_->Start();
  }

  TuningSpec Spec(const std::string& yaml) {
    std::string text = yaml + R"(
training_job:
  team: growth
  entry_point: train.sh
  source_dir: )" + home_ +
                       R"(/src
  resources: {cpus: 1}
  max_runtime_seconds: 120
  metric_definitions: [{name: loss, regex: 'loss=([-0-9.]+)'}]
)";
    auto spec = TuningSpec::Parse(text);
    EXPECT_TRUE(spec.ok()) << spec.status();
    return spec.ok() ? *spec : TuningSpec{};
  }

  TuningRecord RunToEnd(const TuningSpec& spec) {
    auto created = tuning_->Create(spec);
    EXPECT_TRUE(created.ok()) << created.status();
    if (!created.ok()) return {};
    auto done = tuning_->WaitFor(
        created->name, [](const TuningRecord& r) { return IsTerminal(r.state); }, kTimeoutMs);
    EXPECT_TRUE(done.ok()) << done.status();
    return done.ok() ? *done : TuningRecord{};
  }

  std::vector<TuningTrial> Trials(const std::string& name) {
    auto t = tuning_->Trials(name);
    EXPECT_TRUE(t.ok()) << t.status();
    return t.ok() ? *t : std::vector<TuningTrial>{};
  }

  std::vector<std::string> EventStates(const std::string& name) {
    std::vector<std::string> out;
    for (const Json& d : EventDetails(bus::events::kTuningJobStateChange)) {
      if (d.value("name", "") == name) out.push_back(d["state"].get<std::string>());
    }
    return out;
  }

  std::unique_ptr<TuningService> tuning_;
};

TEST_F(TuningServiceTest, RandomSearchRecordsBestRegistersAndEmitsEvents) {
  TuningSpec spec = Spec(R"(
name: rand-tune
objective: {metric: loss, type: Minimize}
strategy: Random
parameter_ranges: [{name: x, type: Continuous, min: 0, max: 4}]
max_jobs: 5
max_parallel_jobs: 2
seed: 3
register: {model: tuned-model, alias: champion}
)");
  TuningRecord r = RunToEnd(spec);
  ASSERT_EQ(r.state, TuningState::kCompleted) << r.failure_reason;
  EXPECT_EQ(r.counts.completed, 5);
  auto trials = Trials("rand-tune");
  ASSERT_EQ(trials.size(), 5u);
  double best = 1e9;
  std::set<std::string> job_ids;
  for (const auto& t : trials) {
    ASSERT_TRUE(t.objective);
    // The final value of `loss` (3 steps: x + 1/3) and all intermediate values.
    double x = t.params.at("x").get<double>();
    EXPECT_NEAR(*t.objective, x + 1.0 / 3, 1e-5);
    EXPECT_EQ(t.intermediate.size(), 3u);
    EXPECT_EQ(t.job_name, "rand-tune-" + std::to_string(t.index));
    best = std::min(best, *t.objective);
    job_ids.insert(t.job_id);
    auto job = jobs_->Get(t.job_id);
    ASSERT_TRUE(job.ok());
    EXPECT_EQ(job->spec.hyperparameters.at("x"), t.params.at("x"));
    EXPECT_FALSE(job->spec.register_model);  // only the best is registered
  }
  EXPECT_EQ(job_ids.size(), 5u);
  ASSERT_TRUE(r.best);
  EXPECT_EQ(*r.best->objective, best);
  EXPECT_EQ(r.registered_model, "tuned-model");
  auto v = registry_->GetVersionByAlias("tuned-model", "champion");
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->version, r.registered_version);
  EXPECT_EQ(v->tags.at("job_id"), r.best->job_id);
  EXPECT_EQ(v->tags.at("tuning_job"), "rand-tune");
  EXPECT_EQ(EventStates("rand-tune"), (std::vector<std::string>{"InProgress", "Completed"}));
}

TEST_F(TuningServiceTest, MedianRuleStopsWorseTrialsEarlyNotFailed) {
  // Grid x = 0..6 one at a time: 0, 1, 2 complete; from x = 3 on every trial
  // is worse than the median of the completed running averages at step 1
  // and is stopped long before its 20 steps.
  TuningSpec spec = Spec(R"(
name: median-tune
objective: {metric: loss, type: Minimize}
strategy: Grid
parameter_ranges: [{name: x, type: Integer, min: 0, max: 5}]
max_jobs: 6
max_parallel_jobs: 1
early_stopping: Auto
)");
  spec.training_job.hyperparameters["steps"] = 20;
  spec.training_job.hyperparameters["pause"] = 0.15;
  TuningRecord r = RunToEnd(spec);
  ASSERT_EQ(r.state, TuningState::kCompleted) << r.failure_reason;
  auto trials = Trials("median-tune");
  ASSERT_EQ(trials.size(), 6u);
  for (const auto& t : trials) {
    int x = t.params.at("x").get<int>();
    if (x < 3) {
      EXPECT_EQ(t.state, TrialState::kCompleted) << x;
      EXPECT_EQ(t.intermediate.size(), 20u);
    } else {
      EXPECT_EQ(t.state, TrialState::kStoppedEarly) << x;
      EXPECT_LT(t.intermediate.size(), 20u);
      auto job = jobs_->Get(t.job_id);
      ASSERT_TRUE(job.ok());
      EXPECT_EQ(job->state, jobs::JobState::kStopped);
    }
  }
  EXPECT_EQ(r.counts.stopped_early, 3);
  EXPECT_EQ(r.counts.failed, 0);
  EXPECT_EQ(r.best->params.at("x"), 0);
}

TEST_F(TuningServiceTest, HyperbandPromotesWithTheResourceAsHyperparameter) {
  TuningSpec spec = Spec(R"(
name: hb-tune
objective: {metric: loss, type: Minimize}
strategy: Hyperband
parameter_ranges: [{name: x, type: Continuous, min: 0, max: 4}]
hyperband: {min_resource: 1, max_resource: 9, reduction_factor: 3, resource_param: steps}
max_jobs: 12
max_parallel_jobs: 3
seed: 5
)");
  TuningRecord r = RunToEnd(spec);
  ASSERT_EQ(r.state, TuningState::kCompleted) << r.failure_reason;
  auto trials = Trials("hb-tune");
  ASSERT_EQ(trials.size(), 12u);
  std::map<int64_t, Json> rung0_params;
  int promoted = 0;
  for (const auto& t : trials) {
    EXPECT_EQ(t.state, TrialState::kCompleted);
    int64_t expected_resource = t.rung == 0 ? 1 : t.rung == 1 ? 3 : 9;
    EXPECT_EQ(t.resource, expected_resource);
    EXPECT_EQ(t.params.at("steps"), expected_resource);
    EXPECT_EQ(t.intermediate.size(), static_cast<size_t>(expected_resource));
    if (t.rung == 0) {
      rung0_params[t.config] = t.params.at("x");
    } else {
      ++promoted;
      ASSERT_TRUE(rung0_params.count(t.config)) << "promoted before it ran at rung 0";
      EXPECT_EQ(t.params.at("x"), rung0_params[t.config]);
    }
  }
  EXPECT_GE(promoted, 2);
  ASSERT_TRUE(r.best);
}

// The default sampler of new configurations is BOHB: each new configuration
// is what BohbSampler suggests from the results completed before it (one
// trial at a time here, so those are all earlier trials), and once a rung
// has enough results some are modelled rather than random.
TEST_F(TuningServiceTest, HyperbandSamplesNewConfigurationsWithBohb) {
  TuningSpec spec = Spec(R"(
name: hb-bohb
objective: {metric: loss, type: Minimize}
strategy: Hyperband
parameter_ranges: [{name: x, type: Continuous, min: 0, max: 4}]
hyperband: {min_resource: 1, max_resource: 9, reduction_factor: 3, resource_param: steps}
max_jobs: 16
max_parallel_jobs: 1
seed: 3
)");
  ASSERT_EQ(spec.hyperband.sampler, HyperbandSampler::kBohb);
  TuningRecord r = RunToEnd(spec);
  ASSERT_EQ(r.state, TuningState::kCompleted) << r.failure_reason;
  auto trials = Trials("hb-bohb");
  ASSERT_EQ(trials.size(), 16u);
  BohbSampler bohb(spec.ranges, spec.seed);
  int modelled = 0, fresh = 0;
  for (const auto& t : trials) {
    if (t.rung != 0) continue;
    ++fresh;
    std::vector<std::vector<Observation>> by_rung(3);
    for (const auto& x : trials) {
      if (x.index >= t.index) continue;
      ASSERT_EQ(x.state, TrialState::kCompleted);
      by_rung[static_cast<size_t>(x.rung)].push_back({x.params, *x.objective});
    }
    auto expected = bohb.Suggest(t.config, by_rung);
    ASSERT_TRUE(expected.ok());
    EXPECT_EQ(t.params.at("x"), expected->at("x")) << "trial " << t.index;
    modelled += bohb.ModelRung(t.config, by_rung) >= 0;
  }
  EXPECT_GE(fresh, 8);
  EXPECT_GE(modelled, 2);
}

TEST_F(TuningServiceTest, HyperbandPromotionsResumeFromTheirConfigurationsCheckpoint) {
  WriteExecutable(home_ + "/src/resume.sh", kResumingTrainer);
  TuningSpec spec = Spec(R"(
name: hb-resume
objective: {metric: loss, type: Minimize}
strategy: Hyperband
parameter_ranges: [{name: x, type: Continuous, min: 0, max: 4}]
hyperband: {min_resource: 1, max_resource: 9, reduction_factor: 3, resource_param: steps}
max_jobs: 10
max_parallel_jobs: 1
seed: 7
)");
  spec.training_job.entry_point = "resume.sh";
  TuningRecord r = RunToEnd(spec);
  ASSERT_EQ(r.state, TuningState::kCompleted) << r.failure_reason;
  int promoted = 0;
  for (const auto& t : Trials("hb-resume")) {
    ASSERT_EQ(t.state, TrialState::kCompleted) << t.failure_reason;
    auto job = jobs_->Get(t.job_id);
    ASSERT_TRUE(job.ok()) << job.status();
    ASSERT_TRUE(job->spec.checkpoint.has_value());
    EXPECT_EQ(job->spec.checkpoint->key_prefix,
              "teams/growth/tuning/hb-resume/config-" + std::to_string(t.config));
    const int64_t previous = t.rung == 0 ? 0 : t.rung == 1 ? 1 : 3;
    // Only the steps beyond the previous rung ran; the objective is the one
    // an uninterrupted run reaches (x + 1 / steps).
    EXPECT_EQ(t.intermediate.size(), static_cast<size_t>(t.resource - previous)) << t.rung;
    EXPECT_EQ(job->details["checkpoint"]["restored_files"], t.rung == 0 ? 0 : 1);
    ASSERT_TRUE(t.objective.has_value());
    EXPECT_NEAR(*t.objective, t.params.at("x").get<double>() + 1.0 / t.resource, 1e-5);
    if (t.rung > 0) ++promoted;
  }
  EXPECT_GE(promoted, 2);
  EXPECT_EQ(TrialCheckpointPrefix(spec, "hb-resume", 4), "teams/growth/tuning/hb-resume/config-4");
}

TEST_F(TuningServiceTest, WarmStartedTrialsResumeFromTheirParentsCheckpoints) {
  WriteExecutable(home_ + "/src/resume.sh", kResumingTrainer);
  const std::string body = R"(
objective: {metric: loss, type: Minimize}
strategy: Hyperband
parameter_ranges: [{name: x, type: Continuous, min: 0, max: 4}]
hyperband: {min_resource: 1, max_resource: 9, reduction_factor: 3, resource_param: steps}
max_jobs: 8
max_parallel_jobs: 1
seed: 11
)";
  TuningSpec parent = Spec("name: hb-parent\n" + body);
  parent.training_job.entry_point = "resume.sh";
  ASSERT_EQ(RunToEnd(parent).state, TuningState::kCompleted);
  std::map<int64_t, int64_t> parent_steps;  // config -> most steps trained
  for (const auto& t : Trials("hb-parent")) {
    parent_steps[t.config] = std::max(parent_steps[t.config], t.resource);
  }
  // Same seed and ranges: the child suggests the parent's configurations.
  TuningSpec child = Spec("name: hb-child\nwarm_start: {parents: [hb-parent]}\n" + body);
  child.training_job.entry_point = "resume.sh";
  TuningRecord r = RunToEnd(child);
  ASSERT_EQ(r.state, TuningState::kCompleted) << r.failure_reason;
  int resumed_beyond = 0;
  for (const auto& t : Trials("hb-child")) {
    ASSERT_EQ(t.state, TrialState::kCompleted) << t.failure_reason;
    ASSERT_TRUE(parent_steps.count(t.config)) << t.config;
    auto job = jobs_->Get(t.job_id);
    ASSERT_TRUE(job.ok());
    EXPECT_EQ(job->details["checkpoint"]["restored_files"], 1) << "trial " << t.index;
    EXPECT_NEAR(*t.objective, t.params.at("x").get<double>() + 1.0 / t.resource, 1e-5);
    if (t.rung == 0) {
      auto log = jobs_->ReadLog(t.job_id, 0);
      ASSERT_TRUE(log.ok());
      EXPECT_THAT(log->data, HasSubstr("resumed at " + std::to_string(parent_steps[t.config])));
      if (parent_steps[t.config] > t.resource) ++resumed_beyond;
    }
  }
  EXPECT_GE(resumed_beyond, 1);  // a parent's promoted configuration: nothing retrained
  // The parent's checkpoints are untouched by the child's trials.
  for (const auto& [config, steps] : parent_steps) {
    auto stored = store_->GetString("teams/growth/tuning/hb-parent/config-" +
                                    std::to_string(config) + "/steps");
    ASSERT_TRUE(stored.ok()) << stored.status();
    EXPECT_EQ(*stored, std::to_string(steps) + "\n");
  }
}

TEST(TrialCheckpointPrefixTest, TemplatePrefixOrHyperbandOnly) {
  TuningSpec spec;
  spec.training_job.team = "fraud";
  spec.strategy = TuningStrategy::kBayesian;
  EXPECT_EQ(TrialCheckpointPrefix(spec, "t", 2), std::nullopt);
  spec.strategy = TuningStrategy::kHyperband;
  EXPECT_EQ(TrialCheckpointPrefix(spec, "t", 2), "teams/fraud/tuning/t/config-2");
  spec.strategy = TuningStrategy::kRandom;
  spec.training_job.checkpoint = jobs::CheckpointSpec{"teams/fraud/ckpt"};
  EXPECT_EQ(TrialCheckpointPrefix(spec, "t", 3), "teams/fraud/ckpt/config-3");
}

TEST_F(TuningServiceTest, ResumesAfterRestartWithoutDuplicateTrials) {
  TuningSpec spec = Spec(R"(
name: restart-tune
objective: {metric: loss, type: Maximize}
strategy: Bayesian
parameter_ranges: [{name: x, type: Continuous, min: 0, max: 4}]
max_jobs: 4
max_parallel_jobs: 1
)");
  spec.training_job.hyperparameters["pause"] = 0.2;
  auto created = tuning_->Create(spec);
  ASSERT_TRUE(created.ok()) << created.status();
  auto one = tuning_->WaitFor(
      "restart-tune", [](const TuningRecord& r) { return r.counts.total() >= 1; }, kTimeoutMs);
  ASSERT_TRUE(one.ok()) << one.status();
  tuning_.reset();  // the control plane dies; the trial keeps running
  OpenTuning();
  auto done = tuning_->WaitFor(
      "restart-tune", [](const TuningRecord& r) { return IsTerminal(r.state); }, kTimeoutMs);
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_EQ(done->state, TuningState::kCompleted);
  EXPECT_EQ(done->counts.completed, 4);
  for (int i = 0; i < 4; ++i) {
    jobs::JobFilter f;
    f.name = "restart-tune-" + std::to_string(i);
    auto page = jobs_->List(f);
    ASSERT_TRUE(page.ok());
    EXPECT_EQ(page->jobs.size(), 1u) << f.name;
  }
  EXPECT_GT(*done->best->objective, 0);
}

// High availability: a second control plane ("b": its own database handle,
// job service and tuning service on the same database) leaves the loop of a
// tuning job created through "a" alone while "a" lives, and takes it over at
// once when "a" dies (its liveness lock is free; jobs/loop_leases.h) -- and
// the running trial with it -- finishing it with each trial submitted once.
TEST_F(TuningServiceTest, SurvivorTakesOverADeadControlPlanesTuningLoop) {
  auto bdb = sql::Database::Open("sqlite://" + home_ + "/tandem.db");
  ASSERT_TRUE(bdb.ok()) << bdb.status();
  auto bbus = bus::SqlEventBus::Attach(**bdb, Clock::Real());
  ASSERT_TRUE(bbus.ok()) << bbus.status();
  jobs::JobServiceOptions bo = JobOptions(/*cpus=*/3, /*grace_seconds=*/2);
  ASSERT_FALSE(HasFatalFailure());
  bo.db = bdb->get();
  bo.outbox = (*bbus)->outbox();
  bo.home = home_ + "/b";
  bo.owner = "b";
  auto bjobs = jobs::JobService::Open(std::move(bo));
  ASSERT_TRUE(bjobs.ok()) << bjobs.status();
  ASSERT_TRUE((*bjobs)->Recover().ok());
  (*bjobs)->Start();
  TuningServiceOptions to;
  to.db = bdb->get();
  to.outbox = (*bbus)->outbox();
  to.jobs = bjobs->get();
  to.registry = registry_.get();
  to.store = store_.get();
  to.poll_interval_ms = 50;
  auto btune = TuningService::Open(to);
  ASSERT_TRUE(btune.ok()) << btune.status();
  (*btune)->Start();

  TuningSpec spec = Spec(R"(
name: ha-tune
objective: {metric: loss, type: Maximize}
strategy: Random
parameter_ranges: [{name: x, type: Continuous, min: 0, max: 4}]
max_jobs: 3
max_parallel_jobs: 1
)");
  spec.training_job.hyperparameters["pause"] = 0.3;
  ASSERT_TRUE(tuning_->Create(spec).ok());
  const std::string a_owner = jobs_->owner();
  auto one = (*btune)->WaitFor(
      "ha-tune", [](const TuningRecord& r) { return r.counts.total() >= 1; }, kTimeoutMs);
  ASSERT_TRUE(one.ok()) << one.status();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // b's loop passes meanwhile
  auto holder = (*bjobs)->loop_leases().Holder("tuning", "ha-tune");
  ASSERT_TRUE(holder.ok()) << holder.status();
  EXPECT_EQ(holder->first, a_owner) << "b advanced a live control plane's tuning job";

  tuning_.reset();  // "a" dies: its services go, and its liveness lock with them
  jobs_.reset();
  auto done = (*btune)->WaitFor(
      "ha-tune", [](const TuningRecord& r) { return IsTerminal(r.state); }, kTimeoutMs);
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_EQ(done->state, TuningState::kCompleted) << done->failure_reason;
  EXPECT_EQ(done->counts.completed, 3);
  holder = (*bjobs)->loop_leases().Holder("tuning", "ha-tune");
  ASSERT_TRUE(holder.ok());
  EXPECT_EQ(holder->first, "b");
  for (int i = 0; i < 3; ++i) {
    jobs::JobFilter f;
    f.name = "ha-tune-" + std::to_string(i);
    auto page = (*bjobs)->List(f);
    ASSERT_TRUE(page.ok());
    ASSERT_EQ(page->jobs.size(), 1u) << f.name;
    EXPECT_EQ(page->jobs[0].state, jobs::JobState::kCompleted) << f.name;
    EXPECT_EQ(page->jobs[0].attempt, 1) << f.name;
  }
}

TEST_F(TuningServiceTest, StopStopsRunningTrials) {
  TuningSpec spec = Spec(R"(
name: stop-tune
objective: {metric: loss, type: Minimize}
strategy: Random
parameter_ranges: [{name: x, type: Continuous, min: 0, max: 4}]
max_jobs: 6
max_parallel_jobs: 2
)");
  spec.training_job.hyperparameters["steps"] = 1000;
  spec.training_job.hyperparameters["pause"] = 0.1;
  ASSERT_TRUE(tuning_->Create(spec).ok());
  ASSERT_TRUE(
      tuning_
          ->WaitFor(
              "stop-tune", [](const TuningRecord& r) { return r.counts.running == 2; }, kTimeoutMs)
          .ok());
  auto stopping = tuning_->Stop("stop-tune");
  ASSERT_TRUE(stopping.ok()) << stopping.status();
  EXPECT_EQ(stopping->state, TuningState::kStopping);
  auto done = tuning_->WaitFor(
      "stop-tune", [](const TuningRecord& r) { return IsTerminal(r.state); }, kTimeoutMs);
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_EQ(done->state, TuningState::kStopped);
  EXPECT_EQ(done->counts.stopped, 2);
  EXPECT_EQ(done->counts.total(), 2);
  EXPECT_EQ(tuning_->Stop("stop-tune").status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(EventStates("stop-tune"),
            (std::vector<std::string>{"InProgress", "Stopping", "Stopped"}));
}

TEST_F(TuningServiceTest, FailuresAreReportedWithTheirCause) {
  // A refused template fails the tuning job at once.
  TuningSpec bad = Spec(R"(
name: bad-template
objective: {metric: loss, type: Minimize}
strategy: Random
parameter_ranges: [{name: x, type: Continuous, min: 0, max: 4}]
max_jobs: 3
)");
  bad.training_job.source_dir = home_ + "/missing";
  TuningRecord r = RunToEnd(bad);
  EXPECT_EQ(r.state, TuningState::kFailed);
  EXPECT_THAT(r.failure_reason, HasSubstr("training_job refused"));
  EXPECT_EQ(r.counts.total(), 1);
  // Trials that never report the objective: Failed with the reason.
  TuningSpec silent = Spec(R"(
name: silent
objective: {metric: loss, type: Minimize}
strategy: Random
parameter_ranges: [{name: x, type: Continuous, min: 0, max: 4}]
max_jobs: 2
max_parallel_jobs: 2
)");
  silent.training_job.metric_definitions = {{"loss", "nothing-prints-this=(.*)"}};
  r = RunToEnd(silent);
  EXPECT_EQ(r.state, TuningState::kFailed);
  EXPECT_THAT(r.failure_reason, HasSubstr("never reported"));
  EXPECT_EQ(r.counts.failed, 2);
  // Create-time checks.
  EXPECT_EQ(tuning_->Create(silent).status().code(), StatusCode::kAlreadyExists);
  TuningSpec warm = silent;
  warm.name = "warm";
  warm.warm_start_parents = {"nope"};
  EXPECT_EQ(tuning_->Create(warm).status().code(), StatusCode::kNotFound);
  warm.warm_start_parents = {"silent"};
  warm.objective.metric = "other";
  warm.training_job.metric_definitions.push_back({"other", "other=(.*)"});
  auto mismatch = tuning_->Create(warm);
  EXPECT_EQ(mismatch.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(mismatch.status().message()), HasSubstr("tuned objective loss"));
}

TEST_F(TuningServiceTest, WarmStartSeedsTheSamplerWithParentTrials) {
  TuningSpec parent = Spec(R"(
name: parent
objective: {metric: loss, type: Minimize}
strategy: Random
parameter_ranges: [{name: x, type: Continuous, min: 0, max: 4}]
max_jobs: 10
max_parallel_jobs: 3
seed: 1
)");
  ASSERT_EQ(RunToEnd(parent).state, TuningState::kCompleted);
  // TPE needs 10 observations before it stops sampling at random: with the
  // parent's 10, the child's first trial is already a TPE suggestion, near
  // the parent's best region (x close to 0).
  TuningSpec child = Spec(R"(
name: child
objective: {metric: loss, type: Minimize}
strategy: Bayesian
parameter_ranges: [{name: x, type: Continuous, min: 0, max: 4}]
max_jobs: 3
max_parallel_jobs: 1
seed: 1
warm_start: {parents: [parent]}
)");
  TuningRecord r = RunToEnd(child);
  ASSERT_EQ(r.state, TuningState::kCompleted);
  auto parent_trials = Trials("parent");
  double parent_best = 1e9, parent_mean = 0;
  for (const auto& t : parent_trials) {
    parent_best = std::min(parent_best, *t.objective);
    parent_mean += *t.objective / parent_trials.size();
  }
  // The child's trials concentrate around the parent's best x: on average
  // better than the parent's (random) trials.
  double child_mean = 0;
  auto child_trials = Trials("child");
  for (const auto& t : child_trials) child_mean += *t.objective / child_trials.size();
  EXPECT_LT(child_mean, parent_mean);
  EXPECT_LT(*r.best->objective, parent_best + 0.5);
}

}  // namespace
}  // namespace tandem::compute::tuning
