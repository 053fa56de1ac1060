// Batch transforms as compute jobs, end to end through the job service with
// the real LocalSubstrate, SQLite, a file store and the registry: the model
// comes from the registry (an alias to a model.tar.gz), inputs from a store
// prefix, outputs land under output.prefix per object.
#include "compute/transform/service.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "common/ids.h"
#include "compute/substrates/local/substrate.h"
#include "compute/testing/job_env.h"
#include "glue/bus/sql_event_bus.h"
#include "glue/store/archive.h"
#include "runtime/testing/xgboost_test_util.h"

namespace tandem::compute::transform {
namespace {

namespace fs = std::filesystem;
using registry::ModelRef;
using ::testing::HasSubstr;

class TransformServiceTest : public testing::JobServiceTestEnv {
 protected:
  void SetUp() override {
    OpenGlue("/tmp/tandem-transform-svc-");
    ASSERT_FALSE(HasFatalFailure());
    fs::create_directories(home_ + "/model");
    StartJobs(JobOptions(/*cpus=*/2, /*grace_seconds=*/2));
    ASSERT_FALSE(HasFatalFailure());
    RegisterModel();
  }

  // An XGBoost model on 20 features, packed and registered as churn@champion.
  void RegisterModel() {
    runtime::testing::TrainSpec train;
    train.rounds = 10;
    auto xgb = runtime::testing::XgbModel::Train(train);
    ASSERT_TRUE(xgb.ok()) << xgb.status();
    ASSERT_TRUE(xgb->Save(home_ + "/model/model.json").ok());
    ASSERT_TRUE(store::PackDirectory(home_ + "/model", home_ + "/model.tar.gz").ok());
    auto put = store_->PutFile("models/churn/model.tar.gz", home_ + "/model.tar.gz");
    ASSERT_TRUE(put.ok()) << put.status();
    registry::CreateVersionRequest req;
    req.name = "churn";
    req.source = put->digest;
    auto v = registry_->CreateVersion(req);
    ASSERT_TRUE(v.ok()) << v.status();
    ASSERT_TRUE(registry_->SetAlias("churn", "champion", v->version).ok());
  }
  void PutText(const std::string& key, const std::string& text) {
    std::ofstream(home_ + "/tmp.txt") << text;
    ASSERT_TRUE(store_->PutFile(key, home_ + "/tmp.txt").ok());
  }
  std::string Rows(int n) {
    std::string out;
    for (int i = 0; i < n; ++i) {
      for (int c = 0; c < 20; ++c) out += (c ? "," : "") + std::to_string((i * 7 + c) % 11 - 5);
      out += "\n";
    }
    return out;
  }
  TransformSpec Spec(const std::string& name) {
    auto spec = TransformSpec::Parse("name: " + name +
                                     "\nmodel: churn@champion\ninput: {uri: in}\n"
                                     "output: {prefix: results}\nmax_runtime_seconds: 120\n");
    EXPECT_TRUE(spec.ok()) << spec.status();
    return *spec;
  }
  jobs::JobRecord RunToEnd(const TransformSpec& spec) {
    auto job = SubmitTransform(spec, *jobs_, *registry_);
    EXPECT_TRUE(job.ok()) << job.status();
    if (!job.ok()) return {};
    EXPECT_TRUE(IsTransformJob(*job));
    auto done = jobs_->WaitFor(
        job->id, [](const jobs::JobRecord& r) { return IsTerminal(r.state); }, 120'000);
    EXPECT_TRUE(done.ok()) << done.status();
    return done.ok() ? *done : jobs::JobRecord{};
  }
  bool Exists(const std::string& key) { return store_->Stat(key).ok(); }
};

TEST_F(TransformServiceTest, ScoresEveryObjectIntoTheOutputPrefix) {
  PutText("in/a.csv", Rows(50));
  PutText("in/b.csv", Rows(7));
  jobs::JobRecord job = RunToEnd(Spec("score-all"));
  ASSERT_EQ(job.state, jobs::JobState::kCompleted) << job.failure_reason;
  ASSERT_TRUE(Exists("results/a.csv.out"));
  ASSERT_TRUE(Exists("results/b.csv.out"));
  auto text = store_->GetString("results/b.csv.out");
  ASSERT_TRUE(text.ok()) << text.status();
  EXPECT_EQ(std::count(text->begin(), text->end(), '\n'), 7);
  Json j = TransformJobJson(job);
  EXPECT_EQ(j["kind"], "transform");
  EXPECT_EQ(j["transform"]["model"], "churn@champion");
  EXPECT_EQ(j["transform"]["output_prefix"], "results");
}

TEST_F(TransformServiceTest, AFailedObjectFailsTheJobAndKeepsTheOthers) {
  PutText("in/good.csv", Rows(30));
  PutText("in/bad.csv", Rows(3) + "1,2,oops\n");
  jobs::JobRecord job = RunToEnd(Spec("score-some"));
  EXPECT_EQ(job.state, jobs::JobState::kFailed);
  EXPECT_THAT(job.failure_reason, HasSubstr("1 of 2 input objects failed"));
  EXPECT_THAT(job.failure_reason, HasSubstr("bad.csv: line 4: column 3: 'oops'"));
  EXPECT_TRUE(Exists("results/good.csv.out"));
  EXPECT_FALSE(Exists("results/bad.csv.out"));
}

TEST_F(TransformServiceTest, UnknownModelOrInputIsRefusedAtSubmit) {
  TransformSpec spec = Spec("nope");
  spec.model = ModelRef{ModelRef::Kind::kAlias, "churn", "shadow", 0};
  auto job = SubmitTransform(spec, *jobs_, *registry_);
  ASSERT_FALSE(job.ok());
  EXPECT_EQ(job.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(std::string(job.status().message()), HasSubstr("churn@shadow"));
  spec = Spec("nope");
  spec.input_uri = "no/such/prefix";
  job = SubmitTransform(spec, *jobs_, *registry_);
  ASSERT_FALSE(job.ok());
  EXPECT_THAT(std::string(job.status().message()), HasSubstr("no/such/prefix"));
  job = SubmitTransform(Spec("nope"), *jobs_, *registry_, HelperSearch{"/no/such", "", ""});
  ASSERT_FALSE(job.ok());
  EXPECT_EQ(job.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(job.status().message()), HasSubstr("/no/such/tandem-transform"));
}

}  // namespace
}  // namespace tandem::compute::transform
