// Asynchronous successive halving (ASHA, Li et al. 2020), the scheduler
// behind strategy Hyperband. Configurations run at rung resources
//   r_k = min_resource * eta^k  (k < K),  r_K = max_resource,
//   K = floor(log_eta(max_resource / min_resource)),
// where the resource is passed to the trial as a hyperparameter (e.g.
// num_round). Whenever a worker is free the scheduler promotes, from the
// highest rung down, a configuration in the top floor(n_k / eta) of the n_k
// results of rung k that was not promoted yet; if there is none, a new
// configuration starts at rung 0. It never waits for a rung to fill.
//
// The state is the list of results and promotions, so it can be rebuilt
// from persisted trials (Report + MarkPromoted). Thread-compatible.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <utility>
#include <vector>

namespace tandem::compute::tuning {

struct Promotion {
  int64_t config = 0;
  int rung = 0;  // the rung to run at (>= 1)
};

class Asha {
 public:
  // `min_results`: a rung promotes only once it has that many results (at
  // least eta, which plain ASHA needs for a top 1/eta of one).
  Asha(int64_t min_resource, int64_t max_resource, int eta, int min_results = 0);

  int num_rungs() const { return static_cast<int>(resources_.size()); }
  int64_t resource(int rung) const { return resources_.at(rung); }
  int top_rung() const { return num_rungs() - 1; }

  // A result of `config` at `rung` (lower loss is better; failures: +inf,
  // never promoted).
  void Report(int64_t config, int rung, double loss);
  // The next promotion, marked as taken; nullopt = start a new configuration.
  std::optional<Promotion> NextPromotion();
  // Records that `config` was promoted out of `rung` (rebuilding state).
  void MarkPromoted(int64_t config, int rung) { promoted_.insert({rung, config}); }

 private:
  int eta_;
  size_t min_results_;
  std::vector<int64_t> resources_;
  std::vector<std::vector<std::pair<double, int64_t>>> results_;  // per rung: (loss, config)
  std::set<std::pair<int, int64_t>> promoted_;                    // (from rung, config)
};

// The median stopping rule (SageMaker's early stopping "Auto", Optuna's
// MedianPruner): a running trial is stopped at step t if its best value so
// far is worse than the median, over completed trials that reached step t,
// of their running averages up to t. Values are losses (lower is better).
struct MedianRuleOptions {
  int min_completed = 3;     // completed trials needed at step t before stopping
  int64_t warmup_steps = 1;  // never stop at steps < warmup_steps
};

class MedianStoppingRule {
 public:
  explicit MedianStoppingRule(MedianRuleOptions options = {}) : o_(options) {}
  // A completed trial's intermediate losses by step.
  void AddCompleted(const std::vector<double>& curve);
  // Judges a running trial at its latest step (curve.size() - 1).
  bool ShouldStop(const std::vector<double>& curve) const;

 private:
  MedianRuleOptions o_;
  std::vector<std::vector<double>> running_avg_;  // per completed trial, by step
};

}  // namespace tandem::compute::tuning
