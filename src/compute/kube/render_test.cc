#include "compute/kube/render.h"

#include <gtest/gtest.h>

namespace tandem::compute::kube {
namespace {

jobs::JobSpec Spec(const std::string& yaml) {
  auto s = jobs::JobSpec::Parse(yaml);
  EXPECT_TRUE(s.ok()) << s.status();
  return *s;
}

const char kJob[] = R"(
name: Churn-XGB
team: growth
entry_point: train.py
source_dir: code/churn.tar.gz
hyperparameters: {max_depth: 6, eta: 0.3}
inputs: {train: datasets/train.csv}
resources: {cpus: 1.5, memory_mb: 2048}
max_runtime_seconds: 3600
retries: 2
environment: {OMP_NUM_THREADS: "2"}
register: {model: churn, alias: challenger}
image: registry.local/team/train:1.2
)";

TEST(JobRenderTest, AJobThatStagesTrainsAndFinalizes) {
  auto objects = RenderJob(Spec(kJob), JobRenderOptions{});
  ASSERT_TRUE(objects.ok()) << objects.status();
  ASSERT_EQ(objects->size(), 2u);
  const Json& cm = (*objects)[0];
  const Json& job = (*objects)[1];
  EXPECT_EQ(cm["kind"], "ConfigMap");
  EXPECT_EQ(cm["metadata"]["name"], "churn-xgb-spec");
  auto spec_back = jobs::JobSpec::FromJson(Json::parse(cm["data"]["job.json"].get<std::string>()));
  ASSERT_TRUE(spec_back.ok()) << spec_back.status();
  EXPECT_EQ(*spec_back, Spec(kJob));
  EXPECT_EQ(job["apiVersion"], "batch/v1");
  EXPECT_EQ(job["metadata"]["name"], "churn-xgb");
  EXPECT_EQ(job["metadata"]["annotations"]["tandem.dev/register"], "churn@challenger");
  EXPECT_EQ(job["spec"]["activeDeadlineSeconds"], 3600);
  EXPECT_EQ(job["spec"]["backoffLimit"], 2);
  EXPECT_EQ(job["spec"]["ttlSecondsAfterFinished"], 86400);
  const Json& pod = job["spec"]["template"]["spec"];
  EXPECT_EQ(pod["restartPolicy"], "Never");
  ASSERT_EQ(pod["initContainers"].size(), 2u);
  EXPECT_EQ(pod["initContainers"][0]["name"], "stage");
  EXPECT_EQ(pod["initContainers"][0]["args"][1], "stage");
  const Json& train = pod["initContainers"][1];
  EXPECT_EQ(train["image"], "registry.local/team/train:1.2");
  EXPECT_EQ(train["command"][0], "/usr/bin/python3");
  EXPECT_EQ(train["command"][1], "/opt/ml/code/train.py");
  EXPECT_EQ(train["workingDir"], "/opt/ml/code");
  EXPECT_EQ(train["resources"]["requests"]["cpu"], "1500m");
  EXPECT_EQ(train["resources"]["limits"]["memory"], "2048Mi");
  bool hosts = false, omp = false;
  for (const Json& e : train["env"]) {
    if (e["name"] == "SM_HOSTS") hosts = true;
    if (e["name"] == "OMP_NUM_THREADS") omp = e["value"] == "2";
  }
  EXPECT_TRUE(hosts);
  EXPECT_TRUE(omp);
  const Json& fin = pod["containers"][0];
  EXPECT_EQ(fin["name"], "finalize");
  std::vector<std::string> args = fin["args"];
  EXPECT_EQ(args.back(), "churn-xgb");
  for (const Json& o : *objects) {
    EXPECT_EQ(o["metadata"]["labels"]["app.kubernetes.io/instance"], "churn-xgb");
  }
  EXPECT_EQ(job["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/name"], "tandem-job");
}

TEST(JobRenderTest, OptionsAndRefusals) {
  jobs::JobSpec s = Spec("name: j\nentry_point: /usr/bin/tandem-train-xgboost\n");
  auto r = RenderJob(s, JobRenderOptions{});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("training image"), std::string::npos);
  JobRenderOptions o;
  o.image = "localhost/tandem-serving:x";
  o.ns = "ml";
  o.ttl_seconds_after_finished = 60;
  r = RenderJob(s, o);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ((*r)[1]["metadata"]["namespace"], "ml");
  EXPECT_EQ((*r)[1]["spec"]["ttlSecondsAfterFinished"], 60);
  EXPECT_EQ((*r)[1]["spec"]["template"]["spec"]["initContainers"][1]["command"][0],
            "/usr/bin/tandem-train-xgboost");
  s.name = "";
  EXPECT_FALSE(RenderJob(s, o).ok());
  s.name = "a";
  o.image_pull_policy = "Sometimes";
  EXPECT_FALSE(RenderJob(s, o).ok());
}

}  // namespace
}  // namespace tandem::compute::kube
