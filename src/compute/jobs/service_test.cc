// The job service end to end with the real LocalSubstrate (sandboxed when
// bubblewrap is present), SQLite, a file store, the SQL bus and registry.
#include "compute/jobs/service.h"

#include <sys/stat.h>
#include <time.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "common/clock.h"
#include "common/ids.h"
#include "compute/substrates/local/substrate.h"
#include "compute/substrates/local/warm_pool.h"
#include "compute/testing/job_env.h"
#include "glue/bus/event_types.h"
#include "glue/bus/sql_event_bus.h"
#include "glue/store/archive.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tandem::compute::jobs {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

constexpr int64_t kTimeoutMs = 60'000;

class JobServiceTest : public testing::ScriptJobTestEnv {
 protected:
  void SetUp() override {
    OpenGlue("/tmp/tandem-jobsvc-");
    ASSERT_FALSE(HasFatalFailure());
    fs::create_directories(home_ + "/src");
    OpenService();
  }

  void OpenService() {
    JobServiceOptions opts = JobOptions(/*cpus=*/2, /*grace_seconds=*/2);
    opts.cost = [](const JobSpec& spec, const Metering& m) {
      return m.wall_seconds * spec.resources.cpus;
    };
    opts.warm_pool_cost = [](const JobSpec&, double s) { return s * 0.5; };
    opts.stop_grace_seconds = 2;
    opts.checkpoint_sync_ms = 100;
    StartJobs(std::move(opts));
  }

  // The body of AJobCannotChangeAStoreBlobItsInputLinksTo (below).
  void TamperWithInputs();

  // The "Training Job State Change" events of `job_id`, in order.
  std::vector<Json> Events(const std::string& job_id) {
    std::vector<Json> out;
    for (Json& d : EventDetails(bus::events::kTrainingJobStateChange)) {
      if (d.value("job_id", "") == job_id) out.push_back(std::move(d));
    }
    return out;
  }

  // `n` trivial jobs "burst-<i>" (resources.cpus 0.1: 20 at a time) that
  // print "ran burst-<i>"; their ids.
  std::vector<std::string> SubmitBurst(int n) {
    std::string src = Script("burst", "echo \"ran $TRAINING_JOB_NAME\"");
    std::vector<std::string> ids;
    for (int i = 0; i < n; ++i) {
      JobSpec spec = Spec("burst-" + std::to_string(i), src);
      spec.resources.cpus = 0.1;
      auto s = jobs_->Submit(spec);
      EXPECT_TRUE(s.ok()) << s.status();
      if (s.ok()) ids.push_back(s->id);
    }
    return ids;
  }

  // Waits for burst job `i`: Completed in its first attempt, its one line
  // of output in its log.
  JobRecord ExpectBurstJobCompletedOnce(const std::string& id, size_t i) {
    auto r = jobs_->WaitFor(
        id, [](const JobRecord& r) { return IsTerminal(r.state); }, kTimeoutMs);
    EXPECT_TRUE(r.ok()) << r.status();
    if (!r.ok()) return {};
    EXPECT_EQ(r->state, JobState::kCompleted) << r->failure_reason;
    EXPECT_EQ(r->attempt, 1);
    auto log = jobs_->ReadLog(id, 0);
    EXPECT_TRUE(log.ok()) << log.status();
    if (log.ok()) {
      EXPECT_EQ(log->data, "ran burst-" + std::to_string(i) + "\n");
    }
    return *r;
  }

  std::vector<std::string> States(const std::string& job_id) {
    std::vector<std::string> out;
    for (const auto& d : Events(job_id)) out.push_back(d["state"].get<std::string>());
    return out;
  }
};

