// Jobs in images end to end: the embedded image store, the real local
// substrate with its layer cache, bubblewrap with the image's root at /.
// Images are tiny: the host's dash and C library in one layer, a `train`
// program and a marker file in another (no coreutils: scripts use builtins).
#include <filesystem>
#include <fstream>

#include "compute/jobs/image_launch.h"
#include "compute/jobs/service.h"
#include "compute/substrates/local/substrate.h"
#include "compute/testing/job_env.h"
#include "glue/images/embedded_image_store.h"
#include "glue/imagefs/testing/test_image.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tandem::compute::jobs {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using imagefs::testing::TestImageSpec;
using imagefs::testing::TFile;

class ImageJobTest : public testing::JobServiceTestEnv {
 protected:
  void SetUp() override {
    OpenGlue("/tmp/tandem-imagejob-");
    ASSERT_FALSE(HasFatalFailure());
    images_ = std::make_unique<images::EmbeddedImageStore>(*store_, nullptr, nullptr);
    JobServiceOptions opts;
    local::LocalSubstrateOptions lopts;
    lopts.capacity_cpus = 2;
    lopts.grace_seconds = 2;
    lopts.image_cache_dir = home_ + "/image-cache";
    images::ImageStore* store = images_.get();
    lopts.image_source = [store](const std::string& repo) {
      return imagefs::StoreSource(*store, repo);
    };
    auto substrate = local::LocalSubstrate::Create(lopts);
    ASSERT_TRUE(substrate.ok()) << substrate.status();
    if (!(*substrate)->sandboxed()) GTEST_SKIP() << "bubblewrap is not installed";
    opts.home = home_;
    opts.db = db_.get();
    opts.outbox = bus_->outbox();
    opts.store = store_.get();
    opts.registry = registry_.get();
    opts.images = images_.get();
    opts.substrate = *std::move(substrate);
    StartJobs(std::move(opts));
  }

  // An image with a shell, /etc/image-marker and `train_script` at
  // /usr/local/bin/train, pushed as `repo:tag`; its digest.
  std::string PushImage(const std::string& repo, const std::string& tag,
                        const std::string& train_script,
                        std::vector<std::string> entrypoint = {},
                        std::string working_dir = "") {
    auto shell = imagefs::testing::HostShellLayer();
    EXPECT_TRUE(shell.ok()) << shell.status();
    TestImageSpec spec;
    spec.layers.push_back(*shell);
    spec.layers.push_back({TFile("usr/local/bin/train", train_script, 0755),
                           TFile("etc/image-marker", "inside-the-image\n"),
                           TFile("entry.sh", "#!/bin/sh\necho \"entrypoint got: $*\"\n", 0755)});
    spec.env = {"PATH=/usr/local/bin:/usr/bin:/bin", "IMAGE_VAR=from-image", "SM_MODEL_DIR=lie"};
    spec.entrypoint = std::move(entrypoint);
    spec.working_dir = std::move(working_dir);
    auto digest = imagefs::testing::PushTestImage(*images_, repo, tag, spec);
    EXPECT_TRUE(digest.ok()) << digest.status();
    return digest.ok() ? *digest : "";
  }

  std::string Log(const std::string& id) {
    auto log = jobs_->ReadLog(id, 0);
    return log.ok() ? log->data : "";
  }

  static JobSpec Spec(const std::string& name, const std::string& image) {
    JobSpec spec;
    spec.name = name;
    spec.image = image;
    spec.max_runtime_seconds = 60;
    return spec;
  }

  std::unique_ptr<images::ImageStore> images_;
};

TEST_F(ImageJobTest, RunsTheImagesTrainProgramWithoutAnEntryPoint) {
  const std::string digest = PushImage(
      "team/byoc", "v1",
      "#!/bin/sh\n"
      "echo \"train argv: $0 $*\"\n"
      "read -r marker < /etc/image-marker; echo \"$marker\"\n"
      "echo \"IMAGE_VAR=$IMAGE_VAR SM_MODEL_DIR=$SM_MODEL_DIR pwd=$(pwd)\"\n"
      "if [ -e /usr/bin/python3 ]; then echo host-visible; else echo host-hidden; fi\n"
      "read -r hps < /opt/ml/input/config/hyperparameters.json; echo \"$hps\"\n"
      "echo weights > /opt/ml/model/model.txt\n");
  JobSpec spec = Spec("byoc", "team/byoc:v1");
  spec.hyperparameters["depth"] = 3;
  spec.register_model = RegisterSpec{"byoc-model", "", {}};
  JobRecord r = RunToEnd(spec);
  ASSERT_EQ(r.state, JobState::kCompleted) << r.failure_reason << "\n" << Log(r.id);
  const std::string log = Log(r.id);
  EXPECT_THAT(log, HasSubstr("train argv: /usr/local/bin/train \n"));
  EXPECT_THAT(log, HasSubstr("inside-the-image"));
  EXPECT_THAT(log, HasSubstr("IMAGE_VAR=from-image SM_MODEL_DIR=/opt/ml/model pwd=/\n"));
  EXPECT_THAT(log, HasSubstr("host-hidden"));
  EXPECT_THAT(log, HasSubstr("\"depth\":\"3\""));
  EXPECT_EQ(r.details["image"]["digest"], digest);
  EXPECT_EQ(r.details["image"]["repository"], "team/byoc");
  auto version = registry_->GetVersion("byoc-model", 1);
  ASSERT_TRUE(version.ok()) << version.status();
  EXPECT_EQ(version->lineage.image_digest, digest);
  EXPECT_EQ(version->tags.at("image"), "team/byoc@" + digest);
}

