// The `quotas:` section of tandem.yaml (the checks themselves run against a
// real control plane in tests/security/quotas_e2e_test.sh).
#include "api/quotas.h"

#include "api/budgets.h"
#include "common/ids.h"
#include "common/testing/test_server.h"
#include "glue/sql/testing/postgres_test_db.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <thread>
#include <vector>

namespace tandem::api {
namespace {

using ::testing::HasSubstr;

TEST(QuotasTest, DefaultsAndPerTeamOverrides) {
  Config c;
  c.raw = Json::parse(R"({"quotas": {"default": {"job_cpus": 8, "replicas": 4, "notebooks": 2},
                                     "teams": {"fraud": {"job_cpus": 32}, "eta": {}}}})");
  auto q = Quotas::FromConfig(c);
  ASSERT_TRUE(q.ok()) << q.status();
  EXPECT_EQ(q->For("pricing").job_cpus, 8);
  EXPECT_EQ(q->For("fraud").job_cpus, 32);
  EXPECT_EQ(q->For("fraud").replicas, 4);  // unset: the default's
  EXPECT_EQ(q->For("eta").notebooks, 2);
  c.raw = Json::object();
  auto none = Quotas::FromConfig(c);
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none->For("x").job_cpus, 0);  // no limit
}

TEST(QuotasTest, BadSectionsNameTheKey) {
  Config c;
  for (const auto& [doc, want] : std::vector<std::pair<const char*, const char*>>{
           {R"({"quotas": {"default": {"cpus": 1}}})", "quotas.default.cpus"},
           {R"({"quotas": {"default": {"job_cpus": -1}}})", "quotas.default.job_cpus"},
           {R"({"quotas": {"teams": {"a": {"replicas": "two"}}}})", "quotas.teams.a.replicas"},
           {R"({"quotas": {"teams": [1]}})", "quotas.teams"},
           {R"({"quotas": {"team": {}}})", "quotas.team"},
           {R"({"quotas": {"default": {"spend_budget": -5}}})", "quotas.default.spend_budget"},
           {R"({"quotas": {"default": {"budget_period": "week"}}})", "quotas.default.budget_period"},
           {R"({"quotas": {"teams": {"a": {"budget_enforce": "yes"}}}})",
            "quotas.teams.a.budget_enforce"},
           {R"({"quotas": {"budget_check_seconds": 0}})", "quotas.budget_check_seconds"}}) {
    c.raw = Json::parse(doc);
    auto q = Quotas::FromConfig(c);
    EXPECT_EQ(q.status().code(), StatusCode::kInvalidArgument) << doc;
    EXPECT_THAT(q.status().message(), HasSubstr(want)) << doc;
  }
}

TEST(QuotasTest, SpendBudgetsInheritTheDefault) {
  Config c;
  c.raw = Json::parse(R"({"quotas": {"budget_check_seconds": 5,
      "default": {"spend_budget": 100, "budget_period": "day"},
      "teams": {"fraud": {"spend_budget": 500, "budget_enforce": true}}}})");
  auto q = Quotas::FromConfig(c);
  ASSERT_TRUE(q.ok()) << q.status();
  EXPECT_EQ(q->budget_check_seconds(), 5);
  EXPECT_EQ(q->For("eta").spend_budget, 100);
  EXPECT_EQ(q->For("eta").budget_period, "day");
  EXPECT_FALSE(q->For("eta").budget_enforce);
  EXPECT_EQ(q->For("fraud").spend_budget, 500);
  EXPECT_EQ(q->For("fraud").budget_period, "day");
  EXPECT_TRUE(q->For("fraud").budget_enforce);
  auto none = Quotas::FromConfig(Config{});
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none->For("x").spend_budget, 0);
  EXPECT_EQ(none->For("x").budget_period, "month");
}

TEST(BudgetsTest, PeriodsStartAtUtcMonthOrDayBoundaries) {
  // 2026-12-06T23:05:45.5Z
  const int64_t now = int64_t{1796598345} * 1'000'000 + 500'000;
  EXPECT_EQ(FormatRfc3339(BudgetPeriodStart("month", now)), "2026-12-01T00:00:00Z");
  EXPECT_EQ(FormatRfc3339(BudgetPeriodStart("day", now)), "2026-12-06T00:00:00Z");
  EXPECT_EQ(BudgetPeriodStart("total", now), 0);
  // A month boundary exactly.
  const int64_t first = BudgetPeriodStart("month", now);
  EXPECT_EQ(BudgetPeriodStart("month", first), first);
  EXPECT_EQ(FormatRfc3339(BudgetPeriodStart("month", first - 1)), "2026-11-01T00:00:00Z");
}

