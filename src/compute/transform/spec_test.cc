#include "compute/transform/spec.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/yaml.h"

namespace tandem::compute::transform {
namespace {

using registry::ModelRef;
using ::testing::HasSubstr;

std::string Message(const Status& s) { return std::string(s.message()); }

constexpr char kSpec[] = R"(
name: churn-scores
team: growth
model: churn@champion
input: {uri: datasets/churn/, content_type: application/jsonlines}
split_type: Line
batch_strategy: SingleRecord
max_payload_mb: 2
max_concurrent_transforms: 4
assemble_with: Line
join_source: Input
output: {prefix: results/churn/}
resources: {cpus: 2, memory_mb: 1024}
max_runtime_seconds: 600
)";

TEST(TransformSpec, ParsesEveryField) {
  auto spec = TransformSpec::Parse(kSpec);
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->name, "churn-scores");
  EXPECT_EQ(spec->team, "growth");
  EXPECT_EQ(spec->model, (ModelRef{ModelRef::Kind::kAlias, "churn", "champion", 0}));
  EXPECT_EQ(spec->input_uri, "datasets/churn/");
  EXPECT_EQ(spec->content_type, TransformContentType::kJsonLines);
  EXPECT_EQ(spec->batch_strategy, BatchStrategy::kSingleRecord);
  EXPECT_EQ(spec->max_payload_mb, 2);
  EXPECT_EQ(spec->max_concurrent_transforms, 4);
  EXPECT_TRUE(spec->join_input);
  EXPECT_EQ(spec->output_prefix, "results/churn");
  EXPECT_EQ(spec->resources.cpus, 2);
  EXPECT_EQ(spec->resources.memory_mb, 1024);
  EXPECT_EQ(spec->max_runtime_seconds, 600);
  auto again = TransformSpec::FromJson(spec->ToJson());
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(*again, *spec);
}

// The registry's reference rule: a bare name means the latest READY version.
TEST(TransformSpec, BareModelNameMeansLatest) {
  auto spec = TransformSpec::Parse("model: churn\ninput: {uri: in}\noutput: {prefix: out}\n");
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->model, (ModelRef{ModelRef::Kind::kLatest, "churn", "", 0}));
  EXPECT_EQ(spec->ToJson()["model"], "churn");
}

TEST(TransformSpec, Defaults) {
  auto spec = TransformSpec::Parse("model: m/3\ninput: {uri: /data/in}\noutput: {prefix: out}\n");
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->model, (ModelRef{ModelRef::Kind::kVersion, "m", "", 3}));
  EXPECT_EQ(spec->content_type, TransformContentType::kCsv);
  EXPECT_EQ(spec->batch_strategy, BatchStrategy::kMultiRecord);
  EXPECT_EQ(spec->max_payload_mb, 6);
  EXPECT_EQ(spec->max_concurrent_transforms, 1);
  EXPECT_FALSE(spec->join_input);
  EXPECT_EQ(spec->team, "default");
}

