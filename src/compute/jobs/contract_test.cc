#include "compute/jobs/contract.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/testing/temp_dir.h"
#include "common/testing/test_server.h"

namespace tandem::compute::jobs {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

using tandem::testing::TempDir;

std::string ReadAll(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

void WriteAll(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary);
  f << text;
}

std::vector<std::string> Args(const Json& hps) {
  std::map<std::string, Json> m;
  for (const auto& [k, v] : hps.items()) m[k] = v;
  return HyperparameterArgs(m);
}

TEST(HyperparameterTest, StringRendering) {
  EXPECT_EQ(HyperparameterString(Json("abc")), "abc");
  EXPECT_EQ(HyperparameterString(Json(6)), "6");
  EXPECT_EQ(HyperparameterString(Json(0.3)), "0.3");
  EXPECT_EQ(HyperparameterString(Json(true)), "true");
  EXPECT_EQ(HyperparameterString(Json::array({1, 2})), "[1,2]");
}

TEST(HyperparameterTest, ArgsSortedWithShortKeysAndPythonRendering) {
  EXPECT_THAT(Args({{"epochs", 10}, {"k", 3}, {"batch-size", "32"}}),
              ElementsAre("--batch-size", "32", "--epochs", "10", "-k", "3"));
  // Values are json.loads-ed then str()-ed, as the toolkit does.
  EXPECT_THAT(Args({{"flag", true}}), ElementsAre("--flag", "True"));
  EXPECT_THAT(Args({{"flag", "true"}}), ElementsAre("--flag", "True"));
  EXPECT_THAT(Args({{"off", false}}), ElementsAre("--off", "False"));
  EXPECT_THAT(Args({{"eta", 0.3}}), ElementsAre("--eta", "0.3"));
  EXPECT_THAT(Args({{"eta", 1e-5}}), ElementsAre("--eta", "1e-05"));
  EXPECT_THAT(Args({{"eta", 1.0}}), ElementsAre("--eta", "1.0"));
  EXPECT_THAT(Args({{"big", 1e16}}), ElementsAre("--big", "1e+16"));
  EXPECT_THAT(Args({{"big", 1e15}}), ElementsAre("--big", "1000000000000000.0"));
  EXPECT_THAT(Args({{"layers", Json::array({1, 2})}}), ElementsAre("--layers", "[1, 2]"));
  EXPECT_THAT(Args({{"layers", "[1,2]"}}), ElementsAre("--layers", "[1, 2]"));
  EXPECT_THAT(Args({{"names", Json::array({"a", "it's"})}}),
              ElementsAre("--names", "['a', \"it's\"]"));
  EXPECT_THAT(Args({{"opts", {{"b", 2}, {"a", "x"}, {"c", Json::array({1})}}}}),
              ElementsAre("--opts", "a=x,b=2,c=[1]"));
  EXPECT_THAT(Args({{"s", "\"quoted\""}}), ElementsAre("-s", "quoted"));
  EXPECT_THAT(Args({{"n", "null"}}), ElementsAre("-n", ""));
  EXPECT_THAT(Args({{"obj", "binary:logistic"}}), ElementsAre("--obj", "binary:logistic"));
  EXPECT_THAT(Args({{"x", "NaN"}}), ElementsAre("-x", "nan"));
  // Toolkit keys are not user arguments.
  EXPECT_THAT(Args({{"sagemaker_program", "train.py"},
                    {"sagemaker_region", "us-east-1"},
                    {"_tuning_objective_metric", "auc"},
                    {"a", 1}}),
              ElementsAre("-a", "1"));
}

JobSpec TwoChannelSpec() {
  auto spec = JobSpec::Parse(R"(
name: churn-xgb
entry_point: train.py
hyperparameters: {learning-rate: 0.1, epochs: 10, layers: [64, 32], optimizer: adam,
                  sagemaker_program: train.py, sagemaker_mpi_enabled: true, opts: {a: 1}}
inputs: {train: /data/train.csv, validation: /data/val.libsvm}
resources: {cpus: 2, gpus: 0}
environment: {OMP_NUM_THREADS: 2, PATH: /custom/bin}
)");
  EXPECT_TRUE(spec.ok()) << spec.status();
  return *spec;
}

TEST(ContractEnvironmentTest, TwoChannelJob) {
  JobSpec spec = TwoChannelSpec();
  auto env = ContractEnvironment(spec, "job-1", "/opt/ml", 2);
  EXPECT_EQ(env["SM_MODEL_DIR"], "/opt/ml/model");
  EXPECT_EQ(env["SM_CHANNELS"], R"(["train","validation"])");
  EXPECT_EQ(env["SM_CHANNEL_TRAIN"], "/opt/ml/input/data/train");
  EXPECT_EQ(env["SM_CHANNEL_VALIDATION"], "/opt/ml/input/data/validation");
  EXPECT_EQ(env["SM_HP_LEARNING-RATE"], "0.1");
  EXPECT_EQ(env["SM_HP_EPOCHS"], "10");
  EXPECT_EQ(env["SM_HP_OPTIMIZER"], "adam");
  EXPECT_EQ(env["SM_HP_LAYERS"], "[64,32]");
  EXPECT_EQ(env.count("SM_HP_SAGEMAKER_PROGRAM"), 0u);
  EXPECT_EQ(
      env["SM_HPS"],
      R"({"epochs":10,"layers":[64,32],"learning-rate":0.1,"optimizer":"adam","opts":{"a":1}})");
  EXPECT_EQ(env["SM_FRAMEWORK_PARAMS"], R"({"sagemaker_mpi_enabled":true})");
  EXPECT_EQ(
      env["SM_USER_ARGS"],
      R"(["--epochs","10","--layers","[64, 32]","--learning-rate","0.1","--optimizer","adam","--opts","a=1"])");
  EXPECT_EQ(env["SM_OUTPUT_DATA_DIR"], "/opt/ml/output/data");
  EXPECT_EQ(env["SM_OUTPUT_DIR"], "/opt/ml/output");
  EXPECT_EQ(env["SM_INPUT_DIR"], "/opt/ml/input");
  EXPECT_EQ(env["SM_INPUT_CONFIG_DIR"], "/opt/ml/input/config");
  EXPECT_EQ(env["SM_MODULE_DIR"], "/opt/ml/code");
  EXPECT_EQ(env["SM_MODULE_NAME"], "train");
  EXPECT_EQ(env["SM_USER_ENTRY_POINT"], "train.py");
  EXPECT_EQ(env["SM_LOG_LEVEL"], "20");
  EXPECT_EQ(env["SM_NUM_CPUS"], "2");
  EXPECT_EQ(env["SM_NUM_GPUS"], "0");
  EXPECT_EQ(env["SM_CURRENT_HOST"], "algo-1");
  EXPECT_EQ(env["SM_HOSTS"], R"(["algo-1"])");
  EXPECT_EQ(env["SM_FRAMEWORK_MODULE"], "");
  EXPECT_EQ(env["SM_INPUT_DATA_CONFIG"],
            R"({"train":{"ContentType":"text/csv","RecordWrapperType":"None",)"
            R"("S3DistributionType":"FullyReplicated","TrainingInputMode":"File"},)"
            R"("validation":{"ContentType":"text/libsvm","RecordWrapperType":"None",)"
            R"("S3DistributionType":"FullyReplicated","TrainingInputMode":"File"}})");
  EXPECT_EQ(env["TRAINING_JOB_NAME"], "job-1");
  EXPECT_EQ(env["TRAINING_JOB_ARN"], "arn:tandem:compute:local:training-job/job-1");
  EXPECT_EQ(env["PATH"], "/custom/bin");  // spec.environment wins
  EXPECT_EQ(env["OMP_NUM_THREADS"], "2");
  EXPECT_EQ(env["PYTHONUNBUFFERED"], "1");
  EXPECT_EQ(env["HOME"], "/tmp");

  auto rc = ParseJson(env["SM_RESOURCE_CONFIG"]);
  ASSERT_TRUE(rc.ok());
  EXPECT_EQ((*rc)["current_host"], "algo-1");
  EXPECT_EQ((*rc)["network_interface_name"], "lo");

  auto te = ParseJson(env["SM_TRAINING_ENV"]);
  ASSERT_TRUE(te.ok()) << te.status();
  for (const char* key : {"channel_input_dirs",
                          "current_host",
                          "hosts",
                          "hyperparameters",
                          "input_config_dir",
                          "input_data_config",
                          "input_dir",
                          "job_name",
                          "log_level",
                          "model_dir",
                          "module_dir",
                          "module_name",
                          "num_cpus",
                          "num_gpus",
                          "output_data_dir",
                          "output_dir",
                          "resource_config",
                          "user_entry_point",
                          "additional_framework_parameters",
                          "network_interface_name",
                          "is_master",
                          "master_hostname"}) {
    EXPECT_TRUE(te->contains(key)) << key;
  }
  EXPECT_EQ((*te)["channel_input_dirs"]["train"], "/opt/ml/input/data/train");
  EXPECT_EQ((*te)["hyperparameters"]["learning-rate"], 0.1);
  EXPECT_EQ((*te)["job_name"], "job-1");
  EXPECT_EQ((*te)["num_cpus"], 2);
}

TEST(ContractEnvironmentTest, UnsandboxedBaseIsTheJobDir) {
  JobSpec spec = TwoChannelSpec();
  auto env = ContractEnvironment(spec, "j", "/var/jobs/j", 1);
  EXPECT_EQ(env["SM_MODEL_DIR"], "/var/jobs/j/model");
  EXPECT_EQ(env["SM_CHANNEL_TRAIN"], "/var/jobs/j/input/data/train");
  EXPECT_EQ(env["SAGEMAKER_BASE_DIR"], "/var/jobs/j");
}

TEST(ContractEnvironmentTest, JsonIsAsciiEscaped) {
  JobSpec spec;
  spec.entry_point = "t.py";
  spec.hyperparameters["label"] = "caf\xc3\xa9 \"q\"\n";
  auto env = ContractEnvironment(spec, "j", "/opt/ml", 1);
  EXPECT_EQ(env["SM_HPS"], R"({"label":"caf\u00e9 \"q\"\n"})");
  EXPECT_EQ(env["SM_HP_LABEL"], "caf\xc3\xa9 \"q\"\n");  // strings as they are
}

