// hpo_bench: tandem's tuning strategies driven in-process (no control plane:
// the samplers and ASHA from src/compute/tuning_*, each trial a fork/exec of
// the native XGBoost trainer, tools/train_xgboost, under the SageMaker
// contract's environment variables). Prints one JSON line per (strategy,
// seed): the best validation logloss reached and the trials' total
// CPU-seconds (user + system, from wait4), and the anytime curve
// ("trajectory": after each trial, the CPU-seconds so far and the best loss so
// far), from which run.sh reads the CPU at which a run first reaches a loss.
//
// Hyperband resumes as the tuning service makes it: every configuration has
// its own checkpoint directory (the service's per-configuration checkpoint
// prefix, restored into /opt/ml/checkpoints), so a promotion from r to eta*r
// rounds loads the saved booster and trains only the difference
// (`--resume 0` retrains from scratch, as before checkpoints).
//
// `--resource rows` makes Hyperband's fidelity the training rows instead of
// the rounds (every rung max-rounds rounds on rung/max of the rows, the
// trainer's train_fraction), `--resource both` both at once; `--bohb-init N`
// sets BOHB's Latin-hypercube initial design (0 = off); `--bohb-min-good 0
// --bohb-bandwidth-factor 3` is BOHB's model as in the paper (good set of at
// least parameters + 1 results, candidates drawn from l(x) 3 times as wide;
// `--bohb-normal-reference 1` adds its KDE bandwidths).
//
//   hpo_bench --trainer PATH --data DIR --strategy random|tpe|hyperband
//             --seeds 1,2,3 --budget 24 --max-rounds 81 --min-rounds 3 [--resume 1]
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <limits>
#include <map>
#include <optional>
#include <regex>
#include <string>
#include <vector>

#include "common/json.h"
#include "compute/tuning/asha.h"
#include "compute/tuning/bohb.h"
#include "compute/tuning/curve.h"
#include "compute/tuning/sampler.h"
#include "compute/tuning/tpe.h"

namespace tandem::bench {
namespace {

using compute::tuning::Observation;
using compute::tuning::ParameterRange;
using compute::tuning::Params;
using compute::tuning::ParamType;
using compute::tuning::Scaling;

ParameterRange Range(std::string name, ParamType type, double lo, double hi, Scaling s) {
  ParameterRange r;
  r.name = std::move(name);
  r.type = type;
  r.min = lo;
  r.max = hi;
  r.scaling = s;
  return r;
}

// The search space, shared with optuna_baseline.py.
std::vector<ParameterRange> Space() {
  return {Range("eta", ParamType::kContinuous, 0.01, 0.5, Scaling::kLogarithmic),
          Range("max_depth", ParamType::kInteger, 2, 10, Scaling::kLinear),
          Range("min_child_weight", ParamType::kContinuous, 0.1, 20, Scaling::kLogarithmic),
          Range("subsample", ParamType::kContinuous, 0.5, 1.0, Scaling::kLinear),
          Range("lambda", ParamType::kContinuous, 0.001, 10, Scaling::kLogarithmic)};
}

struct TrialResult {
  double loss = std::numeric_limits<double>::infinity();
  double cpu_seconds = 0;
  std::vector<double> curve;  // validation logloss after each round it trained
};

std::string Render(const nlohmann::json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_float()) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.10g", v.get<double>());
    return buf;
  }
  return v.dump();
}