TEST_F(ImageJobTest, EntrypointGetsTrainAsItsArgument) {
  PushImage("team/entry", "v1", "#!/bin/sh\necho never\n", {"/bin/sh", "/entry.sh"}, "/etc");
  JobRecord r = RunToEnd(Spec("entry", "team/entry:v1"));
  ASSERT_EQ(r.state, JobState::kCompleted) << r.failure_reason << "\n" << Log(r.id);
  EXPECT_EQ(Log(r.id), "entrypoint got: train\n");
}

TEST_F(ImageJobTest, EntryPointScriptRunsInTheImagesEnvironment) {
  PushImage("team/script", "v1", "#!/bin/sh\necho never\n", {}, "/etc");
  const std::string src = home_ + "/src";
  fs::create_directories(src);
  WriteExecutable(src + "/run.sh",
                  "#!/bin/sh\necho \"script $* IMAGE_VAR=$IMAGE_VAR pwd=$(pwd)\"\n"
                  "read -r marker < /etc/image-marker; echo \"$marker\"\n");
  JobSpec spec = Spec("script", "team/script:v1");
  spec.entry_point = "run.sh";
  spec.source_dir = src;
  spec.hyperparameters["lr"] = 0.5;
  JobRecord r = RunToEnd(spec);
  ASSERT_EQ(r.state, JobState::kCompleted) << r.failure_reason << "\n" << Log(r.id);
  EXPECT_EQ(Log(r.id), "script --lr 0.5 IMAGE_VAR=from-image pwd=/etc\ninside-the-image\n");
}

TEST_F(ImageJobTest, FailureFileAndExitStatusAsOnTheHost) {
  PushImage("team/fail", "v1",
            "#!/bin/sh\necho 'bad data' > /opt/ml/output/failure\nexit 3\n");
  JobRecord r = RunToEnd(Spec("fail", "team/fail:v1"));
  EXPECT_EQ(r.state, JobState::kFailed);
  EXPECT_EQ(r.failure_reason, "bad data");
}

TEST_F(ImageJobTest, UnknownImageIsRefusedAtSubmitAndNothingIsStored) {
  PushImage("team/known", "v1", "#!/bin/sh\n");
  for (const std::string& ref :
       {std::string("team/unknown:v1"), std::string("team/known:v2"),
        "team/known@sha256:" + std::string(64, '0')}) {
    auto submitted = jobs_->Submit(Spec("nope", ref));
    ASSERT_FALSE(submitted.ok()) << ref;
    EXPECT_EQ(submitted.status().code(), absl::StatusCode::kNotFound) << ref;
    EXPECT_THAT(submitted.status().message(), HasSubstr("'" + ref + "'"));
  }
  auto bad = jobs_->Submit(Spec("nope", "Team/UPPER"));
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  auto page = jobs_->List(JobFilter{});
  ASSERT_TRUE(page.ok());
  EXPECT_TRUE(page->jobs.empty());
}

TEST(ImageJobCommandTest, ByocAndScriptModeSemantics) {
  images::ImageConfig config;
  config.env = {"PATH=/opt/conda/bin:/usr/bin", "SM_CHANNELS=x", "A=image", "B=image"};
  std::map<std::string, std::string> contract = {
      {"PATH", "/usr/bin:/bin"}, {"SM_CHANNELS", "[]"}, {"A", "spec"}};
  JobSpec spec;
  spec.environment = {{"A", "spec"}};
  ImageCommand byoc = ImageJobCommand(spec, config, contract);
  EXPECT_EQ(byoc.argv, (std::vector<std::string>{"train"}));
  EXPECT_EQ(byoc.working_dir, "/");
  EXPECT_EQ(byoc.env["PATH"], "/opt/conda/bin:/usr/bin") << "the image's PATH";
  EXPECT_EQ(byoc.env["SM_CHANNELS"], "[]") << "the contract owns SM_*";
  EXPECT_EQ(byoc.env["A"], "spec") << "the spec's environment wins";
  EXPECT_EQ(byoc.env["B"], "image");
  config.entrypoint = {"/usr/bin/python3", "-m", "trainer"};
  config.cmd = {"serve"};
  EXPECT_EQ(ImageJobCommand(spec, config, contract).argv,
            (std::vector<std::string>{"/usr/bin/python3", "-m", "trainer", "train"}))
      << "CMD is replaced by train";
  spec.entry_point = "train.py";
  spec.hyperparameters["k"] = 1;
  ImageCommand script = ImageJobCommand(spec, config, contract);
  EXPECT_EQ(script.argv,
            (std::vector<std::string>{"python3", "/opt/ml/code/train.py", "-k", "1"}));
  EXPECT_EQ(script.working_dir, "/opt/ml/code");
}

}  // namespace
}  // namespace tandem::compute::jobs
