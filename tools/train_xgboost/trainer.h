// The XGBoost training loop of tandem-train-xgboost (XGBoost C API) and the
// model directory it writes: model.json, self_test.jsonl, tandem-model.yaml.
#pragma once

#include <cstdio>
#include <optional>
#include <string>

#include "common/status.h"
#include "train_xgboost/data_reader.h"
#include "train_xgboost/hyperparameters.h"

namespace tandem::train_xgboost {

// The checkpoint file in TrainerOptions::checkpoint_dir.
inline constexpr char kCheckpointFile[] = "xgboost-checkpoint.json";

struct TrainResult {
  int rounds = 0;           // rounds in the saved model
  int best_iteration = -1;  // with early stopping, else -1
  size_t self_test_rows = 0;
  size_t outputs_per_row = 0;
};

// The rows `fraction` (in (0, 1]) of `data` keeps: max(1, round(fraction *
// rows)) of them, the first ones of a fixed pseudo-random permutation (the same
// for every run and platform), in their original order; so a smaller
// fraction's rows are a subset of a larger one's. fraction >= 1: `data`.
Dataset SampleRows(Dataset data, double fraction);

// Trains on `train` (options.train_fraction of its rows, SampleRows), evaluating `train` and `validation` (if any) every round
// and printing XGBoost's line "[i]\ttrain-logloss:...\tvalidation-auc:..." to
// `log`, flushed at once so metric definitions see it while the job runs.
// With early stopping the model is cut back to its best round. Writes into
// `model_dir` (created if needed):
//   model.json         XGBoosterSaveModel
//   self_test.jsonl    {"input":[...|null],"output":[...],"tolerance":1e-6} per
//                      sample row (from validation, else train; up to a
//                      quarter of them with missing values)
//   tandem-model.yaml  flavor, model file, objective, signature, self test
// With options.checkpoint_dir, resumes from xgboost-checkpoint.json there (if
// any; a damaged one is ignored) and trains the remaining rounds, saving the
// booster there every checkpoint_interval rounds and at the end (not when it
// had nothing to train: a checkpoint with more rounds than asked is kept).
// Errors XGBoost raises for bad parameters or labels -> InvalidArgument with
// XGBoost's message; mismatched feature counts -> InvalidArgument.
StatusOr<TrainResult> TrainAndSave(const TrainerOptions& options, Dataset train,
                                   std::optional<Dataset> validation, const std::string& model_dir,
                                   std::FILE* log);

}  // namespace tandem::train_xgboost