TEST(TransformSpec, ErrorsNameTheField) {
  const std::string base = "model: m@prod\ninput: {uri: in}\noutput: {prefix: out}\n";
  struct Case {
    std::string yaml, expected;
  };
  const Case cases[] = {
      {base + "colour: red\n", "unknown field 'colour'"},
      {"model: m@prod\ninput: {uri: in, url: x}\noutput: {prefix: out}\n",
       "unknown field 'input.url'"},
      {"model: m@prod\ninput: {uri: in}\noutput: {prefix: out, bucket: b}\n",
       "unknown field 'output.bucket'"},
      {base + "resources: {cpu: 2}\n", "unknown field 'resources.cpu'"},
      {base + "max_payload_mb: 101\n", "'max_payload_mb'"},
      {base + "max_payload_mb: six\n", "'max_payload_mb'"},
      {base + "max_concurrent_transforms: 0\n", "'max_concurrent_transforms'"},
      {base + "batch_strategy: Multi\n", "'batch_strategy' must be MultiRecord or SingleRecord"},
      {base + "split_type: None\n", "'split_type' must be Line"},
      {base + "assemble_with: None\n", "'assemble_with' must be Line"},
      {base + "join_source: Output\n", "'join_source' must be Input or None"},
      {base + "name: bad_name\n", "'name'"},
      {base + "max_runtime_seconds: 0\n", "'max_runtime_seconds'"},
      {"model: '-m'\ninput: {uri: in}\noutput: {prefix: out}\n", "invalid model name"},
      {"model: m/0\ninput: {uri: in}\noutput: {prefix: out}\n", "positive integer"},
      {"model: m@Prod\ninput: {uri: in}\noutput: {prefix: out}\n", "alias"},
      {"model: 7\ninput: {uri: in}\noutput: {prefix: out}\n", "'model' must be a string"},
      {"input: {uri: in}\noutput: {prefix: out}\n", "'model' is required"},
      {"model: m@a\noutput: {prefix: out}\n", "'input' is required"},
      {"model: m@a\ninput: {content_type: text/csv}\noutput: {prefix: out}\n",
       "'input.uri' is required"},
      {"model: m@a\ninput: {uri: in, content_type: text/plain}\noutput: {prefix: out}\n",
       "'input.content_type' must be text/csv or application/jsonlines"},
      {"model: m@a\ninput: {uri: in}\n", "'output' is required"},
      {"model: m@a\ninput: {uri: in}\noutput: {prefix: ../up}\n", "'output.prefix'"},
      {"model: m@a\ninput: {uri: in}\noutput: {prefix: /abs}\n", "'output.prefix'"},
      {"model: m@a\ninput: {uri: in}\noutput: results\n", "'output' must be a mapping"},
      {"", "empty"},
      {"- a\n- b\n", "must be a mapping"},
  };
  for (const Case& c : cases) {
    auto spec = TransformSpec::Parse(c.yaml);
    ASSERT_FALSE(spec.ok()) << c.yaml;
    EXPECT_EQ(spec.status().code(), StatusCode::kInvalidArgument) << c.yaml;
    EXPECT_THAT(Message(spec.status()), HasSubstr(c.expected)) << c.yaml;
  }
}

TEST(TransformSpec, BecomesAJobRunningTandemTransform) {
  auto spec = TransformSpec::Parse(kSpec);
  ASSERT_TRUE(spec.ok());
  jobs::JobSpec job = TransformJobSpec(*spec, "sha256:abc");
  EXPECT_EQ(job.name, "churn-scores");
  EXPECT_EQ(job.team, "growth");
  // Where every job sees tandem's helpers, not a host path the sandbox may hide.
  EXPECT_EQ(job.entry_point, "/opt/tandem-libexec/tandem-transform");
  EXPECT_EQ(job.inputs.at("model"), "sha256:abc");
  EXPECT_EQ(job.inputs.at("input"), "datasets/churn/");
  EXPECT_EQ(job.hyperparameters.at("batch_strategy"), "SingleRecord");
  EXPECT_EQ(job.hyperparameters.at("max_concurrent_transforms"), 4);
  EXPECT_EQ(job.hyperparameters.at("join_source"), "Input");
  EXPECT_EQ(job.publish_prefix, "results/churn");
  EXPECT_EQ(job.environment.at(kJobKindVariable), "transform");
  EXPECT_EQ(job.resources.cpus, 2);
  // The job spec survives its own validation (what the job service stores).
  auto round = jobs::JobSpec::FromJson(job.ToJson());
  ASSERT_TRUE(round.ok()) << round.status();
  EXPECT_EQ(*round, job);
}

}  // namespace
}  // namespace tandem::compute::transform

namespace tandem::compute::transform {
namespace {

TEST(TransformSpec, TheExampleSpecParses) {
  auto text = ReadYamlFile(std::string(TANDEM_SOURCE_DIR) + "/examples/transform/transform.yaml");
  ASSERT_TRUE(text.ok()) << text.status();
  auto spec = TransformSpec::FromJson(*text);
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->model.ToString(), "churn@champion");
  EXPECT_EQ(spec->output_prefix, "results/churn/2026-11");
}

}  // namespace
}  // namespace tandem::compute::transform