TEST(EntryPointCommandTest, PythonAndExecutables) {
  JobSpec spec = TwoChannelSpec();
  auto cmd = EntryPointCommand(spec, "/opt/ml");
  ASSERT_GE(cmd.size(), 2u);
  EXPECT_EQ(cmd[0], "/usr/bin/python3");
  EXPECT_EQ(cmd[1], "/opt/ml/code/train.py");
  EXPECT_EQ(cmd[2], "--epochs");
  spec.entry_point = "bin/train";
  spec.hyperparameters.clear();
  EXPECT_THAT(EntryPointCommand(spec, "/opt/ml"), ElementsAre("/opt/ml/code/bin/train"));
  spec.entry_point = "/usr/bin/tandem-train-xgboost";
  spec.hyperparameters["num_round"] = 10;
  EXPECT_THAT(EntryPointCommand(spec, "/opt/ml"),
              ElementsAre("/usr/bin/tandem-train-xgboost", "--num_round", "10"));
}

TEST(JobTreeTest, CreatesLayoutAndConfigFiles) {
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  JobSpec spec = TwoChannelSpec();
  ASSERT_TRUE(CreateJobTree(dir.path(), {"train", "validation"}).ok());
  for (const char* d : {"input/config", "input/data/train", "input/data/validation", "code",
                        "model", "output/data", "checkpoints"}) {
    EXPECT_TRUE(fs::is_directory(dir.path() + "/" + d)) << d;
  }
  EXPECT_FALSE(CreateJobTree(dir.path(), {"../escape"}).ok());
  EXPECT_FALSE(CreateJobTree(dir.path(), {".."}).ok());

  ASSERT_TRUE(WriteConfigFiles(dir.path(), spec, "job-1").ok());
  auto hps = ParseJson(ReadAll(dir.path() + "/input/config/hyperparameters.json"));
  ASSERT_TRUE(hps.ok());
  EXPECT_EQ((*hps)["learning-rate"], "0.1");
  EXPECT_EQ((*hps)["epochs"], "10");
  EXPECT_EQ((*hps)["layers"], "[64,32]");
  EXPECT_EQ((*hps)["optimizer"], "adam");
  for (const auto& [k, v] : hps->items()) EXPECT_TRUE(v.is_string()) << k;
  auto idc = ParseJson(ReadAll(dir.path() + "/input/config/inputdataconfig.json"));
  ASSERT_TRUE(idc.ok());
  EXPECT_EQ((*idc)["train"]["ContentType"], "text/csv");
  EXPECT_EQ((*idc)["train"]["TrainingInputMode"], "File");
  EXPECT_EQ((*idc)["train"]["S3DistributionType"], "FullyReplicated");
  EXPECT_EQ((*idc)["train"]["RecordWrapperType"], "None");
  auto rc = ParseJson(ReadAll(dir.path() + "/input/config/resourceconfig.json"));
  ASSERT_TRUE(rc.ok());
  EXPECT_EQ((*rc)["current_host"], "algo-1");
  EXPECT_EQ((*rc)["hosts"], Json::array({"algo-1"}));
  EXPECT_EQ((*rc)["current_group_name"], "homogeneousCluster");
  EXPECT_EQ((*rc)["instance_groups"][0]["hosts"], Json::array({"algo-1"}));

  spec.hyperparameters["long"] = std::string(300, 'x');
  EXPECT_EQ(WriteConfigFiles(dir.path(), spec, "job-1").code(), StatusCode::kInvalidArgument);
}

