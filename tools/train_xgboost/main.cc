// tandem-train-xgboost: a native XGBoost trainer that follows the SageMaker
// training-container contract and needs no Python.
//
//   hyperparameters  $SM_INPUT_CONFIG_DIR/hyperparameters.json (default
//                    /opt/ml/input/config), then `--key value` arguments (win)
//   data             $SM_CHANNEL_TRAIN and optional $SM_CHANNEL_VALIDATION
//                    (default /opt/ml/input/data/{train,validation}); a file or
//                    a directory of .csv / .libsvm files, or the channel's
//                    ContentType from $SM_INPUT_DATA_CONFIG / inputdataconfig.json
//   model            $SM_MODEL_DIR (default /opt/ml/model)
//   failure          $SM_OUTPUT_DIR/failure (default /opt/ml/output/failure)
//   checkpoints      checkpoint_dir, else $TANDEM_CHECKPOINT_DIR (unset: none)
//   data cache       $TANDEM_DATA_CACHE_DIR (unset: none): parsed channels are
//                    kept there and read back by later runs (data_cache.h)
//
// Exit status 0 on success; 1 for bad input (message prefixed "ClientError:",
// as SageMaker's built-in algorithms do), 2 for anything else.
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "common/json.h"
#include "common/status.h"
#include "train_xgboost/data_cache.h"
#include "train_xgboost/data_reader.h"
#include "train_xgboost/hyperparameters.h"
#include "train_xgboost/trainer.h"

