#include "compute/tuning/bohb.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace tandem::compute::tuning {
namespace {

ParameterRange Cont(std::string name, double lo, double hi) {
  ParameterRange r;
  r.name = std::move(name);
  r.type = ParamType::kContinuous;
  r.min = lo;
  r.max = hi;
  return r;
}

std::vector<ParameterRange> Space() { return {Cont("x", 0, 1), Cont("y", 0, 1)}; }

Observation At(double x, double y, double loss) { return {{{"x", x}, {"y", y}}, loss}; }

TEST(BohbSamplerTest, RandomUntilARungHasEnoughResults) {
  BohbSampler bohb(Space(), 1, {.random_fraction = 0, .min_points = 4, .initial_design = 0});
  auto random = MakeRandomSampler(Space(), 1);
  std::vector<std::vector<Observation>> by_rung(3);
  by_rung[0] = {At(0.1, 0.1, 1), At(0.2, 0.2, 2), At(0.3, 0.3, 3)};
  EXPECT_EQ(bohb.ModelRung(5, by_rung), -1);
  EXPECT_EQ(*bohb.Suggest(5, by_rung), *random->Suggest(5, {}));
  // Failures do not count.
  by_rung[0].push_back(At(0.4, 0.4, std::numeric_limits<double>::infinity()));
  EXPECT_EQ(bohb.ModelRung(5, by_rung), -1);
  by_rung[0].push_back(At(0.5, 0.5, 5));
  EXPECT_EQ(bohb.ModelRung(5, by_rung), 0);
  // The highest rung with enough results wins.
  by_rung[2] = {At(0.1, 0.1, 1), At(0.2, 0.2, 2), At(0.3, 0.3, 3), At(0.4, 0.4, 4)};
  EXPECT_EQ(bohb.ModelRung(5, by_rung), 2);
}

TEST(BohbSamplerTest, RandomFractionIsPerConfigurationAndDeterministic) {
  std::vector<std::vector<Observation>> by_rung(1);
  for (int i = 0; i < 10; ++i) by_rung[0].push_back(At(0.1 * i, 0.5, i));
  BohbSampler all_random(Space(), 2, {.random_fraction = 1});
  BohbSampler a(Space(), 2, {.random_fraction = 0.5}), b(Space(), 2, {.random_fraction = 0.5});
  int random = 0;
  for (int64_t c = 0; c < 200; ++c) {
    EXPECT_EQ(all_random.ModelRung(c, by_rung), -1);
    int k = a.ModelRung(c, by_rung);
    random += k < 0;
    EXPECT_EQ(*a.Suggest(c, by_rung), *b.Suggest(c, by_rung)) << c;
  }
  EXPECT_GT(random, 70);
  EXPECT_LT(random, 130);
}

TEST(BohbSamplerTest, PooledRungsCountConfigurationsOnce) {
  BohbSampler bohb(Space(), 1, {.random_fraction = 0, .min_points = 4, .pool_rungs = true});
  std::vector<std::vector<Observation>> by_rung(3);
  by_rung[0] = {At(0.1, 0.1, 1), At(0.2, 0.2, 2), At(0.3, 0.3, 3)};
  // A promoted configuration's second result is not a new configuration.
  by_rung[1] = {At(0.1, 0.1, 0.5)};
  EXPECT_EQ(bohb.ModelRung(5, by_rung), -1);
  by_rung[0].push_back(At(0.4, 0.4, std::numeric_limits<double>::infinity()));
  EXPECT_EQ(bohb.ModelRung(5, by_rung), -1);
  by_rung[0].push_back(At(0.5, 0.5, 5));
  EXPECT_EQ(bohb.ModelRung(5, by_rung), 1);  // the highest rung with a result
}

// Pooled: a configuration that reached a higher rung ranks above every one
// that stopped lower, whatever their losses, so the good set is the
// configurations promoted furthest.
TEST(BohbSamplerTest, PooledRungsRankByRungReachedThenLoss) {
  std::vector<std::vector<Observation>> by_rung(2);
  // Rung 0: many results, the lowest losses near (0.2, 0.8); the two
  // configurations near (0.8, 0.2) reached rung 1 (with higher losses: more
  // rounds on another scale, as a metric may be).
  for (int i = 0; i < 30; ++i) {
    double x = (i % 6) / 5.0, y = (i / 6) / 4.0;
    by_rung[0].push_back(At(x, y, 10 + std::hypot(x - 0.2, y - 0.8)));
  }
  by_rung[0].push_back(At(0.8, 0.2, 11));
  by_rung[0].push_back(At(0.82, 0.22, 11.1));
  by_rung[1] = {At(0.8, 0.2, 20), At(0.82, 0.22, 21)};
  BohbOptions o{.random_fraction = 0, .pool_rungs = true};
  o.tpe.gamma = 0.05;  // n_good = 2 of 32: the two that reached rung 1
  BohbSampler pooled(Space(), 3, o);
  o.pool_rungs = false;
  BohbSampler highest_rung(Space(), 3, o);
  int near_pooled = 0, near_rung0 = 0;
  for (int64_t c = 0; c < 40; ++c) {
    auto p = pooled.Suggest(c, by_rung);
    auto q = highest_rung.Suggest(c, by_rung);  // rung 1 has too few results: rung 0's model
    ASSERT_TRUE(p.ok());
    ASSERT_TRUE(q.ok());
    near_pooled += std::hypot(p->at("x").get<double>() - 0.8, p->at("y").get<double>() - 0.2) < 0.3;
    near_rung0 += std::hypot(q->at("x").get<double>() - 0.2, q->at("y").get<double>() - 0.8) < 0.3;
  }
  EXPECT_GE(near_pooled, 28);
  EXPECT_GE(near_rung0, 28);
}

// Modelled suggestions follow the good results of the rung they model.
TEST(BohbSamplerTest, ModelledSuggestionsConcentrateNearGoodResults) {
  std::vector<std::vector<Observation>> by_rung(2);
  for (int i = 0; i < 40; ++i) {
    double x = (i % 8) / 7.0, y = (i / 8) / 4.0;
    by_rung[0].push_back(At(x, y, std::hypot(x - 0.8, y - 0.2)));
  }
  for (bool multivariate : {false, true}) {
    BohbOptions o{.random_fraction = 0};
    o.tpe.multivariate = multivariate;
    BohbSampler bohb(Space(), 3, o);
    int near = 0;
    for (int64_t c = 0; c < 50; ++c) {
      auto p = bohb.Suggest(c, by_rung);
      ASSERT_TRUE(p.ok());
      double x = p->at("x").get<double>(), y = p->at("y").get<double>();
      near += std::hypot(x - 0.8, y - 0.2) < 0.3;
    }
    // Uniform draws land within 0.3 of (0.8, 0.2) ~22% of the time.
    EXPECT_GE(near, 35) << (multivariate ? "multivariate" : "independent");
  }
}

TEST(BohbSamplerTest, InitialDesignIsALatinHypercube) {
  const int n = 8;
  BohbSampler bohb(Space(), 3, {.random_fraction = 1, .initial_design = n});
  BohbSampler again(Space(), 3, {.random_fraction = 1, .initial_design = n});
  auto random = MakeRandomSampler(Space(), 3);
  std::vector<std::vector<Observation>> none(3);
  std::vector<int> x_strata(n, 0), y_strata(n, 0);
  for (int c = 0; c < n; ++c) {
    Params p = *bohb.Suggest(c, none);
    EXPECT_EQ(p, *again.Suggest(c, none));  // deterministic per seed
    double x = p["x"].get<double>(), y = p["y"].get<double>();
    ASSERT_TRUE(x >= 0 && x <= 1 && y >= 0 && y <= 1);
    ++x_strata[std::min(n - 1, static_cast<int>(x * n))];
    ++y_strata[std::min(n - 1, static_cast<int>(y * n))];
  }
  // Every stratum of every parameter exactly once.
  EXPECT_EQ(x_strata, std::vector<int>(n, 1));
  EXPECT_EQ(y_strata, std::vector<int>(n, 1));
  // Beyond the design: the random sampler's draws again.
  EXPECT_EQ(*bohb.Suggest(n, none), *random->Suggest(n, {}));
  // On by default (9 points); 0 turns it off.
  EXPECT_EQ(BohbOptions().initial_design, 9);
  BohbSampler plain(Space(), 3, {.random_fraction = 1, .initial_design = 0});
  EXPECT_EQ(*plain.Suggest(0, none), *random->Suggest(0, {}));
}

// A rung is modelled once it has a bad density of parameters + 1 points
// beside the good one: parameters + 2 results by default (one good point),
// 2 * (parameters + 1) with the BOHB paper's min_good 0 (= parameters + 1).
TEST(BohbSamplerTest, ModelNeedsParametersPlusOneBadPoints) {
  std::vector<std::vector<Observation>> by_rung(2);
  for (int i = 0; i < 3; ++i) by_rung[0].push_back(At(0.1 * i, 0.5, i));
  BohbSampler one_good(Space(), 1, {.random_fraction = 0});
  BohbOptions paper_options{.random_fraction = 0};
  paper_options.tpe.min_good = 0;
  BohbSampler paper(Space(), 1, paper_options);
  EXPECT_EQ(one_good.ModelRung(20, by_rung), -1);
  by_rung[0].push_back(At(0.6, 0.5, 6));
  EXPECT_EQ(one_good.ModelRung(20, by_rung), 0);
  EXPECT_EQ(paper.ModelRung(20, by_rung), -1);
  by_rung[0].push_back(At(0.7, 0.5, 7));
  EXPECT_EQ(paper.ModelRung(20, by_rung), -1);
  by_rung[0].push_back(At(0.8, 0.5, 8));
  EXPECT_EQ(paper.ModelRung(20, by_rung), 0);
}

}  // namespace
}  // namespace tandem::compute::tuning
