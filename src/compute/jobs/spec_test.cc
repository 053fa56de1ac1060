#include "compute/jobs/spec.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace tandem::compute::jobs {
namespace {

using ::testing::HasSubstr;

constexpr char kYaml[] = R"(
name: churn-xgb
team: growth
entry_point: train.py
source_dir: /src/churn
hyperparameters: {max_depth: 6, eta: 0.3, objective: "binary:logistic", layers: [1, 2]}
inputs: {train: ./data/train.csv, validation: datasets/val.csv}
metric_definitions:
  - {name: "validation:auc", regex: 'validation-auc:([0-9.]+)'}
resources: {cpus: 2, memory_mb: 4096}
max_runtime_seconds: 3600
environment: {OMP_NUM_THREADS: 2, MODE: fast}
register: {model: churn, alias: challenger, tags: {data: 2026-11}}
retries: 1
keep_alive_seconds: 300
network: false
image: registry.local/team/train:1.2
checkpoint: {key_prefix: teams/growth/ckpt/churn/, local_path: /opt/ml/checkpoints/}
)";

TEST(JobSpecTest, ParsesYaml) {
  auto spec = JobSpec::Parse(kYaml);
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->name, "churn-xgb");
  EXPECT_EQ(spec->team, "growth");
  EXPECT_EQ(spec->entry_point, "train.py");
  EXPECT_EQ(spec->source_dir, "/src/churn");
  EXPECT_EQ(spec->hyperparameters.at("max_depth"), Json(6));
  EXPECT_EQ(spec->hyperparameters.at("eta"), Json(0.3));
  EXPECT_EQ(spec->hyperparameters.at("objective"), Json("binary:logistic"));
  EXPECT_EQ(spec->hyperparameters.at("layers"), Json::array({1, 2}));
  EXPECT_EQ(spec->inputs.at("train"), "./data/train.csv");
  ASSERT_EQ(spec->metric_definitions.size(), 1u);
  EXPECT_EQ(spec->metric_definitions[0].name, "validation:auc");
  EXPECT_EQ(spec->resources.cpus, 2);
  EXPECT_EQ(spec->resources.memory_mb, 4096);
  EXPECT_EQ(spec->max_runtime_seconds, 3600);
  EXPECT_EQ(spec->environment.at("OMP_NUM_THREADS"), "2");  // stringified
  EXPECT_EQ(spec->environment.at("MODE"), "fast");
  ASSERT_TRUE(spec->register_model.has_value());
  EXPECT_EQ(spec->register_model->model, "churn");
  EXPECT_EQ(spec->register_model->alias, "challenger");
  EXPECT_EQ(spec->register_model->tags.at("data"), "2026-11");
  EXPECT_EQ(spec->retries, 1);
  EXPECT_EQ(spec->keep_alive_seconds, 300);
  EXPECT_FALSE(spec->network);
  EXPECT_EQ(spec->image, "registry.local/team/train:1.2");
  ASSERT_TRUE(spec->checkpoint.has_value());
  EXPECT_EQ(spec->checkpoint->key_prefix, "teams/growth/ckpt/churn");  // trailing '/' dropped
  EXPECT_EQ(spec->checkpoint->local_path, "/opt/ml/checkpoints");
}

TEST(JobSpecTest, ParsesJsonAndAppliesDefaults) {
  auto spec = JobSpec::Parse(R"({"entry_point": "run.sh", "inputs": {"train": "sha256:ab"}})");
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->name, "");
  EXPECT_EQ(spec->team, "default");
  EXPECT_EQ(spec->resources, Resources{});
  EXPECT_EQ(spec->max_runtime_seconds, 86400);
  EXPECT_FALSE(spec->register_model.has_value());
  EXPECT_FALSE(spec->checkpoint.has_value());
  // YAML flow style that is not JSON also parses.
  auto flow = JobSpec::Parse("{entry_point: run.sh, retries: 2}");
  ASSERT_TRUE(flow.ok()) << flow.status();
  EXPECT_EQ(flow->retries, 2);
}