namespace tandem::train_xgboost {
namespace {

constexpr char kUsage[] =
    "usage: tandem-train-xgboost [--key value ...]\n"
    "Trains XGBoost under the SageMaker training contract (SM_* variables, /opt/ml).\n"
    "Trainer keys: num_round (100), early_stopping_rounds (0 = off), self_test_rows (20),\n"
    "eval_metric (comma separated), checkpoint_dir ($TANDEM_CHECKPOINT_DIR; resume from and\n"
    "save xgboost-checkpoint.json there), checkpoint_interval (10 rounds), train_fraction\n"
    "(1: train on that share of the training rows, a fixed subset); every other key\n"
    "goes to XGBoost (objective defaults to binary:logistic). CSV: label first, no header.\n"
    "LibSVM: 0-based indices. $TANDEM_DATA_CACHE_DIR: a directory where parsed channels are\n"
    "kept for later runs.\n";

std::string Env(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::string(v) : fallback;
}

// Channel content types from SM_INPUT_DATA_CONFIG or inputdataconfig.json.
StatusOr<Json> InputDataConfig(const std::string& config_dir) {
  std::string text = Env("SM_INPUT_DATA_CONFIG", "");
  std::string source = "SM_INPUT_DATA_CONFIG";
  if (text.empty()) {
    source = config_dir + "/inputdataconfig.json";
    std::ifstream in(source);
    if (!in) return Json::object();
    std::ostringstream s;
    s << in.rdbuf();
    text = s.str();
  }
  StatusOr<Json> parsed = ParseJson(text);
  if (!parsed.ok() || !parsed->is_object()) {
    return InvalidArgumentError(source + " is not a JSON object");
  }
  return *parsed;
}

std::string ContentType(const Json& data_config, const std::string& channel) {
  auto it = data_config.find(channel);
  if (it == data_config.end() || !it->is_object()) return "";
  auto ct = it->find("ContentType");
  return ct != it->end() && ct->is_string() ? ct->get<std::string>() : "";
}

// The channel's path: SM_CHANNEL_<NAME>, else <input dir>/data/<name> if it exists.
std::optional<std::string> ChannelPath(const std::string& channel, const std::string& env_name) {
  std::string path = Env(env_name.c_str(), "");
  if (!path.empty()) return path;
  std::string fallback = Env("SM_INPUT_DIR", "/opt/ml/input") + "/data/" + channel;
  if (std::filesystem::exists(fallback)) return fallback;
  return std::nullopt;
}

Status Run(int argc, char** argv) {
  const std::string config_dir = Env("SM_INPUT_CONFIG_DIR", "/opt/ml/input/config");
  ASSIGN_OR_RETURN(HyperparameterMap hps,
                   ReadHyperparameterFile(config_dir + "/hyperparameters.json"));
  ASSIGN_OR_RETURN(HyperparameterMap args,
                   ParseHyperparameterArgs(std::vector<std::string>(argv + 1, argv + argc)));
  for (auto& [key, value] : args) hps[key] = value;
  const int cpus = std::atoi(Env("SM_NUM_CPUS", "0").c_str());
  ASSIGN_OR_RETURN(TrainerOptions options, MakeTrainerOptions(hps, cpus));
  if (options.checkpoint_dir.empty()) options.checkpoint_dir = Env("TANDEM_CHECKPOINT_DIR", "");

  ASSIGN_OR_RETURN(Json data_config, InputDataConfig(config_dir));
  std::optional<std::string> train_path = ChannelPath("train", "SM_CHANNEL_TRAIN");
  if (!train_path) {
    return NotFoundError("no training data: SM_CHANNEL_TRAIN is not set and " +
                         Env("SM_INPUT_DIR", "/opt/ml/input") + "/data/train does not exist");
  }
  const std::string cache_dir = Env("TANDEM_DATA_CACHE_DIR", "");
  StatusOr<CachedRead> read =
      ReadChannelCached(*train_path, ContentType(data_config, "train"), cache_dir);
  if (!read.ok()) return Annotate(read.status(), "train channel");
  Dataset train = std::move(read->data);
  std::printf("train: %zu rows, %zu features from %s%s\n", train.num_rows, train.num_features,
              train_path->c_str(), read->from_cache ? " (cached)" : "");
  std::optional<Dataset> validation;
  if (std::optional<std::string> path = ChannelPath("validation", "SM_CHANNEL_VALIDATION")) {
    StatusOr<CachedRead> v =
        ReadChannelCached(*path, ContentType(data_config, "validation"), cache_dir);
    if (!v.ok()) return Annotate(v.status(), "validation channel");
    validation = std::move(v->data);
    std::printf("validation: %zu rows from %s%s\n", validation->num_rows, path->c_str(),
                v->from_cache ? " (cached)" : "");
  }
  std::fflush(stdout);

  const std::string model_dir = Env("SM_MODEL_DIR", "/opt/ml/model");
  ASSIGN_OR_RETURN(TrainResult result, TrainAndSave(options, std::move(train),
                                                    std::move(validation), model_dir, stdout));
  std::printf("saved %s/model.json (%d rounds, %zu self-test rows)\n", model_dir.c_str(),
              result.rounds, result.self_test_rows);
  std::fflush(stdout);
  return OkStatus();
}

// Writes the failure reason where the contract expects it; reports (but
// survives) an unwritable location.
void WriteFailure(const std::string& text) {
  const std::string dir = Env("SM_OUTPUT_DIR", "/opt/ml/output");
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  std::ofstream out(dir + "/failure", std::ios::trunc);
  out << text << "\n";
  out.close();
  if (!out) {
    std::fprintf(stderr, "tandem-train-xgboost: (could not write %s/failure)\n", dir.c_str());
  }
}

}  // namespace
}  // namespace tandem::train_xgboost

int main(int argc, char** argv) {
  using namespace tandem::train_xgboost;  // NOLINT
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    }
  }
  tandem::Status s = Run(argc, argv);
  if (s.ok()) return 0;
  bool client =
      s.code() == absl::StatusCode::kInvalidArgument || s.code() == absl::StatusCode::kNotFound;
  std::string text =
      std::string(client ? "ClientError: " : "AlgorithmError: ") + std::string(s.message());
  std::fprintf(stderr, "tandem-train-xgboost: %s\n", text.c_str());
  WriteFailure(text);
  return client ? 1 : 2;
}