// Admit(team) is the per-team admission lock the handlers hold from the
// check to the creation: one team's admissions run one at a time, other
// teams' do not wait, and "" is the default team.
TEST(QuotasTest, AdmitSerializesOneTeamOnly) {
  auto q = Quotas::FromConfig(Config{});
  ASSERT_TRUE(q.ok());
  auto held = q->Admit("fraud");
  ASSERT_TRUE(held.ok()) << held.status();
  ASSERT_TRUE(held->owns_lock());
  std::atomic<bool> fraud_admitted{false}, eta_admitted{false};
  std::thread fraud([&] {
    auto a = q->Admit("fraud");
    fraud_admitted = true;
  });
  std::thread eta([&] {
    auto a = q->Admit("eta");
    eta_admitted = true;
  });
  eta.join();  // another team is not blocked
  EXPECT_TRUE(eta_admitted);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_FALSE(fraud_admitted) << "a second admission of the same team ran concurrently";
  held->unlock();
  fraud.join();
  EXPECT_TRUE(fraud_admitted);
  auto d1 = q->Admit("");
  ASSERT_TRUE(d1.ok());
  std::atomic<bool> default_admitted{false};
  std::thread dflt([&] {
    auto a = q->Admit("default");
    default_admitted = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_FALSE(default_admitted) << "\"\" and \"default\" are one team";
  d1->unlock();
  dflt.join();
}

// Two control planes on one database (each its own Database, as two
// processes): admissions of one team racing through both never exceed the
// quota. The "work" is a row per admitted request, counted before inserting
// (as CheckJobCpus counts the team's jobs before Submit).
class QuotasAcrossControlPlanesTest : public ::testing::TestWithParam<sql::testing::Backend> {
 protected:
  void SetUp() override {
    dir_ = "/tmp/tandem-quota-cp-" + NewUlid(Clock::Real());
    std::filesystem::create_directories(dir_);
    auto uri = GetParam().make(dir_);
    ASSERT_TRUE(uri.ok()) << uri.status();
    uri_ = *uri;
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  std::string dir_, uri_;
};

TEST_P(QuotasAcrossControlPlanesTest, RacingAdmissionsNeverExceedTheQuota) {
  constexpr int kLimit = 3;
  std::vector<std::unique_ptr<sql::Database>> dbs;
  std::vector<std::unique_ptr<Quotas>> planes;
  for (int i = 0; i < 2; ++i) {
    auto db = sql::Database::Open(uri_);
    ASSERT_TRUE(db.ok()) << db.status();
    dbs.push_back(*std::move(db));
    auto q = Quotas::FromConfig(Config{});
    ASSERT_TRUE(q.ok());
    planes.push_back(std::make_unique<Quotas>(*std::move(q)));
    planes.back()->UseDatabase(dbs.back().get());
  }
  ASSERT_TRUE(dbs[0]
                  ->WithTransaction([](sql::Transaction& tx) {
                    return tx.Exec("CREATE TABLE work (id TEXT PRIMARY KEY, team TEXT NOT NULL)")
                        .status();
                  })
                  .ok());
  std::atomic<int> admitted{0}, refused{0}, errors{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      sql::Database& db = *dbs[t % 2];
      for (int i = 0; i < 4; ++i) {
        auto admission = planes[t % 2]->Admit(i % 2 == 0 ? "fraud" : "default-team-of-fraud");
        if (i % 2 == 1) continue;  // another team: does not count
        if (!admission.ok()) {
          ++errors;
          continue;
        }
        int64_t used = -1;
        Status st = db.Read([&](sql::Transaction& tx) -> Status {
          ASSIGN_OR_RETURN(sql::Row r,
                           tx.QueryOne("SELECT COUNT(*) FROM work WHERE team = 'fraud'"));
          used = r.Int(0);
          return OkStatus();
        });
        if (!st.ok()) {
          ++errors;
          continue;
        }
        // Widen the window between the check and the creation.
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
        if (used >= kLimit) {
          ++refused;
          continue;
        }
        st = db.WithTransaction([&](sql::Transaction& tx) {
          return tx
              .Exec("INSERT INTO work (id, team) VALUES (?, 'fraud')",
                    {std::to_string(t) + "-" + std::to_string(i)})
              .status();
        });
        if (st.ok()) ++admitted;
        else ++errors;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(admitted.load(), kLimit);
  EXPECT_EQ(refused.load(), 16 - kLimit);
}

// The database lock is taken only after this process's mutex, and an
// admission whose database is gone is refused (Unavailable) and holds
// nothing afterwards.
TEST(QuotasAdmissionLockTest, UnreachableDatabaseRefusesAndReleases) {
  TANDEM_REQUIRE_TEST_SERVER("postgres", server);
  auto test_db = sql::testing::TestDatabase::Create(server);
  ASSERT_TRUE(test_db.ok()) << test_db.status();
  auto db = sql::Database::Open((*test_db)->uri());
  ASSERT_TRUE(db.ok()) << db.status();
  auto q = Quotas::FromConfig(Config{});
  ASSERT_TRUE(q.ok());
  q->UseDatabase(db->get());
  {
    auto a = q->Admit("fraud");
    ASSERT_TRUE(a.ok()) << a.status();
  }
  test_db->reset();  // DROP DATABASE ... WITH (FORCE): the sessions are gone
  auto refused = q->Admit("fraud");
  EXPECT_EQ(refused.status().code(), StatusCode::kUnavailable) << refused.status();
  EXPECT_NE(std::string(refused.status().message()).find("fraud"), std::string::npos);
  q->UseDatabase(nullptr);
  auto local = q->Admit("fraud");  // the team's mutex was let go
  EXPECT_TRUE(local.ok() && local->owns_lock());
}

INSTANTIATE_TEST_SUITE_P(Db, QuotasAcrossControlPlanesTest,
                         ::testing::ValuesIn(sql::testing::Backends()),
                         [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace tandem::api
