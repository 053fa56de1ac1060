#include "train_xgboost/hyperparameters.h"

#include <algorithm>
#include <charconv>
#include <fstream>
#include <sstream>
#include <string>

#include "common/json.h"

namespace tandem::train_xgboost {
namespace {

StatusOr<int> ParseInt(const HyperparameterMap& hps, const std::string& key, int fallback, int min,
                       int max) {
  auto it = hps.find(key);
  if (it == hps.end()) return fallback;
  const std::string& s = it->second;
  int v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || ptr != s.data() + s.size() || v < min || v > max) {
    return InvalidArgumentError("hyperparameter " + key + " must be an integer in [" +
                                std::to_string(min) + ", " + std::to_string(max) + "], got '" + s +
                                "'");
  }
  return v;
}

// A number in (min, max]; `fallback` when absent.
StatusOr<double> ParseFraction(const HyperparameterMap& hps, const std::string& key,
                               double fallback) {
  auto it = hps.find(key);
  if (it == hps.end()) return fallback;
  const std::string& s = it->second;
  double v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || ptr != s.data() + s.size() || !(v > 0) || v > 1) {
    return InvalidArgumentError("hyperparameter " + key + " must be a number in (0, 1], got '" +
                                s + "'");
  }
  return v;
}

}  // namespace

StatusOr<HyperparameterMap> ReadHyperparameterFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return HyperparameterMap{};
  std::ostringstream text;
  text << in.rdbuf();
  StatusOr<Json> parsed = ParseJson(text.str());
  if (!parsed.ok()) {
    return InvalidArgumentError(path + ": " + std::string(parsed.status().message()));
  }
  if (!parsed->is_object()) return InvalidArgumentError(path + ": expected a JSON object");
  HyperparameterMap hps;
  for (const auto& [key, value] : parsed->items()) {
    if (value.is_string()) {
      hps[key] = value.get<std::string>();
    } else if (value.is_number() || value.is_boolean()) {
      hps[key] = value.dump();
    } else {
      return InvalidArgumentError(path + ": hyperparameter " + key +
                                  " must be a string, number or boolean");
    }
  }
  return hps;
}

StatusOr<HyperparameterMap> ParseHyperparameterArgs(const std::vector<std::string>& args) {
  HyperparameterMap hps;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    std::string key;
    if (arg.starts_with("--")) {
      key = arg.substr(2);
    } else if (arg.size() == 2 && arg[0] == '-') {
      key = arg.substr(1);
    } else {
      return InvalidArgumentError("unexpected argument '" + arg +
                                  "': hyperparameters are given as --key value");
    }
    size_t eq = key.find('=');
    if (eq != std::string::npos) {
      if (eq == 0) return InvalidArgumentError("argument '" + arg + "' has no key");
      hps[key.substr(0, eq)] = key.substr(eq + 1);
      continue;
    }
    if (key.empty()) return InvalidArgumentError("argument '" + arg + "' has no key");
    if (i + 1 >= args.size()) {
      return InvalidArgumentError("argument '" + arg + "' has no value");
    }
    hps[key] = args[++i];
  }
  return hps;
}

StatusOr<TrainerOptions> MakeTrainerOptions(const HyperparameterMap& hps, int default_nthread) {
  TrainerOptions o;
  ASSIGN_OR_RETURN(o.num_round, ParseInt(hps, "num_round", 100, 1, 1'000'000));
  ASSIGN_OR_RETURN(o.early_stopping_rounds,
                   ParseInt(hps, "early_stopping_rounds", 0, 0, 1'000'000));
  ASSIGN_OR_RETURN(o.self_test_rows, ParseInt(hps, "self_test_rows", 20, 0, 1000));
  ASSIGN_OR_RETURN(o.checkpoint_interval, ParseInt(hps, "checkpoint_interval", 10, 1, 1'000'000));
  ASSIGN_OR_RETURN(o.train_fraction, ParseFraction(hps, "train_fraction", 1.0));
  if (auto it = hps.find("checkpoint_dir"); it != hps.end()) o.checkpoint_dir = it->second;
  if (auto it = hps.find("objective"); it != hps.end()) {
    if (it->second.empty()) return InvalidArgumentError("hyperparameter objective is empty");
    o.objective = it->second;
  }
  o.booster_params.emplace_back("objective", o.objective);
  ASSIGN_OR_RETURN(o.nthread, ParseInt(hps, "nthread", std::max(default_nthread, 0), 0, 4096));
  if (o.nthread > 0 && !hps.contains("nthread")) {
    o.booster_params.emplace_back("nthread", std::to_string(o.nthread));
  }
  for (const auto& [key, value] : hps) {
    if (key == "num_round" || key == "early_stopping_rounds" || key == "self_test_rows" ||
        key == "objective" || key == "checkpoint_dir" || key == "checkpoint_interval" ||
        key == "train_fraction" ||
        key.starts_with("sagemaker_") || key == "_tuning_objective_metric") {
      continue;
    }
    if (key == "eval_metric") {
      std::istringstream metrics(value);
      std::string m;
      while (std::getline(metrics, m, ',')) {
        std::erase(m, ' ');
        if (!m.empty()) o.eval_metrics.push_back(m);
      }
      continue;
    }
    o.booster_params.emplace_back(key, value);
  }
  for (const std::string& m : o.eval_metrics) o.booster_params.emplace_back("eval_metric", m);
  return o;
}

}  // namespace tandem::train_xgboost