TEST(JobSpecTest, ToJsonRoundTrips) {
  auto spec = JobSpec::Parse(kYaml);
  ASSERT_TRUE(spec.ok());
  auto again = JobSpec::FromJson(spec->ToJson());
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(*again, *spec);
  // Through text too (JSON dump, then Parse).
  auto text = JobSpec::Parse(spec->ToJson().dump());
  ASSERT_TRUE(text.ok()) << text.status();
  EXPECT_EQ(*text, *spec);
  // Minimal spec.
  auto minimal = JobSpec::Parse("entry_point: a.py");
  ASSERT_TRUE(minimal.ok());
  auto minimal_again = JobSpec::FromJson(minimal->ToJson());
  ASSERT_TRUE(minimal_again.ok()) << minimal_again.status();
  EXPECT_EQ(*minimal_again, *minimal);
}

TEST(JobSpecTest, YamlErrorsKeepLineNumbers) {
  auto spec = JobSpec::Parse("entry_point: a.py\nhyperparameters: {a: 1\nretries: 2\n");
  ASSERT_FALSE(spec.ok());
  EXPECT_EQ(spec.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(spec.status().message()), HasSubstr("line"));
}

TEST(JobSpecTest, EmptyOrNonMappingRefused) {
  EXPECT_THAT(std::string(JobSpec::Parse("").status().message()), HasSubstr("empty"));
  EXPECT_THAT(std::string(JobSpec::Parse("- a\n- b\n").status().message()),
              HasSubstr("must be a mapping"));
}

struct BadCase {
  const char* yaml;
  const char* message;  // a substring of the error
};

class JobSpecErrorTest : public ::testing::TestWithParam<BadCase> {};

TEST_P(JobSpecErrorTest, NamesTheField) {
  std::string text = std::string("entry_point: train.py\n") + GetParam().yaml;
  auto spec = JobSpec::Parse(text);
  ASSERT_FALSE(spec.ok()) << text;
  EXPECT_EQ(spec.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(spec.status().message()), HasSubstr(GetParam().message)) << text;
}

std::string LongString(size_t n) { return std::string(n, 'x'); }

const std::string kLongHp = "hyperparameters: {a: " + LongString(257) + "}\n";
const std::string kLongHpKey = "hyperparameters: {" + LongString(257) + ": 1}\n";
std::string ManyHps() {
  std::string s = "hyperparameters: {";
  for (int i = 0; i < 101; ++i) s += "h" + std::to_string(i) + ": 1, ";
  return s + "}\n";
}
const std::string kManyHps = ManyHps();
std::string ManyMetrics() {
  std::string s = "metric_definitions:\n";
  for (int i = 0; i < 41; ++i) s += "  - {name: m" + std::to_string(i) + ", regex: 'm=(\\d+)'}\n";
  return s;
}
const std::string kManyMetrics = ManyMetrics();

