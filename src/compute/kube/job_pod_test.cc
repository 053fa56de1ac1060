#include "compute/kube/job_pod.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>

#include "common/clock.h"
#include "common/config.h"
#include "glue/open/glue.h"

namespace tandem::compute::kube {
namespace {

namespace fs = std::filesystem;

class JobPodTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "tandem-job-pod-XXXXXX").string();
    root_ = ::mkdtemp(tmpl.data());
    auto config = LoadConfig(root_ + "/home", "", {});
    ASSERT_TRUE(config.ok()) << config.status();
    fs::create_directories(config->home);
    auto g = glue::OpenGlue(*config, clock_);
    ASSERT_TRUE(g.ok()) << g.status();
    glue_ = std::move(*g);
    ml_ = root_ + "/ml";
    fs::create_directories(ml_);
    fs::create_directories(root_ + "/src");
    std::ofstream(root_ + "/src/train.sh") << "#!/bin/sh\n";
    std::ofstream(root_ + "/train.csv") << "1,0.5\n0,0.1\n";
    ASSERT_TRUE(glue_.store->PutFile("datasets/train.csv", root_ + "/train.csv").ok());
  }
  void TearDown() override {
    glue_ = {};
    std::error_code ec;
    fs::remove_all(root_, ec);
  }
  jobs::JobSpec Spec() {
    auto s = jobs::JobSpec::Parse("name: pod-job\nentry_point: train.sh\nsource_dir: " + root_ +
                                  "/src\ninputs: {train: datasets/train.csv}\n"
                                  "hyperparameters: {depth: 3}\n"
                                  "register: {model: podmodel, alias: champion}\n");
    EXPECT_TRUE(s.ok()) << s.status();
    return *s;
  }

  std::string root_, ml_;
  glue::Glue glue_;
  Clock& clock_ = Clock::Real();
};

TEST_F(JobPodTest, StageThenFinalizeRegistersTheModel) {
  ASSERT_TRUE(StageJobPod(Spec(), ml_, *glue_.store).ok());
  EXPECT_TRUE(fs::is_regular_file(ml_ + "/code/train.sh"));
  EXPECT_TRUE(fs::is_regular_file(ml_ + "/input/data/train/train.csv"));
  EXPECT_TRUE(fs::is_regular_file(ml_ + "/input/config/hyperparameters.json"));
  EXPECT_TRUE(fs::is_regular_file(ml_ + "/" + kLineageFile));
  // The training container writes its model.
  std::ofstream(ml_ + "/model/model.bin") << "weights";
  auto out = FinalizeJobPod(Spec(), "pod-job", 1, ml_, *glue_.store, glue_.registry.get());
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_EQ(out->state, jobs::JobState::kCompleted) << out->failure_reason;
  EXPECT_EQ(out->model_key, "jobs/pod-job/output/model.tar.gz");
  EXPECT_EQ(out->registered_model, "podmodel");
  EXPECT_EQ(out->registered_version, 1);
  auto v = glue_.registry->Resolve("podmodel@champion");
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->source, out->model_digest);
  // A retried finalize registers no second version.
  auto again = FinalizeJobPod(Spec(), "pod-job", 1, ml_, *glue_.store, glue_.registry.get());
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->registered_version, 1);
}

TEST_F(JobPodTest, BadInputChangesNothing) {
  jobs::JobSpec s = Spec();
  s.inputs["train"] = "datasets/missing.csv";
  Status st = StageJobPod(s, ml_, *glue_.store);
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("train"), std::string::npos) << st;
  EXPECT_FALSE(fs::exists(ml_ + "/code"));
  EXPECT_FALSE(StageJobPod(Spec(), root_ + "/no-such-dir", *glue_.store).ok());
  // Finalize before staging: no model directory.
  auto out = FinalizeJobPod(Spec(), "pod-job", 1, ml_, *glue_.store, glue_.registry.get());
  EXPECT_FALSE(out.ok());
  EXPECT_FALSE(FinalizeJobPod(Spec(), "", 1, ml_, *glue_.store, nullptr).ok());
}

}  // namespace
}  // namespace tandem::compute::kube
