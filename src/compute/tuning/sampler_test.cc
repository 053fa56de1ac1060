#include "compute/tuning/sampler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>

#include "compute/tuning/tpe.h"

namespace tandem::compute::tuning {
namespace {

ParameterRange Cont(std::string name, double lo, double hi, Scaling s = Scaling::kLinear) {
  ParameterRange r;
  r.name = std::move(name);
  r.type = ParamType::kContinuous;
  r.min = lo;
  r.max = hi;
  r.scaling = s;
  return r;
}

ParameterRange Int(std::string name, int64_t lo, int64_t hi, Scaling s = Scaling::kLinear) {
  ParameterRange r = Cont(std::move(name), lo, hi, s);
  r.type = ParamType::kInteger;
  return r;
}

ParameterRange Cat(std::string name, std::vector<Json> values) {
  ParameterRange r;
  r.name = std::move(name);
  r.type = ParamType::kCategorical;
  r.values = std::move(values);
  return r;
}

std::vector<ParameterRange> Space() {
  return {Cont("lin", -2, 3),
          Cont("log", 1e-4, 1, Scaling::kLogarithmic),
          Cont("rev", 0.9, 0.9999, Scaling::kReverseLogarithmic),
          Int("depth", 2, 6),
          Int("logint", 1, 1000, Scaling::kLogarithmic),
          Cat("booster", {"gbtree", "dart", 3})};
}

void ExpectInRange(const std::vector<ParameterRange>& space, const Params& p) {
  ASSERT_EQ(p.size(), space.size());
  for (const auto& r : space) {
    const Json& v = p.at(r.name);
    if (r.type == ParamType::kCategorical) {
      EXPECT_NE(std::find(r.values.begin(), r.values.end(), v), r.values.end()) << v;
      continue;
    }
    ASSERT_TRUE(v.is_number()) << r.name;
    if (r.type == ParamType::kInteger) {
      EXPECT_TRUE(v.is_number_integer()) << r.name;
    }
    EXPECT_GE(v.get<double>(), r.min) << r.name;
    EXPECT_LE(v.get<double>(), r.max) << r.name;
  }
}

TEST(TuningSpaceTest, UnitRoundTrip) {
  for (const auto& r : Space()) {
    for (double u : {0.0, 0.1, 0.5, 0.93, 1.0}) {
      Json v = FromUnit(r, u);
      Json back = FromUnit(r, ToUnit(r, v));
      EXPECT_EQ(back, v) << r.name << " u=" << u;
    }
  }
  EXPECT_EQ(ToUnit(Cat("c", {"a", "b"}), "z"), -1);
}

TEST(RandomSamplerTest, InRangeReproducibleAndScaled) {
  auto space = Space();
  auto a = MakeRandomSampler(space, 11), b = MakeRandomSampler(space, 11),
       c = MakeRandomSampler(space, 12);
  int below_geo_mean = 0, rev_above = 0, differs = 0;
  std::set<Json> depths, boosters;
  const int n = 2000;
  for (int i = 0; i < n; ++i) {
    auto p = a->Suggest(i, {});
    ASSERT_TRUE(p.ok());
    ExpectInRange(space, *p);
    EXPECT_EQ(*p, *b->Suggest(i, {}));
    differs += *p != *c->Suggest(i, {});
    below_geo_mean += p->at("log").get<double>() < 1e-2;  // sqrt(1e-4 * 1)
    rev_above += p->at("rev").get<double>() > 0.999;      // 1 - sqrt(0.1 * 0.0001)... in log(1-x)
    depths.insert(p->at("depth"));
    boosters.insert(p->at("booster"));
  }
  EXPECT_GT(differs, n * 9 / 10);
  // Logarithmic: half the draws below the geometric mean (linear would give 1%).
  EXPECT_NEAR(below_geo_mean, n / 2, n / 20);
  // ReverseLogarithmic on [0.9, 0.9999]: -ln(1-x) uniform on [2.30, 9.21];
  // x > 0.999 <=> -ln(1-x) > 6.91: a third of the draws (linear: 1%).
  EXPECT_NEAR(rev_above, n / 3, n / 20);
  EXPECT_EQ(depths.size(), 5u);
  EXPECT_EQ(boosters.size(), 3u);
}

TEST(GridSamplerTest, EnumeratesCartesianProductThenStops) {
  std::vector<ParameterRange> space = {Int("depth", 2, 4), Cat("booster", {"a", "b"})};
  auto grid = MakeGridSampler(space);
  ASSERT_TRUE(grid.ok());
  EXPECT_EQ(GridSize(space), 6);
  std::set<Params> seen;
  for (int i = 0; i < 6; ++i) {
    auto p = (*grid)->Suggest(i, {});
    ASSERT_TRUE(p.ok());
    ExpectInRange(space, *p);
    seen.insert(*p);
  }
  EXPECT_EQ(seen.size(), 6u);
  EXPECT_EQ((*(*grid)->Suggest(0, {}))["booster"], "a");
  EXPECT_EQ((*(*grid)->Suggest(1, {}))["booster"], "b");
  auto done = (*grid)->Suggest(6, {});
  EXPECT_EQ(done.status().code(), StatusCode::kOutOfRange);
}

TEST(GridSamplerTest, RefusesContinuousAndHugeGrids) {
  auto cont = MakeGridSampler({Int("a", 1, 3), Cont("x", 0, 1)});
  ASSERT_FALSE(cont.ok());
  EXPECT_NE(std::string(cont.status().message()).find("'x' is Continuous"), std::string::npos);
  auto huge = MakeGridSampler({Int("a", 1, 1000), Int("b", 1, 1000)}, 10'000);
  ASSERT_FALSE(huge.ok());
  EXPECT_NE(std::string(huge.status().message()).find("range 'b'"), std::string::npos);
}

TEST(TpeSamplerTest, InRangeAndReproducibleWithHistory) {
  auto space = Space();
  auto a = MakeTpeSampler(space, 3), b = MakeTpeSampler(space, 3);
  std::vector<Observation> hist;
  for (int i = 0; i < 40; ++i) {
    auto p = a->Suggest(i, hist);
    ASSERT_TRUE(p.ok());
    ExpectInRange(space, *p);
    EXPECT_EQ(*p, *b->Suggest(i, hist)) << i;
    double loss = std::pow(std::log10(p->at("log").get<double>()) + 2, 2) +
                  (p->at("booster") == "dart" ? 0 : 1);
    hist.push_back({*p, loss});
  }
  // TPE exploits: the last 20 suggestions favour the good category.
  int dart = 0;
  for (int i = 20; i < 40; ++i) dart += hist[i].params.at("booster") == "dart";
  EXPECT_GE(dart, 12);
}

double Quadratic(const Params& p) {
  double x = p.at("x").get<double>(), y = p.at("y").get<double>();
  double z = std::log10(p.at("lr").get<double>());
  return (x - 0.3) * (x - 0.3) + (y + 1.2) * (y + 1.2) + (z + 2.5) * (z + 2.5);
}

double BestOf(Sampler& s, int trials) {
  std::vector<Observation> hist;
  double best = std::numeric_limits<double>::infinity();
  for (int i = 0; i < trials; ++i) {
    auto p = s.Suggest(i, hist);
    EXPECT_TRUE(p.ok());
    double loss = Quadratic(*p);
    best = std::min(best, loss);
    hist.push_back({*p, loss});
  }
  return best;
}

TEST(TpeSamplerTest, BeatsRandomOnAQuadraticOverSeeds) {
  std::vector<ParameterRange> space = {Cont("x", -5, 5), Cont("y", -5, 5),
                                       Cont("lr", 1e-5, 1, Scaling::kLogarithmic)};
  int tpe_wins = 0;
  const int seeds = 20;
  for (uint64_t seed = 1; seed <= seeds; ++seed) {
    auto tpe = MakeTpeSampler(space, seed);
    auto rnd = MakeRandomSampler(space, seed);
    tpe_wins += BestOf(*tpe, 60) < BestOf(*rnd, 60);
  }
  EXPECT_GE(tpe_wins, 15) << "TPE won on " << tpe_wins << " of " << seeds << " seeds";
}

TEST(TpeSamplerTest, MultivariateBeatsRandomOnAQuadraticOverSeeds) {
  std::vector<ParameterRange> space = {Cont("x", -5, 5), Cont("y", -5, 5),
                                       Cont("lr", 1e-5, 1, Scaling::kLogarithmic)};
  int tpe_wins = 0;
  const int seeds = 20;
  for (uint64_t seed = 1; seed <= seeds; ++seed) {
    auto tpe = MakeTpeSampler(space, seed, {.multivariate = true});
    auto rnd = MakeRandomSampler(space, seed);
    tpe_wins += BestOf(*tpe, 60) < BestOf(*rnd, 60);
  }
  EXPECT_GE(tpe_wins, 15) << "TPE won on " << tpe_wins << " of " << seeds << " seeds";
}

TEST(TpeSamplerTest, MultivariateInRangeAndReproducible) {
  auto space = Space();
  TpeOptions o{.startup_trials = 5, .multivariate = true};
  auto a = MakeTpeSampler(space, 9, o), b = MakeTpeSampler(space, 9, o);
  auto c = MakeTpeSampler(space, 10, o);
  std::vector<Observation> hist;
  bool differs = false;
  for (int i = 0; i < 30; ++i) {
    auto p = a->Suggest(i, hist);
    ASSERT_TRUE(p.ok());
    ExpectInRange(space, *p);
    EXPECT_EQ(*p, *b->Suggest(i, hist)) << i;
    differs |= *p != *c->Suggest(i, hist);
    hist.push_back({*p, std::abs(p->at("lin").get<double>() - 1)});
  }
  EXPECT_TRUE(differs) << "another seed must give other suggestions";
}

// On a 1-D function the suggestions after the startup trials concentrate
// near the optimum: their median distance to it is a fraction of random
// search's (uniform on [0, 1] with the optimum at 0.7: median distance 0.25).
TEST(TpeSamplerTest, ConcentratesNearTheOptimumOfA1DFunction) {
  for (bool multivariate : {false, true}) {
    std::vector<ParameterRange> space = {Cont("x", 0, 1)};
    for (uint64_t seed = 1; seed <= 5; ++seed) {
      auto tpe = MakeTpeSampler(space, seed, {.multivariate = multivariate});
      std::vector<Observation> hist;
      std::vector<double> late;
      for (int i = 0; i < 60; ++i) {
        auto p = tpe->Suggest(i, hist);
        ASSERT_TRUE(p.ok());
        double x = p->at("x").get<double>();
        hist.push_back({*p, (x - 0.7) * (x - 0.7)});
        if (i >= 30) late.push_back(std::abs(x - 0.7));
      }
      std::sort(late.begin(), late.end());
      EXPECT_LT(late[late.size() / 2], 0.1)
          << "seed " << seed << (multivariate ? " multivariate" : " independent");
    }
  }
}

// Failed trials (+inf) are not observations: a history of failures alone
// gives the same suggestion as no history.
TEST(TpeSamplerTest, IgnoresFailedTrials) {
  auto space = Space();
  auto tpe = MakeTpeSampler(space, 4, {.startup_trials = 1});
  std::vector<Observation> failed;
  for (int i = 0; i < 5; ++i) {
    failed.push_back({*tpe->Suggest(i, {}), std::numeric_limits<double>::infinity()});
  }
  EXPECT_EQ(*tpe->Suggest(7, failed), *tpe->Suggest(7, {}));
}

// min_good: the good density covers at least that many of the best results.
// The single best result is at x = 0.1, the next four near x = 0.9, the rest
// (worse) near 0.5: with one good point the suggestions stay near 0.1, with
// five (BOHB's parameters + 1 rule) they also go near 0.9.
TEST(TpeSamplerTest, MinGoodWidensTheGoodSet) {
  std::vector<ParameterRange> space = {Cont("x", 0, 1)};
  std::vector<Observation> hist = {{{{"x", 0.1}}, 0.0}};
  for (int i = 0; i < 4; ++i) hist.push_back({{{"x", 0.88 + 0.01 * i}}, 1.0 + 0.1 * i});
  for (int i = 0; i < 15; ++i) hist.push_back({{{"x", 0.4 + 0.01 * i}}, 5.0 + i});
  auto near_09 = [&](int min_good) {
    auto tpe = MakeTpeSampler(
        space, 3, {.startup_trials = 0, .gamma = 0.05, .min_good = min_good, .multivariate = true});
    int n = 0;
    for (int i = 0; i < 40; ++i) n += tpe->Suggest(i, hist)->at("x").get<double>() > 0.75;
    return n;
  };
  EXPECT_LE(near_09(1), 4);
  EXPECT_GE(near_09(5), 12);
}

// The median distance to `centre` of 200 suggestions of a TPE with one
// candidate (no scoring: a draw from l(x)) over `hist`, 1-D in [0, 1].
double MedianDrawDistance(TpeOptions o, const std::vector<Observation>& hist, double centre) {
  o.startup_trials = 0;
  o.candidates = 1;
  auto tpe = MakeTpeSampler({Cont("x", 0, 1)}, 5, o);
  std::vector<double> d;
  for (int i = 0; i < 200; ++i) {
    d.push_back(std::abs(tpe->Suggest(i, hist)->at("x").get<double>() - centre));
  }
  std::sort(d.begin(), d.end());
  return d[d.size() / 2];
}

// 20 good results at `good` (20 worse ones spread over [0, 1)).
std::vector<Observation> TwentyGoodAt(const std::vector<double>& good) {
  std::vector<Observation> hist;
  for (int i = 0; i < 20; ++i) hist.push_back({{{"x", good[i % good.size()]}}, 0.0});
  for (int i = 0; i < 20; ++i) hist.push_back({{{"x", 0.05 * i}}, 1.0 + i});
  return hist;
}

// bandwidth_factor widens the draws from l(x): they spread about three times
// as far from the good points (all at 0.5: Scott's bandwidth 0.11) with
// factor 3 as with 1.
TEST(TpeSamplerTest, BandwidthFactorWidensTheCandidates) {
  auto hist = TwentyGoodAt({0.5});
  double narrow = MedianDrawDistance({.gamma = 0.5, .multivariate = true}, hist, 0.5);
  double wide =
      MedianDrawDistance({.gamma = 0.5, .multivariate = true, .bandwidth_factor = 3}, hist, 0.5);
  EXPECT_GT(wide, 2 * narrow) << narrow << " " << wide;
}

// normal_reference: the bandwidth follows the good points' spread (here
// 0.49-0.51, standard deviation ~0.007), where Scott's rule keeps 0.11.
TEST(TpeSamplerTest, NormalReferenceBandwidthFollowsTheSpread) {
  auto hist = TwentyGoodAt({0.49, 0.495, 0.5, 0.505, 0.51});
  double scott = MedianDrawDistance({.gamma = 0.5, .multivariate = true}, hist, 0.5);
  double reference =
      MedianDrawDistance({.gamma = 0.5, .multivariate = true, .normal_reference = true}, hist, 0.5);
  EXPECT_LT(reference, 0.3 * scott) << scott << " " << reference;
  EXPECT_GT(scott, 0.04);
}

}  // namespace
}  // namespace tandem::compute::tuning