TEST_F(JobServiceTest, HappyPathStoresMetricsModelAndRegistersWithLineage) {
  std::ofstream(home_ + "/train.csv") << "1,2\n3,4\n";
  std::string src = Script("happy",
                           "echo \"epoch 1 loss=0.50\"\n"
                           "echo \"epoch 2 loss=0.25\"\n"
                           "cp \"$SM_CHANNEL_TRAIN/train.csv\" \"$SM_MODEL_DIR/seen.csv\"\n"
                           "echo weights > \"$SM_MODEL_DIR/model.txt\"\n"
                           "echo extra > \"$SM_OUTPUT_DATA_DIR/report.txt\"");
  JobSpec spec = Spec("happy", src);
  spec.inputs["train"] = home_ + "/train.csv";
  spec.hyperparameters["eta"] = 0.3;
  spec.metric_definitions.push_back({"loss", "loss=([0-9.]+)"});
  spec.register_model = RegisterSpec{"demo", "champion", {{"data", "2026-11"}}};

  JobRecord r = RunToEnd(spec);
  ASSERT_EQ(r.state, JobState::kCompleted) << r.failure_reason << " " << r.ToJson().dump();
  EXPECT_EQ(r.attempt, 1);
  EXPECT_EQ(r.final_metrics.at("loss"), 0.25);
  EXPECT_GT(r.metering.wall_seconds, 0);
  EXPECT_GT(r.metering.cost, 0);
  EXPECT_GT(r.started_micros, 0);
  EXPECT_GE(r.ended_micros, r.started_micros);
  // Where the end's time went is recorded with the attempt: every step taken.
  const Json& steps = r.details["attempts"][0]["finalize_us"];
  for (const char* step : {"to_seen", "to_worker", "log", "serving_files", "model_pack",
                           "model_store", "output_pack", "output_store", "register"}) {
    ASSERT_TRUE(steps.contains(step)) << step << " missing from " << steps.dump();
    EXPECT_GE(steps[step].get<int64_t>(), 0) << step;
  }

  auto metrics = jobs_->Metrics(r.id);
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  ASSERT_EQ(metrics->at("loss").size(), 2u);
  EXPECT_EQ(metrics->at("loss")[0].value, 0.5);
  EXPECT_EQ(metrics->at("loss")[1].step, 1);

  EXPECT_EQ(r.model_key, "jobs/" + r.id + "/output/model.tar.gz");
  auto stat = store_->Stat(r.model_key);
  ASSERT_TRUE(stat.ok()) << stat.status();
  EXPECT_EQ(stat->digest, r.model_digest);
  EXPECT_TRUE(store_->Stat("jobs/" + r.id + "/output/output.tar.gz").ok());
  auto log = store_->GetString("jobs/" + r.id + "/logs/attempt-1.log");
  ASSERT_TRUE(log.ok()) << log.status();
  EXPECT_THAT(*log, HasSubstr("loss=0.25"));
  auto read = jobs_->ReadLog(r.id, 0);
  ASSERT_TRUE(read.ok());
  EXPECT_TRUE(read->finished);
  EXPECT_EQ(read->data, *log);

  auto v = registry_->GetVersionByAlias("demo", "champion");
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->version, 1);
  EXPECT_EQ(v->source, r.model_digest);
  EXPECT_EQ(v->lineage.job_id, r.id);
  EXPECT_FALSE(v->lineage.code_digest.empty());
  EXPECT_EQ(v->lineage.inputs.at("train").substr(0, 7), "sha256:");
  EXPECT_EQ(v->lineage.hyperparameters.at("eta"), "0.3");
  EXPECT_EQ(v->lineage.metrics.at("loss"), 0.25);
  EXPECT_EQ(v->tags.at("data"), "2026-11");
  EXPECT_EQ(v->tags.at("job_id"), r.id);
  EXPECT_EQ(r.registered_version, 1);

  EXPECT_THAT(States(r.id), ::testing::ElementsAre("Pending", "Starting", "Running", "Completed"));
  Json last = Events(r.id).back();
  EXPECT_EQ(last["previous_state"], "Running");
  EXPECT_EQ(last["model"]["version"], 1);
  EXPECT_EQ(last["model"]["alias"], "champion");
  EXPECT_EQ(last["metrics"]["loss"], 0.25);
  EXPECT_TRUE(last.contains("metering"));

  // A second run moves the alias; the job directory is gone after finalize.
  JobRecord r2 = RunToEnd(spec);
  ASSERT_EQ(r2.state, JobState::kCompleted) << r2.failure_reason;
  EXPECT_EQ(registry_->GetVersionByAlias("demo", "champion")->version, 2);
  EXPECT_FALSE(fs::exists(home_ + "/jobs/" + r.id));

  auto spend = jobs_->SpendByTeam();
  ASSERT_TRUE(spend.ok());
  ASSERT_EQ(spend->size(), 1u);
  EXPECT_EQ((*spend)[0].team, "growth");
  EXPECT_EQ((*spend)[0].jobs, 2);
  EXPECT_GT((*spend)[0].cost, 0);
}