TEST(FailureReasonTest, ReadsTruncatesAndFallsBack) {
  TempDir dir;
  ASSERT_TRUE(CreateJobTree(dir.path(), {}).ok());
  const std::string failure = dir.path() + "/output/failure";
  EXPECT_EQ(FailureReason(dir.path(), "exit status 1"), "exit status 1");
  WriteAll(failure, "");
  EXPECT_EQ(FailureReason(dir.path(), "exit status 1"), "exit status 1");
  WriteAll(failure, "ValueError: bad input\n");
  EXPECT_EQ(FailureReason(dir.path(), "x"), "ValueError: bad input");
  WriteAll(failure, std::string(5000, 'e'));
  EXPECT_EQ(FailureReason(dir.path(), "x"), std::string(1024, 'e'));
  // A 2-byte UTF-8 character straddling byte 1024 is dropped whole.
  WriteAll(failure, std::string(1023, 'a') + "\xc3\xa9" + "tail");
  EXPECT_EQ(FailureReason(dir.path(), "x"), std::string(1023, 'a'));
  // A complete one ending at byte 1024 is kept.
  WriteAll(failure, std::string(1022, 'a') + "\xc3\xa9" + "tail");
  EXPECT_EQ(FailureReason(dir.path(), "x"), std::string(1022, 'a') + "\xc3\xa9");
  // Symlinks and FIFOs written by the job are not followed or opened.
  fs::remove(failure);
  fs::create_symlink("/etc/hostname", failure);
  EXPECT_EQ(FailureReason(dir.path(), "fallback"), "fallback");
  fs::remove(failure);
  ASSERT_EQ(::mkfifo(failure.c_str(), 0600), 0);
  EXPECT_EQ(FailureReason(dir.path(), "fallback"), "fallback");
}