// Runs the trainer with `params` and num_round = rounds; returns the last
// validation logloss it printed and its CPU time.
// fraction < 1: train_fraction (the rows fidelity).
TrialResult RunTrial(const std::string& trainer, const std::string& data, const std::string& work,
                     const Params& params, int64_t rounds, const std::string& checkpoint_dir = "",
                     double fraction = 1) {
  std::filesystem::remove_all(work);
  std::filesystem::create_directories(work + "/model");
  std::filesystem::create_directories(work + "/output");
  std::vector<std::string> args = {trainer,
                                   "--num_round",
                                   std::to_string(rounds),
                                   "--eval_metric",
                                   "logloss",
                                   "--nthread",
                                   "1",
                                   "--self_test_rows",
                                   "0"};
  if (fraction < 1) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.10g", fraction);
    args.insert(args.end(), {"--train_fraction", buf});
  }
  for (const auto& [k, v] : params) {
    args.push_back("--" + k);
    args.push_back(Render(v));
  }
  int fds[2];
  if (pipe(fds) != 0) return {};
  pid_t pid = fork();
  if (pid == 0) {
    dup2(fds[1], 1);
    dup2(fds[1], 2);
    close(fds[0]);
    setenv("SM_CHANNEL_TRAIN", (data + "/train.csv").c_str(), 1);
    setenv("SM_CHANNEL_VALIDATION", (data + "/validation.csv").c_str(), 1);
    setenv("SM_MODEL_DIR", (work + "/model").c_str(), 1);
    setenv("SM_OUTPUT_DIR", (work + "/output").c_str(), 1);
    setenv("SM_INPUT_CONFIG_DIR", work.c_str(), 1);
    if (!checkpoint_dir.empty()) setenv("TANDEM_CHECKPOINT_DIR", checkpoint_dir.c_str(), 1);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  close(fds[1]);
  std::string out;
  char buf[65536];
  ssize_t n;
  while ((n = read(fds[0], buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  close(fds[0]);
  int status = 0;
  struct rusage ru {};
  wait4(pid, &status, 0, &ru);
  TrialResult r;
  r.cpu_seconds = ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec +
                  ru.ru_stime.tv_usec / 1e6;
  static const std::regex kLoss("validation-logloss:([-+0-9.eE]+)");
  for (auto it = std::sregex_iterator(out.begin(), out.end(), kLoss); it != std::sregex_iterator();
       ++it) {
    r.loss = std::stod((*it)[1].str());
    r.curve.push_back(r.loss);
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::cerr << "trial failed: " << out.substr(0, 500) << "\n";
    r.loss = std::numeric_limits<double>::infinity();
  }
  return r;
}

struct Options {
  std::string trainer, data, strategy = "tpe", work = "/tmp/hpo-bench";
  std::vector<uint64_t> seeds = {1, 2, 3};
  int budget = 24;
  int64_t max_rounds = 81, min_rounds = 3;
  int eta = 3;
  bool resume = true;  // Hyperband: promotions continue from the configuration's checkpoint
  // Hyperband's new configurations: "bohb" (compute/tuning/bohb.h, the tuning
  // service's default), "random" (ASHA) or "tpe" (Optuna-style TPE over the
  // results of the highest rung with at least 10 of them).
  std::string hb_sampler = "bohb";
  // --hb-sampler bohb: compute/tuning/bohb.h (defaults there unless set).
  double bohb_random = -1, bohb_gamma = -1, bohb_bw_factor = -1;
  int bohb_min_points = -1, bohb_multivariate = -1, bohb_pool = -1, bohb_init = -1;
  int bohb_min_good = -1, bohb_normal_ref = -1;
  int tpe_multivariate = 0;  // --strategy tpe: Optuna's multivariate TPE
  bool trace = false;        // Hyperband: each trial on stderr
  int min_results = 0;       // Hyperband: results a rung needs before it promotes (0 = eta)
  // Hyperband: rank a rung's results for promotion by the loss their curve
  // extrapolates to at max_rounds (compute/tuning/curve.h), not the last loss.
  bool extrapolate = false;
  int brackets = 1;   // Hyperband: asynchronous brackets (1 = one ASHA from min_rounds)
  // Hyperband's resource: "rounds" (a rung of r trains r rounds) or "rows" (a
  // rung of r trains max_rounds rounds on r / max_rounds of the training rows,
  // the trainer's train_fraction; no resume across rungs) or "both" (a rung of
  // r trains sqrt(r / max_rounds) of the rows for sqrt(r / max_rounds) of
  // max_rounds rounds, rounded; no resume).
  std::string resource = "rounds";
  std::string label;  // the "strategy" printed ("" = derived from the options)
};

nlohmann::json RunOne(const Options& o, uint64_t seed) {
  auto space = Space();
  std::string work = o.work + "/" + o.strategy + "-" + std::to_string(seed);
  double best = std::numeric_limits<double>::infinity(), cpu = 0;
  Params best_params;
  int64_t best_rounds = 0;
  std::vector<int> jobs_by_rung;  // Hyperband: trials run at each rung
  int64_t rounds_total = 0;
  // The anytime curve: after each trial, (CPU-seconds so far, best so far).
  nlohmann::json trajectory = nlohmann::json::array();
  if (o.strategy == "hyperband") {
    // Asynchronous Hyperband: bracket b is an ASHA from min_rounds * eta^b;
    // new configurations go to the brackets in turn (--brackets 1: ASHA).
    std::vector<compute::tuning::Asha> brackets;
    for (int b = 0; b < std::max(1, o.brackets); ++b) {
      int64_t lo = o.min_rounds;
      for (int i = 0; i < b; ++i) lo *= o.eta;
      if (b > 0 && lo > o.max_rounds) break;
      brackets.emplace_back(std::min(lo, o.max_rounds), o.max_rounds, o.eta, o.min_results);
    }
    const compute::tuning::Asha& asha = brackets.front();
    auto sampler = o.hb_sampler == "tpe" ? compute::tuning::MakeTpeSampler(space, seed)
                                         : compute::tuning::MakeRandomSampler(space, seed);
    compute::tuning::BohbOptions bo;
    if (o.bohb_random >= 0) bo.random_fraction = o.bohb_random;
    if (o.bohb_gamma >= 0) bo.tpe.gamma = o.bohb_gamma;
    if (o.bohb_min_points >= 0) bo.min_points = o.bohb_min_points;
    if (o.bohb_min_good >= 0) bo.tpe.min_good = o.bohb_min_good;
    if (o.bohb_bw_factor >= 0) bo.tpe.bandwidth_factor = o.bohb_bw_factor;
    if (o.bohb_normal_ref >= 0) bo.tpe.normal_reference = o.bohb_normal_ref != 0;
    if (o.bohb_multivariate >= 0) bo.tpe.multivariate = o.bohb_multivariate != 0;
    if (o.bohb_pool >= 0) bo.pool_rungs = o.bohb_pool != 0;
    if (o.bohb_init >= 0) bo.initial_design = o.bohb_init;
    compute::tuning::BohbSampler bohb(space, seed, bo);
    // Results by the first bracket's rungs (bracket b's rung k is rung b + k).
    std::vector<std::vector<Observation>> by_rung(static_cast<size_t>(asha.num_rungs()));
    std::map<int64_t, Params> configs;
    std::map<int64_t, size_t> bracket_of;
    std::map<int64_t, int> model_rung;  // BOHB: the rung that modelled a configuration (-1: random)
    int64_t next = 0;
    for (int i = 0; i < o.budget; ++i) {
      std::optional<compute::tuning::Promotion> p;
      size_t b = 0;
      for (; b < brackets.size() && !p; ++b) p = brackets[b].NextPromotion();
      if (p) {
        b = bracket_of[p->config];
      } else {
        b = static_cast<size_t>(next) % brackets.size();
      }
      int64_t config = p ? p->config : next++;
      bracket_of[config] = b;
      int local = p ? p->rung : 0;
      int rung = static_cast<int>(b) + local;
      if (!p && o.hb_sampler == "bohb") {
        model_rung[config] = bohb.ModelRung(config, by_rung);
        configs[config] = *bohb.Suggest(config, by_rung);
      } else if (!p) {
        std::vector<Observation> history;
        for (const auto& obs : by_rung) {
          if (obs.size() >= 10) history = obs;  // the highest rung with enough results
        }
        configs[config] = *sampler->Suggest(config, history);
      }
      const bool rows = o.resource != "rounds";
      const double share =
          static_cast<double>(brackets[b].resource(local)) / static_cast<double>(o.max_rounds);
      int64_t rounds = o.resource == "rows"   ? o.max_rounds
                       : o.resource == "both" ? std::max<int64_t>(1, std::llround(
                                                                        std::sqrt(share) *
                                                                        static_cast<double>(
                                                                            o.max_rounds)))
                                              : brackets[b].resource(local);
      double fraction = o.resource == "rows"   ? share
                        : o.resource == "both" ? std::sqrt(share)
                                               : 1.0;
      if (jobs_by_rung.size() <= static_cast<size_t>(rung)) jobs_by_rung.resize(rung + 1);
      ++jobs_by_rung[static_cast<size_t>(rung)];
      std::string ckpt =
          o.resume && !rows ? work + "-checkpoints/config-" + std::to_string(config)
                            : std::string();
      TrialResult r = RunTrial(o.trainer, o.data, work, configs[config], rounds, ckpt, fraction);
      if (o.trace) {
        std::cerr << "seed " << seed << " job " << i << " config " << config << " rung " << rung
                  << " loss " << r.loss << " cpu " << r.cpu_seconds << " model "
                  << (model_rung.count(config) ? model_rung[config] : -1) << " "
                  << nlohmann::json(configs[config]).dump() << "\n";
      }
      brackets[b].Report(
          config, local,
          o.extrapolate && !rows && local < brackets[b].top_rung() && std::isfinite(r.loss)
              ? compute::tuning::ExtrapolateLoss(
                    r.curve, o.max_rounds - rounds + static_cast<int64_t>(r.curve.size()))
              : r.loss);
      if (std::isfinite(r.loss) && static_cast<size_t>(rung) < by_rung.size())
        by_rung[static_cast<size_t>(rung)].push_back({configs[config], r.loss});
      cpu += r.cpu_seconds;
      // Rounds trained: a resumed promotion trains only beyond the last rung.
      // (rows: the rounds, whatever the rows.)
      rounds_total +=
          rounds - (o.resume && !rows && local > 0 ? brackets[b].resource(local - 1) : 0);
      if (r.loss < best) best = r.loss, best_params = configs[config], best_rounds = rounds;
      trajectory.push_back({cpu, best});
    }
  } else {
    compute::tuning::TpeOptions to;
    to.multivariate = o.tpe_multivariate != 0;
    auto sampler = o.strategy == "random" ? compute::tuning::MakeRandomSampler(space, seed)
                                          : compute::tuning::MakeTpeSampler(space, seed, to);
    std::vector<Observation> hist;
    for (int i = 0; i < o.budget; ++i) {
      Params p = *sampler->Suggest(i, hist);
      TrialResult r = RunTrial(o.trainer, o.data, work, p, o.max_rounds);
      hist.push_back({p, r.loss});
      cpu += r.cpu_seconds;
      rounds_total += o.max_rounds;
      if (r.loss < best) best = r.loss, best_params = p, best_rounds = o.max_rounds;
      trajectory.push_back({cpu, best});
    }
  }
  std::filesystem::remove_all(work);
  std::filesystem::remove_all(work + "-checkpoints");
  std::string strategy = o.strategy;
  if (o.strategy == "hyperband" && o.hb_sampler != "random") strategy += "-" + o.hb_sampler;
  if (o.strategy == "hyperband" && !o.resume) strategy += "-noresume";
  if (!o.label.empty()) strategy = o.label;
  return {{"tool", "tandem"},
          {"strategy", strategy},
          {"seed", seed},
          {"trials", o.budget},
          {"best", best},
          {"cpu_seconds", cpu},
          {"boosting_rounds", rounds_total},
          {"best_params", best_params},
          {"best_at_rounds", best_rounds},
          {"jobs_by_rung", jobs_by_rung},
          {"trajectory", trajectory}};
}

int Main(int argc, char** argv) {
  Options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    if (k == "--trainer")
      o.trainer = v;
    else if (k == "--data")
      o.data = v;
    else if (k == "--strategy")
      o.strategy = v;
    else if (k == "--budget")
      o.budget = std::stoi(v);
    else if (k == "--max-rounds")
      o.max_rounds = std::stoll(v);
    else if (k == "--min-rounds")
      o.min_rounds = std::stoll(v);
    else if (k == "--eta")
      o.eta = std::stoi(v);
    else if (k == "--work")
      o.work = v;
    else if (k == "--label")
      o.label = v;
    else if (k == "--hb-sampler")
      o.hb_sampler = v;
    else if (k == "--bohb-random")
      o.bohb_random = std::stod(v);
    else if (k == "--bohb-gamma")
      o.bohb_gamma = std::stod(v);
    else if (k == "--bohb-min-points")
      o.bohb_min_points = std::stoi(v);
    else if (k == "--bohb-bandwidth-factor")
      o.bohb_bw_factor = std::stod(v);
    else if (k == "--bohb-normal-reference")
      o.bohb_normal_ref = std::stoi(v);
    else if (k == "--bohb-min-good")
      o.bohb_min_good = std::stoi(v);
    else if (k == "--bohb-multivariate")
      o.bohb_multivariate = std::stoi(v);
    else if (k == "--bohb-pool")
      o.bohb_pool = std::stoi(v);
    else if (k == "--bohb-init")
      o.bohb_init = std::stoi(v);
    else if (k == "--min-results")
      o.min_results = std::stoi(v);
    else if (k == "--tpe-multivariate")
      o.tpe_multivariate = std::stoi(v);
    else if (k == "--trace")
      o.trace = v != "0";
    else if (k == "--brackets")
      o.brackets = std::stoi(v);
    else if (k == "--resource")
      o.resource = v;
    else if (k == "--extrapolate")
      o.extrapolate = v != "0";
    else if (k == "--resume")
      o.resume = v != "0";
    else if (k == "--seeds") {
      o.seeds.clear();
      for (size_t at = 0; at < v.size();) {
        size_t comma = v.find(',', at);
        o.seeds.push_back(std::stoull(v.substr(at, comma - at)));
        at = comma == std::string::npos ? v.size() : comma + 1;
      }
    } else {
      std::cerr << "unknown option " << k << "\n";
      return 2;
    }
  }
  if (o.trainer.empty() || o.data.empty() || (o.resource != "rounds" && o.resource != "rows" && o.resource != "both")) {
    std::cerr << "usage: hpo_bench --trainer PATH --data DIR [--strategy random|tpe|hyperband] "
                 "[--seeds 1,2,3] [--budget N] [--max-rounds R] [--min-rounds r] [--eta 3] "
                 "[--resume 0|1] [--hb-sampler random|tpe|bohb] [--bohb-random F] [--bohb-gamma G] "
                 "[--bohb-min-points N] [--bohb-min-good N] [--bohb-bandwidth-factor F] "
                 "[--bohb-normal-reference 0|1] [--bohb-multivariate 0|1] [--bohb-pool 0|1] "
                 "[--bohb-init N] [--trace 0|1] "
                 "[--tpe-multivariate 0|1] [--extrapolate 0|1] [--brackets N] [--resource rounds|rows|both] "
                 "[--label NAME]\n";
    return 2;
  }
  for (uint64_t seed : o.seeds) std::cout << RunOne(o, seed).dump() << std::endl;
  return 0;
}

}  // namespace
}  // namespace tandem::bench

int main(int argc, char** argv) { return tandem::bench::Main(argc, argv); }