INSTANTIATE_TEST_SUITE_P(
    Fields, JobSpecErrorTest,
    ::testing::Values(
        BadCase{"bogus: 1\n", "unknown field 'bogus'"},
        BadCase{"resources: {cpu: 2}\n", "unknown field 'resources.cpu'"},
        BadCase{"register: {model: m, version: 2}\n", "unknown field 'register.version'"},
        BadCase{"metric_definitions: [{name: a, regex: 'a=(.*)', x: 1}]\n",
                "unknown field 'metric_definitions[0].x'"},
        BadCase{"name: -bad\n", "'name'"}, BadCase{"name: bad-\n", "'name'"},
        BadCase{"name: has_underscore\n", "'name'"},
        BadCase{"name: 123\n", "'name' must be a string, got an integer"},
        BadCase{"team: Growth\n", "'team'"},
        BadCase{"hyperparameters: [1]\n", "'hyperparameters' must be a mapping"},
        BadCase{"hyperparameters: {a: null}\n", "'hyperparameters.a'"},
        BadCase{"hyperparameters: {'a=b': 1}\n", "must not contain '='"},
        BadCase{kLongHp.c_str(), "'hyperparameters.a' renders to 257 characters"},
        BadCase{kLongHpKey.c_str(), "1 to 256 characters"},
        BadCase{kManyHps.c_str(), "at most 100"},
        BadCase{"inputs: {'a/b': x}\n", "channel name 'a/b'"},
        BadCase{"inputs: {train: ''}\n", "'inputs.train' must be a non-empty string"},
        BadCase{"inputs: {train: 3}\n", "'inputs.train' must be a string"},
        BadCase{"metric_definitions: {a: b}\n", "'metric_definitions' must be a list"},
        BadCase{"metric_definitions: [{name: a}]\n", "'metric_definitions[0].regex' is required"},
        BadCase{"metric_definitions: [{name: a, regex: 'a=[0-9'}]\n", "does not compile"},
        BadCase{"metric_definitions: [{name: a, regex: 'a=[0-9]+'}]\n", "no capture group"},
        BadCase{kManyMetrics.c_str(), "at most 40 metric_definitions"},
        BadCase{"resources: {cpus: 0}\n", "'resources.cpus' must be a positive number"},
        BadCase{"resources: {cpus: two}\n",
                "'resources.cpus' must be a positive number, got a "
                "string"},
        BadCase{"resources: {memory_mb: -1}\n", "'resources.memory_mb' must be an integer"},
        BadCase{"resources: {memory_mb: 1.5}\n", "'resources.memory_mb' must be an integer"},
        BadCase{"resources: {gpus: -1}\n", "'resources.gpus'"},
        BadCase{"resources: 4\n", "'resources' must be a mapping"},
        BadCase{"max_runtime_seconds: 0\n",
                "'max_runtime_seconds' must be an integer between 1 "
                "and 432000"},
        BadCase{"max_runtime_seconds: 432001\n", "'max_runtime_seconds'"},
        BadCase{"max_runtime_seconds: 18446744073709551615\n", "'max_runtime_seconds'"},
        BadCase{"environment: {SM_MODEL_DIR: x}\n",
                "'SM_MODEL_DIR' is set by the training contract"},
        BadCase{"environment: {TRAINING_JOB_NAME: x}\n", "'TRAINING_JOB_NAME'"},
        BadCase{"environment: {'1BAD': x}\n", "environment variable name '1BAD'"},
        BadCase{"environment: {A: [1]}\n", "'environment.A' must be a string, number or boolean"},
        BadCase{"register: {alias: a}\n", "'register.model' is required"},
        BadCase{"register: {model: '-m'}\n", "'register.model'"},
        BadCase{"register: {model: m, alias: '123'}\n", "'register.alias'"},
        BadCase{"register: {model: m, tags: {a: [1]}}\n", "'register.tags.a'"},
        BadCase{"retries: 11\n", "'retries' must be an integer between 0 and 10"},
        BadCase{"retries: '1'\n", "'retries' must be an integer between 0 and 10, got a string"},
        BadCase{"keep_alive_seconds: 3601\n", "'keep_alive_seconds'"},
        BadCase{"network: 'yes'\n", "'network' must be a boolean"},
        BadCase{"image: [a]\n", "'image' must be a string"},
        BadCase{"source_dir: {a: 1}\n", "'source_dir' must be a string"},
        BadCase{"checkpoint: teams/a/ckpt\n", "'checkpoint' must be a mapping"},
        BadCase{"checkpoint: {local_path: /opt/ml/checkpoints}\n",
                "'checkpoint.key_prefix' is required"},
        BadCase{"checkpoint: {key_prefix: teams/a/ckpt, s3_uri: x}\n",
                "unknown field 'checkpoint.s3_uri'"},
        BadCase{"checkpoint: {key_prefix: ''}\n", "'checkpoint.key_prefix' must be 1 to 512"},
        BadCase{"checkpoint: {key_prefix: /}\n", "'checkpoint.key_prefix' must be 1 to 512"},
        BadCase{"checkpoint: {key_prefix: teams/a/../b}\n", "'..' segment"},
        BadCase{"checkpoint: {key_prefix: /teams/a}\n", "absolute"},
        BadCase{"checkpoint: {key_prefix: 'teams//a'}\n", "empty path segment"},
        BadCase{"checkpoint: {key_prefix: teams/a, local_path: /tmp/ck}\n",
                "only /opt/ml/checkpoints is synced"},
        BadCase{"secrets: {a: 1}\n", "'secrets' must be a list"},
        BadCase{"secrets: [{env: A}]\n", "'secrets[0].name' is required"},
        BadCase{"secrets: [{name: pw}]\n", "'secrets[0]' needs exactly one of env or file"},
        BadCase{"secrets: [{name: pw, env: A, file: a}]\n", "exactly one of env or file"},
        BadCase{"secrets: [{name: pw, env: A, x: 1}]\n", "unknown field 'secrets[0].x'"},
        BadCase{"secrets: [{name: '-pw', env: A}]\n", "'secrets[0].name' '-pw'"},
        BadCase{"secrets: [{name: 'a/b', env: A}]\n", "'secrets[0].name'"},
        BadCase{"secrets: [{name: pw, env: SM_MODEL_DIR}]\n", "'secrets[0].env' 'SM_MODEL_DIR'"},
        BadCase{"secrets: [{name: pw, env: '1A'}]\n", "'secrets[0].env'"},
        BadCase{"environment: {A: x}\nsecrets: [{name: pw, env: A}]\n", "is set twice"},
        BadCase{"secrets: [{name: a, env: A}, {name: b, env: A}]\n", "'secrets[1].env' 'A'"},
        BadCase{"secrets: [{name: pw, file: ../etc/passwd}]\n", "'secrets[0].file'"},
        BadCase{"secrets: [{name: pw, file: ..}]\n", "'secrets[0].file' '..'"},
        BadCase{"secrets: [{name: a, file: x}, {name: b, file: x}]\n", "used twice"}));

