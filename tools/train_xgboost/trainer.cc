#include "train_xgboost/trainer.h"

#include <dlfcn.h>
#include <xgboost/c_api.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>
#include <memory>
#include <vector>

#include "common/json.h"
#include "common/yaml.h"

namespace tandem::train_xgboost {
namespace {

struct DMatrixFree {
  void operator()(void* h) const { XGDMatrixFree(h); }
};
struct BoosterFree {
  void operator()(void* h) const { XGBoosterFree(h); }
};
using DMatrix = std::unique_ptr<void, DMatrixFree>;
using Booster = std::unique_ptr<void, BoosterFree>;

// XGBoost's last error without its "[12:00:00] src/file.cc:26: " prefix and
// stack trace: the failure reason should be about the user's input.
std::string LastXgbError() {
  std::string e = XGBGetLastError();
  if (size_t trace = e.find("Stack trace:"); trace != std::string::npos) e.resize(trace);
  if (e.starts_with("[")) {
    size_t close = e.find("] ");
    size_t colon = close == std::string::npos ? close : e.find(": ", close);
    if (colon != std::string::npos) e = e.substr(colon + 2);
  }
  while (!e.empty() && std::isspace(static_cast<unsigned char>(e.back()))) e.pop_back();
  return e;
}

// Wraps a failed XGBoost call: its message is what the user needs to see.
Status XgbError(const std::string& what, StatusCode code = StatusCode::kInternal) {
  return Status(code, what + ": " + LastXgbError());
}

// `nthread` bounds the OpenMP threads used to build it (0 = all cores): more
// threads than the job's CPUs only spin.
StatusOr<DMatrix> MakeDMatrix(const float* data, size_t rows, size_t cols, const float* labels,
                              int nthread) {
  DMatrixHandle h = nullptr;
  if (XGDMatrixCreateFromMat_omp(data, rows, cols, std::numeric_limits<float>::quiet_NaN(), &h,
                                 nthread) != 0) {
    return XgbError("creating the data matrix", StatusCode::kInvalidArgument);
  }
  DMatrix m(h);
  if (labels != nullptr && XGDMatrixSetFloatInfo(h, "label", labels, rows) != 0) {
    return XgbError("setting labels", StatusCode::kInvalidArgument);
  }
  return m;
}

// XGBoost 1.7 runs some metrics (auc) on all OpenMP threads whatever nthread
// says, and idle OpenMP threads spin: on a job given fewer CPUs than the
// machine has, that more than doubles CPU time. OMP_NUM_THREADS is read when
// libgomp loads, so set the default through the already-loaded runtime.
void LimitOpenMpThreads(int nthread) {
  if (nthread <= 0) return;
  using SetNumThreads = void (*)(int);
  auto set = reinterpret_cast<SetNumThreads>(dlsym(RTLD_DEFAULT, "omp_set_num_threads"));
  if (set != nullptr) set(nthread);
}

// Metrics where larger is better, as xgboost.callback.EarlyStopping decides.
bool Maximize(const std::string& metric) {
  for (const char* prefix : {"auc", "aucpr", "map", "ndcg", "pre"}) {
    if (metric.starts_with(prefix)) return true;
  }
  return false;
}

// The last "name-metric:value" field of an eval line (the one early stopping
// watches, as in the Python package).
bool LastMetric(const std::string& line, std::string* metric, double* value) {
  size_t tab = line.rfind('\t');
  if (tab == std::string::npos) return false;
  std::string field = line.substr(tab + 1);
  size_t dash = field.find('-');
  size_t colon = field.rfind(':');
  if (dash == std::string::npos || colon == std::string::npos || colon < dash) return false;
  *metric = field.substr(dash + 1, colon - dash - 1);
  const char* begin = field.data() + colon + 1;
  auto [ptr, ec] = std::from_chars(begin, field.data() + field.size(), *value);
  return ec == std::errc();
}

// The eval line as the Python package prints it: each value with 5 decimals.
std::string FormatEvalLine(const std::string& raw) {
  std::string out;
  size_t start = 0;
  while (start <= raw.size()) {
    size_t tab = raw.find('\t', start);
    std::string field = raw.substr(start, tab == std::string::npos ? tab : tab - start);
    size_t colon = field.rfind(':');
    double value = 0;
    if (start > 0 && colon != std::string::npos) {
      const char* begin = field.data() + colon + 1;
      auto [ptr, ec] = std::from_chars(begin, field.data() + field.size(), value);
      if (ec == std::errc() && ptr == field.data() + field.size()) {
        char buf[64];
        std::snprintf(buf, sizeof(buf), "%.5f", value);
        field = field.substr(0, colon + 1) + buf;
      }
    }
    out += (start > 0 ? "\t" : "") + field;
    if (tab == std::string::npos) break;
    start = tab + 1;
  }
  return out;
}

std::string FloatText(float v) {
  char buf[32];
  auto [ptr, ec] = std::to_chars(buf, buf + sizeof(buf), v);
  return std::string(buf, ptr);
}

Status WriteText(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  out.close();
  if (!out) return InternalError("cannot write " + path);
  return OkStatus();
}

Status AlignWidths(Dataset& train, std::optional<Dataset>& validation) {
  if (!validation || validation->num_features == train.num_features) return OkStatus();
  if (train.variable_width && validation->num_features > train.num_features) {
    train.Widen(validation->num_features);
  } else if (validation->variable_width && validation->num_features < train.num_features) {
    validation->Widen(train.num_features);
  }
  if (validation->num_features != train.num_features) {
    return InvalidArgumentError(
        "the validation channel has " + std::to_string(validation->num_features) +
        " features but the train channel has " + std::to_string(train.num_features));
  }
  return OkStatus();
}

// The booster as XGBoost's JSON model (what XGBoosterSaveModel writes to a
// .json file): serialised once where the checkpoint and the model are the same.
StatusOr<std::string> ModelJson(BoosterHandle bh) {
  bst_ulong len = 0;
  const char* data = nullptr;
  if (XGBoosterSaveModelToBuffer(bh, R"({"format": "json"})", &len, &data) != 0) {
    return XgbError("serialising the model");
  }
  return std::string(data, len);
}

// Saves `model` (ModelJson) as <dir>/xgboost-checkpoint.json: written beside
// it and renamed into place, so a reader (the resumed run) never sees half a file.
Status SaveCheckpoint(const std::string& model, const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return InternalError("cannot create checkpoint directory " + dir + ": " + ec.message());
  const std::string path = dir + "/" + kCheckpointFile;
  const std::string tmp = dir + "/xgboost-checkpoint.tmp.json";
  RETURN_IF_ERROR(WriteText(tmp, model));
  std::filesystem::rename(tmp, path, ec);
  if (ec) return InternalError("cannot rename " + tmp + ": " + ec.message());
  return OkStatus();
}

}  // namespace

Dataset SampleRows(Dataset data, double fraction) {
  const size_t n = data.num_rows;
  if (!(fraction < 1) || n == 0) return data;
  const size_t keep = std::clamp<size_t>(
      static_cast<size_t>(std::llround(fraction * static_cast<double>(n))), 1, n);
  if (keep == n) return data;
  // Fisher-Yates with splitmix64 (std::shuffle's result differs between
  // standard libraries); only the first `keep` positions are drawn.
  std::vector<size_t> order(n);
  for (size_t i = 0; i < n; ++i) order[i] = i;
  uint64_t state = 0x7461'6e64'656d'0001ULL;
  auto next = [&state] {
    uint64_t z = (state += 0x9e37'79b9'7f4a'7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58'476d'1ce4'e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d0'49bb'1331'11ebULL;
    return z ^ (z >> 31);
  };
  for (size_t i = 0; i < keep; ++i) std::swap(order[i], order[i + next() % (n - i)]);
  order.resize(keep);
  std::sort(order.begin(), order.end());
  Dataset out;
  out.num_rows = keep;
  out.num_features = data.num_features;
  out.variable_width = data.variable_width;
  out.features.reserve(keep * data.num_features);
  out.labels.reserve(keep);
  for (size_t i : order) {
    out.features.insert(out.features.end(), data.Row(i), data.Row(i) + data.num_features);
    if (i < data.labels.size()) out.labels.push_back(data.labels[i]);
  }
  return out;
}

StatusOr<TrainResult> TrainAndSave(const TrainerOptions& options, Dataset train,
                                   std::optional<Dataset> validation, const std::string& model_dir,
                                   std::FILE* log) {
  RETURN_IF_ERROR(AlignWidths(train, validation));
  train = SampleRows(std::move(train), options.train_fraction);
  LimitOpenMpThreads(options.nthread);
  if (options.early_stopping_rounds > 0 && !validation) {
    return InvalidArgumentError("early_stopping_rounds needs a validation channel");
  }
  ASSIGN_OR_RETURN(DMatrix dtrain,
                   MakeDMatrix(train.features.data(), train.num_rows, train.num_features,
                               train.labels.data(), options.nthread));
  std::vector<DMatrixHandle> evals = {dtrain.get()};
  std::vector<const char*> names = {"train"};
  DMatrix dvalid;
  if (validation) {
    ASSIGN_OR_RETURN(
        dvalid, MakeDMatrix(validation->features.data(), validation->num_rows,
                            validation->num_features, validation->labels.data(), options.nthread));
    evals.push_back(dvalid.get());
    names.push_back("validation");
  }

  BoosterHandle bh = nullptr;
  if (XGBoosterCreate(evals.data(), evals.size(), &bh) != 0) return XgbError("XGBoosterCreate");
  Booster booster(bh);
  // Resume (XGBoost's xgb_model continuation): load the saved booster, then
  // set the parameters again and train the remaining rounds.
  int start = 0;
  const std::string checkpoint =
      options.checkpoint_dir.empty() ? "" : options.checkpoint_dir + "/" + kCheckpointFile;
  std::error_code exists_ec;
  if (!checkpoint.empty() && std::filesystem::exists(checkpoint, exists_ec)) {
    int rounds = 0;
    if (XGBoosterLoadModel(bh, checkpoint.c_str()) == 0 &&
        XGBoosterBoostedRounds(bh, &rounds) == 0) {
      start = rounds;
      std::fprintf(log, "resuming from %s at round %d\n", checkpoint.c_str(), start);
    } else {
      // A damaged checkpoint: start over rather than fail the job.
      std::fprintf(log, "ignoring checkpoint %s: %s\n", checkpoint.c_str(), LastXgbError().c_str());
      if (XGBoosterCreate(evals.data(), evals.size(), &bh) != 0) {
        return XgbError("XGBoosterCreate");
      }
      booster.reset(bh);
    }
    std::fflush(log);
  }
  for (const auto& [key, value] : options.booster_params) {
    if (XGBoosterSetParam(bh, key.c_str(), value.c_str()) != 0) {
      return XgbError("hyperparameter " + key + "=" + value, StatusCode::kInvalidArgument);
    }
  }
  if (start > options.num_round) {  // a checkpoint of a longer run: keep its first rounds
    BoosterHandle sliced = nullptr;
    if (XGBoosterSlice(bh, 0, options.num_round, 1, &sliced) != 0) {
      return XgbError("cutting the checkpoint back to num_round");
    }
    booster.reset(sliced);
    bh = sliced;
    start = options.num_round;
  }

  TrainResult result;
  result.rounds = start;
  double best_score = 0;
  int best_iteration = -1;
  auto evaluate = [&](int i, std::string* line) -> Status {
    const char* eval = nullptr;
    if (XGBoosterEvalOneIter(bh, i, evals.data(), names.data(), evals.size(), &eval) != 0) {
      return XgbError("evaluating round " + std::to_string(i), StatusCode::kInvalidArgument);
    }
    *line = eval;
    std::fprintf(log, "%s\n", FormatEvalLine(*line).c_str());
    std::fflush(log);
    return OkStatus();
  };
  if (start == options.num_round && start > 0) {
    // Nothing left to train: report the restored model's metrics.
    std::string line;
    RETURN_IF_ERROR(evaluate(start - 1, &line));
  }
  for (int i = start; i < options.num_round; ++i) {
    if (XGBoosterUpdateOneIter(bh, i, dtrain.get()) != 0) {
      // Parameters are checked lazily, on the first round.
      return XgbError(i == start ? "XGBoost rejected the hyperparameters or data"
                                 : "training round " + std::to_string(i),
                      StatusCode::kInvalidArgument);
    }
    std::string line;
    RETURN_IF_ERROR(evaluate(i, &line));
    result.rounds = i + 1;
    if (!checkpoint.empty() && (i + 1 - start) % options.checkpoint_interval == 0 &&
        i + 1 < options.num_round) {
      ASSIGN_OR_RETURN(std::string model, ModelJson(bh));
      RETURN_IF_ERROR(SaveCheckpoint(model, options.checkpoint_dir));
    }
    if (options.early_stopping_rounds > 0) {
      std::string metric;
      double value = 0;
      if (!LastMetric(line, &metric, &value)) {
        return InternalError("cannot read the metric from '" + line + "'");
      }
      bool better = Maximize(metric) ? value > best_score : value < best_score;
      if (best_iteration < 0 || better) {
        best_score = value;
        best_iteration = i;
      } else if (i - best_iteration >= options.early_stopping_rounds) {
        std::fprintf(log, "Stopping. Best iteration: [%d] validation-%s:%.5f\n", best_iteration,
                     metric.c_str(), best_score);
        std::fflush(log);
        break;
      }
    }
  }
  // The checkpoint holds every round trained (not cut back to the best one).
  // Nothing trained (the checkpoint had the rounds asked for, or more): it
  // stays as it is, so a longer checkpoint is not cut back.
  // The final model is the checkpoint's booster unless early stopping changes it below.
  std::string model_json;
  if (!checkpoint.empty() && result.rounds > start) {
    ASSIGN_OR_RETURN(model_json, ModelJson(bh));
    RETURN_IF_ERROR(SaveCheckpoint(model_json, options.checkpoint_dir));
  }
  if (best_iteration >= 0) {
    model_json.clear();
    result.best_iteration = best_iteration;
    if (best_iteration + 1 < result.rounds) {
      BoosterHandle sliced = nullptr;
      if (XGBoosterSlice(bh, 0, best_iteration + 1, 1, &sliced) != 0) {
        return XgbError("cutting the model back to its best round");
      }
      booster.reset(sliced);
      bh = sliced;
      result.rounds = best_iteration + 1;
    }
    XGBoosterSetAttr(bh, "best_iteration", std::to_string(best_iteration).c_str());
    XGBoosterSetAttr(bh, "best_score", FloatText(static_cast<float>(best_score)).c_str());
  }

  std::error_code ec;
  std::filesystem::create_directories(model_dir, ec);
  if (ec) return InternalError("cannot create model directory " + model_dir + ": " + ec.message());
  if (model_json.empty()) {
    ASSIGN_OR_RETURN(model_json, ModelJson(bh));
  }
  RETURN_IF_ERROR(WriteText(model_dir + "/model.json", model_json));

  // Self test rows (from validation, else train): up to a quarter with
  // missing values, so serving checks that path too, the rest evenly spaced
  // over the complete rows; in data order.
  const Dataset& sample = validation ? *validation : train;
  const size_t width = sample.num_features;
  std::vector<size_t> with_missing, complete;
  for (size_t i = 0; i < sample.num_rows; ++i) {
    const float* row = sample.Row(i);
    (std::any_of(row, row + width, [](float v) { return std::isnan(v); }) ? with_missing : complete)
        .push_back(i);
  }
  const size_t n = std::min<size_t>(options.self_test_rows, sample.num_rows);
  const size_t m = std::min(with_missing.size(),
                            std::max(n > complete.size() ? n - complete.size() : 0, (n + 3) / 4));
  std::vector<size_t> picked(with_missing.begin(), with_missing.begin() + m);
  for (size_t k = 0, c = n - m; k < c; ++k) {
    picked.push_back(complete[c == 1 ? 0 : k * (complete.size() - 1) / (c - 1)]);
  }
  std::sort(picked.begin(), picked.end());
  std::vector<float> rows;
  rows.reserve(n * width);
  for (size_t idx : picked) rows.insert(rows.end(), sample.Row(idx), sample.Row(idx) + width);
  size_t per_row = 1;
  std::string jsonl;
  if (n > 0) {
    ASSIGN_OR_RETURN(DMatrix dsample, MakeDMatrix(rows.data(), n, width, nullptr, options.nthread));
    bst_ulong len = 0;
    const float* preds = nullptr;
    if (XGBoosterPredict(bh, dsample.get(), 0, 0, 0, &len, &preds) != 0) {
      return XgbError("predicting the self-test rows");
    }
    per_row = len / n;
    for (size_t k = 0; k < n; ++k) {
      jsonl += "{\"input\":[";
      for (size_t j = 0; j < width; ++j) {
        float v = rows[k * width + j];
        if (j > 0) jsonl += ',';
        jsonl += std::isnan(v) ? "null" : FloatText(v);
      }
      jsonl += "],\"output\":[";
      for (size_t j = 0; j < per_row; ++j) {
        if (j > 0) jsonl += ',';
        jsonl += FloatText(preds[k * per_row + j]);
      }
      jsonl += "],\"tolerance\":1e-6}\n";
    }
  }
  RETURN_IF_ERROR(WriteText(model_dir + "/self_test.jsonl", jsonl));
  result.self_test_rows = n;
  result.outputs_per_row = per_row;

  int major = 0, minor = 0, patch = 0;
  XGBoostVersion(&major, &minor, &patch);
  const int64_t features = static_cast<int64_t>(width);
  Json meta = {
      {"flavor", "xgboost"},
      {"model_file", "model.json"},
      {"objective", options.objective},
      {"num_features", features},
      {"xgboost_version",
       std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(patch)},
      {"signature",
       {{"inputs",
         Json::array(
             {{{"name", "input"}, {"datatype", "FP32"}, {"shape", Json::array({-1, features})}}})},
        {"outputs", Json::array({{{"name", "output"},
                                  {"datatype", "FP32"},
                                  {"shape", Json::array({-1, static_cast<int64_t>(per_row)})}}})}}},
      {"self_test", "self_test.jsonl"},
  };
  RETURN_IF_ERROR(WriteText(model_dir + "/tandem-model.yaml", ToYaml(meta)));
  return result;
}

}  // namespace tandem::train_xgboost