// The JSON renders as Python sees them: run Debian's python3 with the
// contract environment and check json.loads of SM_HPS and friends.
TEST(ContractPythonTest, PythonParsesTheEnvironment) {
  TANDEM_REQUIRE_TOOL(::access("/usr/bin/python3", X_OK) == 0, "/usr/bin/python3");
  TempDir dir;
  JobSpec spec = TwoChannelSpec();
  spec.hyperparameters["label"] = "caf\xc3\xa9";
  spec.hyperparameters["tiny"] = 1e-7;
  auto env = ContractEnvironment(spec, "job-1", dir.path(), 1);
  std::string script = dir.path() + "/check.py";
  WriteAll(script,
           "import json, os, sys\n"
           "hps = json.loads(os.environ['SM_HPS'])\n"
           "assert hps['learning-rate'] == 0.1, hps\n"
           "assert hps['layers'] == [64, 32], hps\n"
           "assert hps['label'] == 'caf\\u00e9', hps\n"
           "assert hps['tiny'] == 1e-07, hps\n"
           "assert json.loads(os.environ['SM_CHANNELS']) == ['train', 'validation']\n"
           "te = json.loads(os.environ['SM_TRAINING_ENV'])\n"
           "assert te['hyperparameters'] == hps\n"
           "args = json.loads(os.environ['SM_USER_ARGS'])\n"
           "assert args == sys.argv[1:], (args, sys.argv)\n"
           "assert os.environ['SM_HPS'] == json.dumps(hps, sort_keys=True, "
           "separators=(',', ':'))\n"
           "print('ok')\n");
  std::vector<std::string> argv = {"/usr/bin/python3", script};
  for (auto& a : HyperparameterArgs(spec.hyperparameters)) argv.push_back(a);
  std::vector<std::string> envs;
  for (const auto& [k, v] : env) envs.push_back(k + "=" + v);
  std::string out = dir.path() + "/out.txt";
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    std::vector<char*> a, e;
    for (auto& s : argv) a.push_back(s.data());
    a.push_back(nullptr);
    for (auto& s : envs) e.push_back(s.data());
    e.push_back(nullptr);
    if (!std::freopen(out.c_str(), "w", stdout) || !std::freopen(out.c_str(), "a", stderr)) {
      ::_exit(126);
    }
    ::execve(a[0], a.data(), e.data());
    ::_exit(127);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << ReadAll(out);
  EXPECT_EQ(ReadAll(out), "ok\n");
}

}  // namespace
}  // namespace tandem::compute::jobs