TEST(JobSpecTest, SecretsRoundTripAsReferences) {
  auto spec = JobSpec::Parse(
      "entry_point: train.py\n"
      "secrets: [{name: db-password, env: DB_PASSWORD}, {name: gcp.key, file: gcp.json}]\n");
  ASSERT_TRUE(spec.ok()) << spec.status();
  ASSERT_EQ(spec->secrets.size(), 2u);
  EXPECT_EQ(spec->secrets[0], (SecretRef{"db-password", "DB_PASSWORD", ""}));
  EXPECT_EQ(spec->secrets[1], (SecretRef{"gcp.key", "", "gcp.json"}));
  auto again = JobSpec::FromJson(spec->ToJson());
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(*again, *spec);
}

TEST(JobSpecTest, EntryPointRules) {
  EXPECT_THAT(std::string(JobSpec::Parse("team: a").status().message()),
              HasSubstr("'entry_point' is required"));
  EXPECT_THAT(std::string(JobSpec::Parse("entry_point: ../x.py").status().message()),
              HasSubstr("must not contain '..'"));
  EXPECT_THAT(std::string(JobSpec::Parse("entry_point: a/../../x.py").status().message()),
              HasSubstr("must not contain '..'"));
  EXPECT_THAT(std::string(JobSpec::Parse("entry_point: ''").status().message()),
              HasSubstr("'entry_point'"));
  EXPECT_TRUE(JobSpec::Parse("entry_point: a/..b/x.py").ok());
  EXPECT_TRUE(JobSpec::Parse("entry_point: /usr/bin/true").ok());
}

TEST(JobSpecTest, AnImageMakesTheEntryPointOptional) {
  auto byoc = JobSpec::Parse("image: team/train:1\n");
  ASSERT_TRUE(byoc.ok()) << byoc.status();
  EXPECT_EQ(byoc->image, "team/train:1");
  EXPECT_EQ(byoc->entry_point, "");
  auto round = JobSpec::FromJson(byoc->ToJson());
  ASSERT_TRUE(round.ok()) << round.status();
  EXPECT_EQ(*round, *byoc);
  EXPECT_FALSE(byoc->ToJson().contains("entry_point"));
  EXPECT_THAT(std::string(JobSpec::Parse("image: ''").status().message()),
              HasSubstr("'image' must be an image reference"));
  EXPECT_THAT(std::string(JobSpec::Parse("image: a\nentry_point: ''").status().message()),
              HasSubstr("'entry_point'"));
}

TEST(JobSpecTest, NameBoundaries) {
  EXPECT_TRUE(JobSpec::Parse("entry_point: a\nname: a").ok());
  EXPECT_TRUE(JobSpec::Parse("entry_point: a\nname: a--b").ok());
  EXPECT_TRUE(JobSpec::Parse("entry_point: a\nname: " + LongString(63)).ok());
  EXPECT_FALSE(JobSpec::Parse("entry_point: a\nname: " + LongString(64)).ok());
}

}  // namespace
}  // namespace tandem::compute::jobs
