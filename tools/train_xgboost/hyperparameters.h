// Hyperparameters of tandem-train-xgboost, as the SageMaker contract delivers
// them: a flat string map in <config dir>/hyperparameters.json and again as
// `--key value` arguments (arguments win). Split into what the trainer loop
// handles itself and what goes to XGBoosterSetParam unchanged.
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"

namespace tandem::train_xgboost {

using HyperparameterMap = std::map<std::string, std::string>;

// Reads a hyperparameters.json file: a JSON object whose values are strings
// (numbers and booleans are accepted and rendered as text). A missing file is
// an empty map; malformed JSON or nested values -> InvalidArgument naming it.
StatusOr<HyperparameterMap> ReadHyperparameterFile(const std::string& path);

// Parses `--key value`, `--key=value` and `-k value` arguments (argv[0]
// excluded). A flag without a value or a stray positional -> InvalidArgument.
StatusOr<HyperparameterMap> ParseHyperparameterArgs(const std::vector<std::string>& args);

struct TrainerOptions {
  int num_round = 100;            // boosting rounds (> 0)
  int early_stopping_rounds = 0;  // 0 = off; needs a validation channel
  std::string objective = "binary:logistic";
  std::vector<std::string> eval_metrics;  // from eval_metric, comma separated
  int self_test_rows = 20;                // rows written to self_test.jsonl (0..1000)
  int nthread = 0;                        // threads for XGBoost (0 = all cores)
  // Resume and checkpoints: `checkpoint_dir` (else $TANDEM_CHECKPOINT_DIR,
  // which a job with `checkpoint:` in its spec gets; "" = off) holds
  // xgboost-checkpoint.json, saved every `checkpoint_interval` rounds and at
  // the end; a run that finds one continues from its rounds.
  std::string checkpoint_dir;
  int checkpoint_interval = 10;
  // Trains on this share of the training rows, in (0, 1] (1 = all): a fixed
  // pseudo-random subset (the same for every run; a smaller fraction's rows
  // are a subset of a larger one's), at least one row. A cheaper fidelity for
  // Hyperband (`hyperband.resource: rows`); validation is unaffected.
  double train_fraction = 1.0;
  // Everything else, in order, for XGBoosterSetParam (objective included).
  std::vector<std::pair<std::string, std::string>> booster_params;
};

// Builds options from the merged map. Keys starting `sagemaker_` and
// `_tuning_objective_metric` are dropped (SageMaker's own). Ill-typed trainer
// keys -> InvalidArgument naming the key. `default_nthread` (> 0) sets
// nthread unless given.
StatusOr<TrainerOptions> MakeTrainerOptions(const HyperparameterMap& hps, int default_nthread);

}  // namespace tandem::train_xgboost
