// JobStore counting and kind filtering: counts come from the database (a
// GROUP BY), not from listing rows, and kind is an indexed column that
// listings filter on and that older rows get filled in from their specs.
#include "compute/jobs/store.h"

#include <filesystem>

#include "common/ids.h"
#include "glue/bus/sql_event_bus.h"
#include "gtest/gtest.h"

namespace tandem::compute::jobs {
namespace {

namespace fs = std::filesystem;

class JobStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("tandem-jobstore-" + NewUlid(Clock::Real()));
    fs::create_directories(dir_);
    auto db = sql::Database::Open("sqlite://" + (dir_ / "tandem.db").string());
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = *std::move(db);
    auto bus = bus::SqlEventBus::Attach(*db_, clock_);
    ASSERT_TRUE(bus.ok()) << bus.status();
    bus_ = *std::move(bus);
    auto store = JobStore::Open(*db_, *bus_, clock_);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
  }
  void TearDown() override {
    store_.reset();
    bus_.reset();
    db_.reset();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  JobRecord Record(const std::string& id, const std::string& kind) {
    JobRecord r;
    r.id = id;
    r.name = "job-" + id;
    r.team = "risk";
    r.spec.name = r.name;
    r.spec.entry_point = "train.sh";
    if (!kind.empty()) r.spec.environment[kJobKindVariable] = kind;
    r.created_micros = r.queued_micros = r.updated_micros = clock_.NowMicros();
    return r;
  }

  fs::path dir_;
  FakeClock clock_;
  std::unique_ptr<sql::Database> db_;
  std::unique_ptr<bus::SqlEventBus> bus_;
  std::unique_ptr<JobStore> store_;
};

// 10,000 rows written in one transaction straight into the table, with specs
// that are not even JSON: counting never reads a row into a JobRecord (a
// listing of the same rows fails), so `tandem status` costs one GROUP BY
// however many jobs there are.
TEST_F(JobStoreTest, CountsManyRowsWithoutListingThem) {
  constexpr int kRows = 10'000;
  const char* states[] = {"Pending", "Running", "Completed", "Failed", "Completed"};
  ASSERT_TRUE(db_->WithTransaction([&](sql::Transaction& tx) -> Status {
                   for (int i = 0; i < kRows; ++i) {
                     char id[16];
                     std::snprintf(id, sizeof(id), "job%06d", i);
                     RETURN_IF_ERROR(
                         tx.Exec("INSERT INTO compute_jobs (id, name, team, spec, state, attempt, "
                                 "failure_reason, created_micros, queued_micros, started_micros, "
                                 "ended_micros, updated_micros, substrate, handle, wall_seconds, "
                                 "cpu_seconds, peak_rss_bytes, cost, warm_pool_seconds, model_key, "
                                 "model_digest, registered_model, registered_version, "
                                 "registered_alias, final_metrics, details, kind) VALUES (?, 'n', "
                                 "'t', 'not json', ?, 1, '', 0, 0, 0, 0, 0, '', '', 0, 0, 0, 0, 0, "
                                 "'', '', '', 0, '', '{}', '{}', ?)",
                                 {std::string(id), std::string(states[i % 5]),
                                  std::string(i % 4 == 0 ? "transform" : "training")})
                             .status());
                   }
                   return OkStatus();
                 })
                  .ok());

  auto by_state = store_->CountByState();
  ASSERT_TRUE(by_state.ok()) << by_state.status();
  EXPECT_EQ(by_state->size(), 4u);  // states without jobs are absent
  EXPECT_EQ(by_state->at(JobState::kPending), kRows / 5);
  EXPECT_EQ(by_state->at(JobState::kRunning), kRows / 5);
  EXPECT_EQ(by_state->at(JobState::kCompleted), 2 * kRows / 5);
  EXPECT_EQ(by_state->at(JobState::kFailed), kRows / 5);
  EXPECT_EQ(by_state->count(JobState::kStopped), 0u);

  auto transforms = store_->CountByState("transform");
  ASSERT_TRUE(transforms.ok()) << transforms.status();
  int64_t total = 0;
  for (const auto& [state, n] : *transforms) total += n;
  EXPECT_EQ(total, kRows / 4);
  // i % 4 == 0 and i % 5 == 0: every 20th row is a Pending transform.
  EXPECT_EQ(transforms->at(JobState::kPending), kRows / 20);

  auto by_kind = store_->CountByKind();
  ASSERT_TRUE(by_kind.ok()) << by_kind.status();
  EXPECT_EQ(*by_kind, (std::map<std::string, int64_t>{{"training", 3 * kRows / 4},
                                                      {"transform", kRows / 4}}));

  // The same rows cannot be listed: the counts above did not read them.
  JobFilter filter;
  EXPECT_FALSE(store_->List(filter).ok());
}

TEST_F(JobStoreTest, ListFiltersByKindAndPages) {
  for (int i = 0; i < 7; ++i) {
    ASSERT_TRUE(
        store_->Insert(Record("j" + std::to_string(i), i % 2 == 0 ? "transform" : "")).ok());
  }
  JobFilter filter;
  filter.kind = "transform";
  filter.max_results = 3;
  std::vector<std::string> ids;
  do {
    auto page = store_->List(filter);
    ASSERT_TRUE(page.ok()) << page.status();
    EXPECT_LE(page->jobs.size(), 3u);
    for (const auto& j : page->jobs) {
      EXPECT_EQ(j.spec.Kind(), "transform");
      ids.push_back(j.id);
    }
    filter.page_token = page->next_page_token;
  } while (!filter.page_token.empty());
  EXPECT_EQ(ids, (std::vector<std::string>{"j6", "j4", "j2", "j0"}));

  filter = {};
  filter.kind = "training";
  auto training = store_->List(filter);
  ASSERT_TRUE(training.ok()) << training.status();
  ASSERT_EQ(training->jobs.size(), 3u);
  EXPECT_EQ(training->jobs[0].id, "j5");
  EXPECT_EQ(training->jobs[0].spec.Kind(), "training");

  auto counts = store_->CountByState("training");
  ASSERT_TRUE(counts.ok()) << counts.status();
  EXPECT_EQ(counts->at(JobState::kPending), 3);
}

// Rows written before the kind column existed hold '' until the store is
// opened again; Open fills them in from their specs.
TEST_F(JobStoreTest, OpenFillsInTheKindOfOlderRows) {
  ASSERT_TRUE(store_->Insert(Record("a", "transform")).ok());
  ASSERT_TRUE(store_->Insert(Record("b", "")).ok());
  ASSERT_TRUE(db_->WithTransaction([](sql::Transaction& tx) -> Status {
                   return tx.Exec("UPDATE compute_jobs SET kind = ''").status();
                 })
                  .ok());
  EXPECT_EQ(store_->CountByKind()->at(""), 2);

  auto reopened = JobStore::Open(*db_, *bus_, clock_);
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  EXPECT_EQ(*(*reopened)->CountByKind(),
            (std::map<std::string, int64_t>{{"training", 1}, {"transform", 1}}));
}


// Metric points go in several rows per INSERT: every batch size (64 down to
// 1) is used, a point stored before is kept (not overwritten), a point
// repeated within one call is stored once, and attempts stay apart.
TEST_F(JobStoreTest, AppendMetricsStoresEveryPointOnceInBatches) {
  ASSERT_TRUE(store_->Insert(Record("m1", "")).ok());
  std::vector<MetricSample> first;
  for (int64_t step = 0; step < 10; ++step) first.push_back({"loss", 100.0 + step, 1000 + step, step});
  ASSERT_TRUE(store_->AppendMetrics("m1", 1, first).ok());
  std::vector<MetricSample> all;  // 127 loss points (64+32+16+8+4+2+1), the first 10 again
  for (int64_t step = 0; step < 127; ++step) all.push_back({"loss", 1.0 * step, 2000 + step, step});
  all.push_back({"auc", 0.5, 3000, 0});
  all.push_back({"auc", 0.9, 3001, 0});  // the same point twice in one call: the first is kept
  ASSERT_TRUE(store_->AppendMetrics("m1", 1, all).ok());
  ASSERT_TRUE(store_->AppendMetrics("m1", 2, {{"loss", 7.0, 4000, 0}}).ok());

  auto m = store_->Metrics("m1");
  ASSERT_TRUE(m.ok()) << m.status();
  ASSERT_EQ(m->size(), 2u);
  const auto& loss = m->at("loss");
  ASSERT_EQ(loss.size(), 128u);  // 127 of attempt 1, 1 of attempt 2
  for (int64_t step = 0; step < 127; ++step) {
    EXPECT_EQ(loss[step].attempt, 1);
    EXPECT_EQ(loss[step].step, step);
    EXPECT_DOUBLE_EQ(loss[step].value, step < 10 ? 100.0 + step : 1.0 * step) << step;
  }
  EXPECT_EQ(loss[127].attempt, 2);
  EXPECT_DOUBLE_EQ(loss[127].value, 7.0);
  ASSERT_EQ(m->at("auc").size(), 1u);
  EXPECT_DOUBLE_EQ(m->at("auc")[0].value, 0.5);
}


// A waiter's re-read parses the record only when some column changed: the
// owner's lease too (RenewLeases changes no record field a mutate sees).
TEST_F(JobStoreTest, GetIfChangedAnswersOnlyWhenTheRowChanged) {
  ASSERT_TRUE(store_->Insert(Record("g1", "")).ok());
  std::vector<sql::Value> seen;
  auto first = store_->GetIfChanged("g1", &seen);
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_TRUE(first->has_value());
  EXPECT_EQ((*first)->state, JobState::kPending);
  auto again = store_->GetIfChanged("g1", &seen);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_FALSE(again->has_value());

  ASSERT_TRUE(store_->Update("g1", [](JobRecord& r) { r.failure_reason = "x"; }).ok());
  auto updated = store_->GetIfChanged("g1", &seen);
  ASSERT_TRUE(updated.ok() && updated->has_value());
  EXPECT_EQ((*updated)->failure_reason, "x");
  EXPECT_FALSE(store_->GetIfChanged("g1", &seen)->has_value());

  ASSERT_TRUE(store_->Claim("g1", "cp-a", 1'000).ok());
  auto claimed = store_->GetIfChanged("g1", &seen);
  ASSERT_TRUE(claimed.ok() && claimed->has_value());
  EXPECT_EQ((*claimed)->state, JobState::kStarting);
  ASSERT_TRUE(store_->RenewLeases("cp-a", 2'000).ok());
  auto renewed = store_->GetIfChanged("g1", &seen);
  ASSERT_TRUE(renewed.ok() && renewed->has_value());
  EXPECT_EQ((*renewed)->lease_expires_micros, 2'000);

  EXPECT_EQ(store_->GetIfChanged("nope", &seen).status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace tandem::compute::jobs