TEST_F(JobServiceTest, FailureFileIsTheReasonTruncatedTo1024Bytes) {
  std::string src =
      Script("failfile", "printf 'bad row 7: %02000d' 0 > \"$SM_OUTPUT_DIR/failure\"\nexit 4");
  JobRecord r = RunToEnd(Spec("failfile", src));
  ASSERT_EQ(r.state, JobState::kFailed);
  EXPECT_EQ(r.failure_reason.size(), 1024u);
  EXPECT_EQ(r.failure_reason.substr(0, 10), "bad row 7:");
  EXPECT_TRUE(r.model_key.empty());
  Json last = Events(r.id).back();
  EXPECT_EQ(last["state"], "Failed");
  EXPECT_EQ(last["failure_reason"].get<std::string>().size(), 1024u);
}

TEST_F(JobServiceTest, NonZeroExitWithoutFailureFileIsExitStatus) {
  JobRecord r = RunToEnd(Spec("exit3", Script("exit3", "echo oops\nexit 3")));
  ASSERT_EQ(r.state, JobState::kFailed);
  EXPECT_EQ(r.failure_reason, "exit status 3");
}

TEST_F(JobServiceTest, RetriesUntilAttemptsAreExhausted) {
  JobSpec spec = Spec("retry", Script("retry", "exit 1"));
  spec.retries = 2;
  JobRecord r = RunToEnd(spec);
  ASSERT_EQ(r.state, JobState::kFailed);
  EXPECT_EQ(r.attempt, 3);
  EXPECT_EQ(r.details["attempts"].size(), 3u);
  EXPECT_THAT(States(r.id),
              ::testing::ElementsAre("Pending", "Starting", "Running", "Pending", "Starting",
                                     "Running", "Pending", "Starting", "Running", "Failed"));
  EXPECT_EQ(Events(r.id)[3]["failure_reason"], "exit status 1");
}

