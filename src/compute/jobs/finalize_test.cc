// FinalizeAttempt's packaging of serving code: <code>/serving/ joins the
// model package (e.g. examples/sklearn-train/serving), conflicts fail the job.
#include "compute/jobs/finalize.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <atomic>
#include <filesystem>
#include <set>
#include <fstream>

#include "glue/store/archive.h"
#include "glue/store/testing/memory_store.h"

namespace tandem::compute::jobs {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

class FinalizeServingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "tandem-finalize-XXXXXX").string();
    root_ = ::mkdtemp(tmpl.data());
    store_ = store::MemoryStore::Create();
    ml_ = root_ + "/ml";
    for (const char* d : {"/model", "/code/serving/lib", "/output/data"}) {
      fs::create_directories(ml_ + d);
    }
    Write("/model/model.joblib", "weights");
    Write("/code/train.py", "print('train')");
    Write("/code/serving/handler.py", "def load(d): pass");
    Write("/code/serving/tandem-model.yaml", "flavor: python\nhandler: handler.py\n");
    Write("/code/serving/lib/util.py", "X = 1");
    record_.id = "01JOBID";
    record_.spec.entry_point = "train.py";
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(root_, ec);
  }
  void Write(const std::string& rel, const std::string& text) { std::ofstream(ml_ + rel) << text; }
  StatusOr<Outcome> Finalize() {
    FinalizeRequest req;
    req.record = &record_;
    req.ml_dir = ml_;
    req.log_path = root_ + "/no-log";
    return FinalizeAttempt(req, *store_, nullptr);
  }

  std::string root_, ml_;
  std::unique_ptr<store::MemoryStore> store_;
  JobRecord record_;
};

TEST_F(FinalizeServingTest, ServingFolderJoinsTheModelPackage) {
  auto out = Finalize();
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_EQ(out->state, JobState::kCompleted) << out->failure_reason;
  ASSERT_TRUE(store_->GetToFile(out->model_key, root_ + "/model.tar.gz").ok());
  ASSERT_TRUE(store::UnpackArchive(root_ + "/model.tar.gz", root_ + "/unpacked").ok());
  for (const char* f : {"model.joblib", "handler.py", "tandem-model.yaml", "lib/util.py"}) {
    EXPECT_TRUE(fs::is_regular_file(root_ + "/unpacked/" + f)) << f;
  }
  EXPECT_FALSE(fs::exists(root_ + "/unpacked/train.py"));
}

TEST_F(FinalizeServingTest, ConflictWithTheJobsOwnFileFailsTheJob) {
  Write("/model/tandem-model.yaml", "flavor: xgboost\n");
  auto out = Finalize();
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->state, JobState::kFailed);
  EXPECT_THAT(out->failure_reason, HasSubstr("serving/tandem-model.yaml would overwrite"));
}

TEST_F(FinalizeServingTest, NoServingFolderChangesNothing) {
  fs::remove_all(ml_ + "/code/serving");
  auto out = Finalize();
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_EQ(out->state, JobState::kCompleted) << out->failure_reason;
  ASSERT_TRUE(store_->GetToFile(out->model_key, root_ + "/model.tar.gz").ok());
  ASSERT_TRUE(store::UnpackArchive(root_ + "/model.tar.gz", root_ + "/unpacked").ok());
  EXPECT_FALSE(fs::exists(root_ + "/unpacked/handler.py"));
}

// A batch transform (kind "transform", outputs published under a prefix)
// keeps its outputs as the published objects only; a training job with a
// publish prefix also gets output.tar.gz.
TEST_F(FinalizeServingTest, TransformOutputsArePublishedNotArchived) {
  for (bool transform : {false, true}) {
    SCOPED_TRACE(transform ? "transform" : "training");
    TearDown();  // a fresh tree and store each time
    SetUp();
    fs::remove_all(ml_ + "/code/serving");
    Write("/output/data/part-0.csv.out", "0.5\n");
    record_.spec.publish_prefix = "results/run";
    if (transform) record_.spec.environment[kJobKindVariable] = "transform";
    auto out = Finalize();
    ASSERT_TRUE(out.ok()) << out.status();
    ASSERT_EQ(out->state, JobState::kCompleted) << out->failure_reason;
    ASSERT_TRUE(store_->GetToFile("results/run/part-0.csv.out", root_ + "/published").ok());
    EXPECT_EQ(out->output_key.empty(), transform);
    EXPECT_EQ(store_->Stat("jobs/01JOBID/output/output.tar.gz").ok(), !transform);
  }
}

// A job that wrote no model gets model.tar.gz all the same: the one stored
// empty archive (linked, not packed again), which unpacks to an empty
// directory, shared by every such job, again after the blob was collected;
// a job that wrote one file gets its own.
TEST_F(FinalizeServingTest, EmptyModelDirectoriesShareTheEmptyArchive) {
  std::string digest;
  for (const char* id : {"01EMPTYA", "01EMPTYB"}) {
    SCOPED_TRACE(id);
    fs::remove_all(ml_ + "/code/serving");
    fs::remove_all(ml_ + "/model");
    fs::create_directories(ml_ + "/model");
    record_.id = id;
    auto out = Finalize();
    ASSERT_TRUE(out.ok()) << out.status();
    ASSERT_EQ(out->state, JobState::kCompleted) << out->failure_reason;
    EXPECT_EQ(out->model_key, std::string("jobs/") + id + "/output/model.tar.gz");
    if (digest.empty()) digest = out->model_digest;
    EXPECT_EQ(out->model_digest, digest);
    const std::string unpacked = root_ + "/unpacked-" + id;
    ASSERT_TRUE(store_->GetToFile(out->model_key, root_ + "/" + id + ".tar.gz").ok());
    ASSERT_TRUE(store::UnpackArchive(root_ + "/" + id + ".tar.gz", unpacked).ok());
    EXPECT_TRUE(fs::is_empty(unpacked));
  }
  // The same bytes as packing the empty directory.
  ASSERT_TRUE(store::PackDirectory(ml_ + "/model", root_ + "/packed.tar.gz").ok());
  auto packed = store_->PutBlobFromFile(root_ + "/packed.tar.gz");
  ASSERT_TRUE(packed.ok());
  EXPECT_EQ(packed->digest, digest);
  // A fresh store (the blob is not there yet) gets it stored, then linked.
  store_ = store::MemoryStore::Create();
  record_.id = "01EMPTYC";
  auto again = Finalize();
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->model_digest, digest);
  EXPECT_TRUE(store_->Stat("jobs/01EMPTYC/output/model.tar.gz").ok());
  // One file: packed as before, another digest.
  Write("/model/w", "1");
  record_.id = "01FULL";
  auto full = Finalize();
  ASSERT_TRUE(full.ok()) << full.status();
  EXPECT_NE(full->model_digest, digest);
}