TEST_F(JobServiceTest, StopRunningAndPendingJobs) {
  auto running = jobs_->Submit(Spec("sleeper", Script("sleeper", "echo started\nsleep 60")));
  ASSERT_TRUE(running.ok()) << running.status();
  ASSERT_TRUE(jobs_
                  ->WaitFor(
                      running->id, [](const JobRecord& r) { return r.state == JobState::kRunning; },
                      kTimeoutMs)
                  .ok());
  auto stopping = jobs_->Stop(running->id);
  ASSERT_TRUE(stopping.ok()) << stopping.status();
  auto done = jobs_->WaitFor(
      running->id, [](const JobRecord& r) { return IsTerminal(r.state); }, kTimeoutMs);
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_EQ(done->state, JobState::kStopped);
  EXPECT_THAT(States(running->id),
              ::testing::ElementsAre("Pending", "Starting", "Running", "Stopping", "Stopped"));
  // A refused transition changes nothing and emits nothing.
  EXPECT_EQ(jobs_->Stop(running->id).status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(States(running->id).size(), 5u);

  // A job too big to start now waits Pending and stops directly.
  JobSpec big = Spec("big", Script("big", "true"));
  big.resources.cpus = 2;
  auto blocker = jobs_->Submit(Spec("blocker", Script("blocker", "sleep 60")));
  ASSERT_TRUE(blocker.ok());
  auto pending = jobs_->Submit(big);
  ASSERT_TRUE(pending.ok());
  auto stopped = jobs_->Stop(pending->id);
  ASSERT_TRUE(stopped.ok()) << stopped.status();
  EXPECT_EQ(stopped->state, JobState::kStopped);
  EXPECT_THAT(States(pending->id), ::testing::ElementsAre("Pending", "Stopped"));
  ASSERT_TRUE(jobs_->Stop(blocker->id).ok());
  EXPECT_EQ(jobs_
                ->WaitFor(
                    blocker->id, [](const JobRecord& r) { return IsTerminal(r.state); }, kTimeoutMs)
                ->state,
            JobState::kStopped);
  EXPECT_EQ(jobs_->Stop("nosuch").status().code(), StatusCode::kNotFound);
}

// SageMaker's CheckpointConfig: uploaded while the job runs, once more when it
// is stopped, never through a symlink, and restored for the next job with
// the same prefix before its code starts.
TEST_F(JobServiceTest, CheckpointsSyncWhileRunningSurviveStopAndRestoreForTheNextJob) {
  std::string first = Script("ckpt1", R"(
ck="$TANDEM_CHECKPOINT_DIR"
trap 'echo after-stop > "$ck/sub/late"; exit 143' TERM
mkdir -p "$ck/sub"
echo step-1 > "$ck/state"
ln -s /etc/hostname "$ck/link"
echo written
sleep 60 &
wait $!)");
  JobSpec spec = Spec("ckpt-writer", first);
  spec.checkpoint = CheckpointSpec{"teams/growth/ckpt/run"};
  auto job = jobs_->Submit(spec);
  ASSERT_TRUE(job.ok()) << job.status();
  // Uploaded by the periodic sync while the job still runs (a sync may
  // catch the file created but not yet written: the next one uploads it).
  const int64_t deadline = Clock::Real().MonotonicMicros() + kTimeoutMs * 1000;
  auto uploaded = [&] {
    auto got = store_->GetString("teams/growth/ckpt/run/state");
    return got.ok() && *got == "step-1\n";
  };
  while (!uploaded() && Clock::Real().MonotonicMicros() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_TRUE(store_->Stat("teams/growth/ckpt/run/state").ok());
  EXPECT_EQ(jobs_->Get(job->id)->state, JobState::kRunning);
  EXPECT_EQ(*store_->GetString("teams/growth/ckpt/run/state"), "step-1\n");
  ASSERT_TRUE(jobs_->Stop(job->id).ok());
  auto stopped = jobs_->WaitFor(
      job->id, [](const JobRecord& r) { return IsTerminal(r.state); }, kTimeoutMs);
  ASSERT_TRUE(stopped.ok()) << stopped.status();
  EXPECT_EQ(stopped->state, JobState::kStopped);
  // Written on SIGTERM: only the final sync can have uploaded it.
  EXPECT_EQ(*store_->GetString("teams/growth/ckpt/run/sub/late"), "after-stop\n");
  EXPECT_FALSE(store_->Stat("teams/growth/ckpt/run/link").ok());  // symlinks are not followed

  JobSpec next = Spec("ckpt-reader", Script("ckpt2", R"(
cat "$TANDEM_CHECKPOINT_DIR/state" "$TANDEM_CHECKPOINT_DIR/sub/late")"));
  next.checkpoint = CheckpointSpec{"teams/growth/ckpt/run"};
  JobRecord r = RunToEnd(next);
  ASSERT_EQ(r.state, JobState::kCompleted) << r.failure_reason;
  EXPECT_EQ(r.details["checkpoint"]["restored_files"], 2);
  auto log = jobs_->ReadLog(r.id, 0);
  ASSERT_TRUE(log.ok());
  EXPECT_THAT(log->data, HasSubstr("step-1\nafter-stop\n"));

  // Without `checkpoint:` nothing is synced and the variable is not set.
  JobRecord plain =
      RunToEnd(Spec("no-ckpt", Script("ckpt3", R"(test -z "${TANDEM_CHECKPOINT_DIR:-}")")));
  EXPECT_EQ(plain.state, JobState::kCompleted) << plain.failure_reason;
  EXPECT_FALSE(plain.details.contains("checkpoint"));
}

TEST_F(JobServiceTest, NeverRunsMoreThanCapacity) {
  std::vector<std::string> ids;
  std::string src = Script("conc", "sleep 0.5");
  for (int i = 0; i < 4; ++i) {
    auto s = jobs_->Submit(Spec("conc", src));
    ASSERT_TRUE(s.ok()) << s.status();
    ids.push_back(s->id);
  }
  std::vector<std::pair<int64_t, int64_t>> spans;
  for (const auto& id : ids) {
    auto r = jobs_->WaitFor(
        id, [](const JobRecord& r) { return IsTerminal(r.state); }, kTimeoutMs);
    ASSERT_TRUE(r.ok()) << r.status();
    ASSERT_EQ(r->state, JobState::kCompleted) << r->failure_reason;
    spans.emplace_back(r->started_micros, r->ended_micros);
  }
  // At no job's start were more than 2 jobs (itself included) running.
  for (const auto& [start, end] : spans) {
    int overlapping = 0;
    for (const auto& [s2, e2] : spans) overlapping += (s2 <= start && start < e2) ? 1 : 0;
    EXPECT_LE(overlapping, 2);
  }
  JobSpec huge = Spec("huge", src);
  huge.resources.cpus = 3;
  auto refused = jobs_->Submit(huge);
  EXPECT_EQ(refused.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr("resources.cpus"));
}

TEST_F(JobServiceTest, SymlinkOutOfModelDirFailsTheJobWithAClearReason) {
  JobRecord r = RunToEnd(Spec("leak", Script("leak", "ln -s /etc/passwd \"$SM_MODEL_DIR/leak\"")));
  ASSERT_EQ(r.state, JobState::kFailed);
  EXPECT_THAT(r.failure_reason,
              HasSubstr("model directory contains a symlink pointing outside it"));
  EXPECT_TRUE(r.model_key.empty());
  EXPECT_FALSE(store_->Stat("jobs/" + r.id + "/output/model.tar.gz").ok());
  EXPECT_EQ(r.failure_reason.find(home_), std::string::npos) << r.failure_reason;
}

// Failure reasons are read by users of other privilege than the operator:
// they name what the user sent (the store key of an archive that does not
// unpack), never the control plane's home (where staging put its copy).
TEST_F(JobServiceTest, AFailureReasonNamesTheUsersKeyNotTheControlPlanesPaths) {
  ASSERT_TRUE(store_->PutString("jobs/uploads/x/broken.tar.gz", "not a gzip'd tar at all").ok());
  JobRecord r = RunToEnd(Spec("broken", "jobs/uploads/x/broken.tar.gz"));
  ASSERT_EQ(r.state, JobState::kFailed);
  EXPECT_THAT(r.failure_reason, HasSubstr("staging failed"));
  EXPECT_THAT(r.failure_reason, HasSubstr("archive 'jobs/uploads/x/broken.tar.gz'"));
  EXPECT_EQ(r.failure_reason.find(home_), std::string::npos) << r.failure_reason;
}

TEST_F(JobServiceTest, BadSourcesAreRefusedAtSubmitNamingThem) {
  JobSpec spec = Spec("bad", Script("bad", "true"));
  spec.inputs["train"] = home_ + "/nope.csv";
  auto s = jobs_->Submit(spec);
  EXPECT_EQ(s.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(std::string(s.status().message()), HasSubstr("'train'"));
  EXPECT_THAT(std::string(s.status().message()), HasSubstr("nope.csv"));

  spec.inputs["train"] = "datasets/missing.csv";
  s = jobs_->Submit(spec);
  EXPECT_EQ(s.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(std::string(s.status().message()), HasSubstr("datasets/missing.csv"));

  spec.inputs.clear();
  spec.entry_point = "missing.py";
  s = jobs_->Submit(spec);
  EXPECT_EQ(s.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.status().message()), HasSubstr("entry_point"));

  spec.entry_point = "train.sh";
  spec.metric_definitions.push_back({"m", "no capture group"});
  EXPECT_EQ(jobs_->Submit(spec).status().code(), StatusCode::kInvalidArgument);

  spec.metric_definitions.clear();
  spec.register_model = RegisterSpec{"bad name", "", {}};
  s = jobs_->Submit(spec);
  EXPECT_EQ(s.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.status().message()), HasSubstr("register.model"));

  auto list = jobs_->List(JobFilter{});
  ASSERT_TRUE(list.ok());
  EXPECT_TRUE(list->jobs.empty());  // nothing half-created
}

TEST_F(JobServiceTest, StoreInputsAndArchivedSourceAreStaged) {
  ASSERT_TRUE(store_->PutString("datasets/iris/a.csv", "a\n").ok());
  ASSERT_TRUE(store_->PutString("datasets/iris/sub/b.csv", "b\n").ok());
  auto blob = store_->PutBlobFromString("blobdata\n");
  ASSERT_TRUE(blob.ok());
  std::string src = Script("archived",
                           "cat \"$SM_CHANNEL_IRIS/a.csv\" \"$SM_CHANNEL_IRIS/sub/b.csv\"\n"
                           "ls \"$SM_CHANNEL_BLOB\"\ntouch \"$SM_MODEL_DIR/m\"");
  ASSERT_TRUE(store::PackDirectory(src, home_ + "/src.tar.gz").ok());
  ASSERT_TRUE(store_->PutFile("jobs/uploads/x/source.tar.gz", home_ + "/src.tar.gz").ok());
  JobSpec spec = Spec("archived", "jobs/uploads/x/source.tar.gz");
  spec.inputs["iris"] = "datasets/iris";
  spec.inputs["blob"] = blob->digest;
  JobRecord r = RunToEnd(spec);
  ASSERT_EQ(r.state, JobState::kCompleted) << r.failure_reason;
  auto log = jobs_->ReadLog(r.id, 0);
  ASSERT_TRUE(log.ok());
  EXPECT_THAT(log->data, HasSubstr("a\nb\n"));
  EXPECT_THAT(log->data, HasSubstr(blob->digest.substr(7)));
  EXPECT_EQ(r.details["code_digest"], store_->Stat("jobs/uploads/x/source.tar.gz")->digest);
}

// Store inputs are staged by hard link when the sandbox binds the channels
// read-only (no copy, no re-hash), copied otherwise; either way nothing the
// job tries -- appending, chmod then overwrite, unlink and recreate, rename,
// a nested user namespace as root remounting the channel read-write --
// reaches the store's blob, and the job still reads its input.
TEST_F(JobServiceTest, AJobCannotChangeAStoreBlobItsInputLinksTo) { TamperWithInputs(); }

// The same in a warm sandbox (started before the job, its input/data bound
// read-only then): the channels staged into it are as safe.
TEST_F(JobServiceTest, AJobCannotChangeAStoreBlobItsInputLinksToInAWarmSandbox) {
  jobs_.reset();
  StartJobs(JobOptions(/*cpus=*/2, /*grace_seconds=*/2, home_ + "/sandboxes"));
  auto* local = dynamic_cast<local::LocalSubstrate*>(&jobs_->substrate());
  ASSERT_NE(local, nullptr);
  if (local->warm_pool() == nullptr) GTEST_SKIP() << "no warm sandboxes (no bubblewrap)";
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (local->warm_pool()->ready() < 1 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_EQ(local->warm_pool()->ready(), 1);
  TamperWithInputs();
  EXPECT_EQ(local->warm_starts(), 1);
}

void JobServiceTest::TamperWithInputs() {
  auto blob = store_->PutBlobFromString("blobdata\n");
  ASSERT_TRUE(blob.ok());
  ASSERT_TRUE(store_->PutString("datasets/keyed.csv", "keyed\n").ok());
  const std::string hex = blob->digest.substr(7);
  std::string src = Script("tamper",
                           "stat -c %i \"$SM_CHANNEL_BLOB/" + hex + "\"\nset +e\n"
                           "for f in \"$SM_CHANNEL_BLOB/" + hex +
                               "\" \"$SM_CHANNEL_KEYED/keyed.csv\"; do\n"
                               "  echo tamper >> \"$f\"\n"
                               "  chmod 0666 \"$f\"; echo tamper > \"$f\"\n"
                               "  mv \"$f\" \"$f.moved\"; echo tamper > \"$f\"\n"
                               "  rm -f \"$f\" \"$f.moved\"; echo tamper > \"$f\"\n"
                               "  unshare -rm sh -c \"mount -o remount,bind,rw $(dirname $f) && "
                               "echo tamper >> $f; chmod 0666 $f; echo tamper >> $f\"\n"
                               "done 2>/dev/null\n"
                               "set -e\n"
                               "cat \"$SM_CHANNEL_BLOB/" + hex +
                               "\" \"$SM_CHANNEL_KEYED/keyed.csv\"");
  JobSpec spec = Spec("tamper", src);
  spec.inputs["blob"] = blob->digest;
  spec.inputs["keyed"] = "datasets/keyed.csv";
  JobRecord r = RunToEnd(spec);
  ASSERT_EQ(r.state, JobState::kCompleted) << r.failure_reason;
  auto log = jobs_->ReadLog(r.id, 0);
  ASSERT_TRUE(log.ok());
  const std::string blob_file = home_ + "/store/blobs/sha256/" + hex.substr(0, 2) + "/" + hex;
  struct stat st;
  ASSERT_EQ(::stat(blob_file.c_str(), &st), 0);
  // Linked (the same inode) exactly when the channels are read-only.
  const std::string inode = std::to_string(st.st_ino) + "\n";
  EXPECT_EQ(log->data.starts_with(inode), jobs_->substrate().inputs_read_only()) << log->data;
  // Read-only: every attempt failed, the job still reads its input (a copy
  // is the job's own to change).
  if (jobs_->substrate().inputs_read_only()) {
    EXPECT_THAT(log->data, ::testing::EndsWith("\nblobdata\nkeyed\n"));
  }
  // The store's reads verify the digest: a changed blob would be DataLoss.
  EXPECT_TRUE(store_->VerifyBlob(blob->digest).ok());
  auto keyed = store_->GetString("datasets/keyed.csv");
  ASSERT_TRUE(keyed.ok()) << keyed.status();
  EXPECT_EQ(*keyed, "keyed\n");
  ASSERT_EQ(::stat(blob_file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0444u);
}

TEST_F(JobServiceTest, RecoversRunningJobAfterRestartAndFinalizesOnce) {
  JobSpec spec = Spec("survivor", Script("survivor",
                                         "echo loss=1\nsleep 2\necho loss=0.5\n"
                                         "echo w > \"$SM_MODEL_DIR/w\""));
  spec.metric_definitions.push_back({"loss", "loss=([0-9.]+)"});
  auto s = jobs_->Submit(spec);
  ASSERT_TRUE(s.ok()) << s.status();
  ASSERT_TRUE(
      jobs_
          ->WaitFor(
              s->id, [](const JobRecord& r) { return r.state == JobState::kRunning; }, kTimeoutMs)
          .ok());
  jobs_.reset();  // the control plane goes away; the runner keeps the job going
  OpenService();  // a new one re-attaches (Recover + Start)
  auto done = jobs_->WaitFor(
      s->id, [](const JobRecord& r) { return IsTerminal(r.state); }, kTimeoutMs);
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_EQ(done->state, JobState::kCompleted) << done->failure_reason;
  EXPECT_EQ(done->final_metrics.at("loss"), 0.5);
  auto metrics = jobs_->Metrics(s->id);
  ASSERT_TRUE(metrics.ok());
  EXPECT_EQ(metrics->at("loss").size(), 2u);
  EXPECT_THAT(States(s->id), ::testing::ElementsAre("Pending", "Starting", "Running", "Completed"));
}

TEST_F(JobServiceTest, JobWhoseProcessVanishedIsFailedAsLost) {
  auto s = jobs_->Submit(Spec("ghost", Script("ghost", "sleep 60")));
  ASSERT_TRUE(s.ok());
  auto running = jobs_->WaitFor(
      s->id, [](const JobRecord& r) { return r.state == JobState::kRunning; }, kTimeoutMs);
  ASSERT_TRUE(running.ok());
  jobs_.reset();
  // The process really goes away (as after a host reboot) ...
  auto substrate = local::LocalSubstrate::Create(local::LocalSubstrateOptions{});
  ASSERT_TRUE(substrate.ok());
  ASSERT_TRUE((*substrate)->Stop(running->handle, 0).ok());
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline) {
    auto polled = (*substrate)->Poll(running->handle);
    ASSERT_TRUE(polled.ok()) << polled.status();
    if (polled->has_value()) break;
    std::this_thread::yield();
  }
  // ... and its handle means nothing any more.
  ASSERT_TRUE(
      db_->WithTransaction([&](sql::Transaction& tx) {
           return tx.Exec("UPDATE compute_jobs SET handle = 'gone' WHERE id = ?", {s->id}).status();
         })
          .ok());
  OpenService();
  auto done = jobs_->Get(s->id);
  ASSERT_TRUE(done.ok());
  EXPECT_EQ(done->state, JobState::kFailed);
  EXPECT_THAT(done->failure_reason, HasSubstr("lost: control plane restarted"));
  EXPECT_THAT(States(s->id), ::testing::ElementsAre("Pending", "Starting", "Running", "Failed"));
}

TEST_F(JobServiceTest, WarmPoolReusesThePreparedEnvironment) {
  fs::create_directories(home_ + "/data");
  for (int i = 0; i < 20; ++i) {
    std::ofstream(home_ + "/data/part-" + std::to_string(i)) << std::string(1 << 20, 'x');
  }
  // The job leaves a mark in its environment (its code directory: the input
  // channels are read-only): a job that starts on the pooled environment
  // finds it (the pool handed over the prepared tree instead of staging a
  // fresh copy).
  JobSpec spec = Spec("warm", Script("warmsrc",
                                     "mark=\"$(dirname \"$0\")/.left-by-earlier-job\"\n"
                                     "if [ -e \"$mark\" ]; then echo env=pooled; "
                                     "else echo env=fresh; fi\n"
                                     "touch \"$mark\"\n"
                                     "ls \"$SM_CHANNEL_TRAIN\" | wc -l\n"
                                     "touch \"$SM_MODEL_DIR/m\""));
  spec.inputs["train"] = home_ + "/data";
  spec.keep_alive_seconds = 60;
  JobRecord cold = RunToEnd(spec);
  ASSERT_EQ(cold.state, JobState::kCompleted) << cold.failure_reason;
  EXPECT_FALSE(cold.details["warm_start"].get<bool>());
  EXPECT_THAT(jobs_->ReadLog(cold.id, 0)->data, HasSubstr("env=fresh"));
  JobRecord warm = RunToEnd(spec);
  ASSERT_EQ(warm.state, JobState::kCompleted) << warm.failure_reason;
  EXPECT_TRUE(warm.details["warm_start"].get<bool>());
  EXPECT_TRUE(warm.details.contains("staging_ms"));
  // Lineage digests travel with the pooled environment.
  EXPECT_EQ(warm.details["input_digests"], cold.details["input_digests"]);
  EXPECT_EQ(warm.details["code_digest"], cold.details["code_digest"]);
  EXPECT_THAT(jobs_->ReadLog(warm.id, 0)->data, HasSubstr("20"));
  EXPECT_THAT(jobs_->ReadLog(warm.id, 0)->data, HasSubstr("env=pooled"));
  EXPECT_EQ(warm.details["warm_key"], cold.details["warm_key"]);
  auto origin = jobs_->Get(cold.id);
  ASSERT_TRUE(origin.ok());
  EXPECT_GT(origin->metering.warm_pool_seconds, 0);
  // A different resource shape does not match.
  spec.resources.cpus = 2;
  JobRecord other = RunToEnd(spec);
  EXPECT_FALSE(other.details["warm_start"].get<bool>());
  EXPECT_THAT(jobs_->ReadLog(other.id, 0)->data, HasSubstr("env=fresh"));
  EXPECT_NE(other.details["warm_key"], cold.details["warm_key"]);
}

// Many jobs submitted at once run concurrently (claims, launches and
// finalizations overlap on the worker pool) and each runs and completes
// exactly once: one launch, one end, one line of output.
TEST_F(JobServiceTest, ManyJobsSubmittedAtOnceEachRunAndCompleteExactlyOnce) {
  std::vector<std::string> ids = SubmitBurst(60);
  ASSERT_EQ(ids.size(), 60u);
  for (size_t i = 0; i < ids.size(); ++i) {
    JobRecord r = ExpectBurstJobCompletedOnce(ids[i], i);
    EXPECT_EQ(r.details["attempts"].size(), 1u);
    EXPECT_THAT(States(ids[i]),
                ::testing::ElementsAre("Pending", "Starting", "Running", "Completed"));
  }
}

// The control plane goes away in the middle of a burst (jobs Pending,
// claimed, Running and ending at that moment) and a new one takes over:
// every job still completes, and none runs twice or is lost.
TEST_F(JobServiceTest, RestartInTheMiddleOfABurstLosesAndRepeatsNothing) {
  std::vector<std::string> ids = SubmitBurst(60);
  ASSERT_EQ(ids.size(), 60u);
  // Wait until some have ended, then shut down with the rest in flight.
  ASSERT_TRUE(jobs_
                  ->WaitFor(
                      ids[5], [](const JobRecord& r) { return IsTerminal(r.state); }, kTimeoutMs)
                  .ok());
  jobs_.reset();
  auto counts = JobStore::Open(*db_, *bus_->outbox(), Clock::Real());
  ASSERT_TRUE(counts.ok());
  auto by_state = (*counts)->CountByState();
  ASSERT_TRUE(by_state.ok());
  EXPECT_GT((*by_state)[JobState::kPending], 0) << "the burst ended before the restart";
  OpenService();
  for (size_t i = 0; i < ids.size(); ++i) {
    ExpectBurstJobCompletedOnce(ids[i], i);
    std::vector<std::string> states = States(ids[i]);
    EXPECT_EQ(std::count(states.begin(), states.end(), "Running"), 1) << ids[i];
    EXPECT_EQ(std::count(states.begin(), states.end(), "Completed"), 1) << ids[i];
  }
}

// Once the service has shut down, nothing of it changes the job: WaitFor
// waits out its slices (re-reading the job once per slice) instead of
// re-reading the database in a tight loop until its deadline.
TEST_F(JobServiceTest, WaitForAfterShutdownDoesNotSpin) {
  auto s = jobs_->Submit(Spec("never", Script("never", "sleep 60")));
  ASSERT_TRUE(s.ok()) << s.status();
  jobs_->Shutdown();
  auto thread_cpu_ms = [] {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
  };
  const double cpu0 = thread_cpu_ms();
  auto waited = jobs_->WaitFor(
      s->id, [](const JobRecord& r) { return r.state == JobState::kCompleted; }, 1000);
  const double cpu = thread_cpu_ms() - cpu0;
  EXPECT_EQ(waited.status().code(), StatusCode::kDeadlineExceeded) << waited.status();
  // About ten reads of one row; a spinning wait burns the whole second (on a
  // loaded machine, still hundreds of ms).
  EXPECT_LT(cpu, 50) << "WaitFor spun after shutdown";
}

}  // namespace
}  // namespace tandem::compute::jobs