// A job that replaced a directory of its tree by a symlink to a host path
// (here a "secret" directory outside the job) gets nothing of that path
// packed, published or read: the job fails naming the link.
TEST_F(FinalizeServingTest, DirectoriesReplacedBySymlinksAreNotFollowed) {
  std::string tmpl = (fs::temp_directory_path() / "tandem-secret-XXXXXX").string();
  const std::string secret = ::mkdtemp(tmpl.data());
  fs::create_directories(secret + "/serving");
  std::ofstream(secret + "/tandem.db") << "the control plane's database";
  std::ofstream(secret + "/failure") << "leaked through failure";
  std::ofstream(secret + "/serving/handler.py") << "not the job's";
  for (const char* rel : {"model", "output/data", "output", "code/serving", "code"}) {
    SCOPED_TRACE(rel);
    TearDown();  // a fresh tree and store each time
    SetUp();
    fs::remove_all(ml_ + "/" + rel);
    record_.spec.publish_prefix = "published/run";
    fs::create_directory_symlink(secret, ml_ + "/" + rel);
    auto out = Finalize();
    ASSERT_TRUE(out.ok()) << out.status();
    EXPECT_EQ(out->state, JobState::kFailed);
    EXPECT_THAT(out->failure_reason, HasSubstr(std::string("/opt/ml/") + rel + " is a symlink"));
    EXPECT_TRUE(out->model_key.empty());
    auto listed = store_->List("");
    ASSERT_TRUE(listed.ok());
    EXPECT_TRUE(listed->objects.empty()) << listed->objects.size() << " objects were stored";
    EXPECT_TRUE(fs::exists(secret + "/tandem.db"));  // and nothing was touched there
  }
  std::error_code ec;
  fs::remove_all(secret, ec);
}

// A clock whose monotonic time moves 1 ms each time it is read (by any
// thread).
class TickingClock final : public Clock {
 public:
  int64_t NowMicros() const override { return 1'700'000'000'000'000; }
  int64_t MonotonicMicros() const override { return now_ += 1000; }
  void SleepMicros(int64_t) override {}

 private:
  mutable std::atomic<int64_t> now_{0};
};

// Each step finalization took is timed, on the request's clock (here 1 ms
// per reading, so each step >= 1000 µs; the log is stored on its own thread,
// whose readings may fall inside the other steps), and a step not taken is
// absent.
TEST_F(FinalizeServingTest, StepsAreTimedOnTheRequestsClock) {
  Write("/log", "epoch 1\n");
  Write("/output/data/scores.csv", "0.5\n");
  TickingClock clock;
  FinalizeRequest req;
  req.record = &record_;
  req.ml_dir = ml_;
  req.log_path = ml_ + "/log";
  req.clock = &clock;
  auto out = FinalizeAttempt(req, *store_, nullptr);
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_EQ(out->state, JobState::kCompleted) << out->failure_reason;
  std::set<std::string> steps;
  for (const auto& [step, us] : out->steps_us.items()) {
    steps.insert(step);
    EXPECT_GE(us.get<int64_t>(), 1000) << step;
  }
  EXPECT_EQ(steps, (std::set<std::string>{"log", "log_wait", "serving_files", "model_pack",
                                          "model_store", "output_pack", "output_store"}));
  EXPECT_TRUE(store_->Stat(out->log_key).ok());
  // Without a log, output data or a model: the empty archive is linked.
  fs::remove_all(ml_ + "/model");
  fs::create_directories(ml_ + "/model");
  fs::remove_all(ml_ + "/output/data/scores.csv");
  fs::remove_all(ml_ + "/code/serving");
  req.log_path = root_ + "/no-log";
  out = FinalizeAttempt(req, *store_, nullptr);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->steps_us, Json({{"serving_files", 1000}, {"model_store", 1000}}));
}

TEST(FailureReasonForUsersTest, NamesTheSandboxPathAndHidesTheHome) {
  const std::string ml = "/srv/t/jobs/J1/attempt-1/ml";
  EXPECT_EQ(FailureReasonForUsers("cannot read " + ml + "/model/x: gone", ml, "/srv/t", "J1"),
            "cannot read /opt/ml/model/x: gone");
  EXPECT_EQ(FailureReasonForUsers("open '/srv/t/store/blobs/ab/cd' failed", ml, "/srv/t", "J1"),
            "open '<control-plane path>' failed");
  EXPECT_EQ(FailureReasonForUsers("exit status 3", ml, "/srv/t", "J1"), "exit status 3");
  EXPECT_EQ(FailureReasonForUsers("/srv/tx/y stays", ml, "/srv/t", "J1"), "/srv/tx/y stays");
}

}  // namespace
}  // namespace tandem::compute::jobs
