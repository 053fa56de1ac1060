// GroupCommit (the job store's batched writes): ops queued behind a running
// commit share one transaction; an op that fails is rolled back alone inside
// the batch; a batch whose commit fails is run again op by op, so no other
// op's write is lost and the failing op leaves nothing behind. Then the job store
// on top: many threads claiming, starting and ending jobs at once lose no
// transition and no event.
#include "compute/jobs/group_commit.h"

#include <atomic>
#include <filesystem>
#include <thread>

#include "absl/synchronization/notification.h"
#include "common/ids.h"
#include "compute/jobs/store.h"
#include "glue/bus/sql_event_bus.h"
#include "gtest/gtest.h"

namespace tandem::compute::jobs {
namespace {

namespace fs = std::filesystem;

class GroupCommitTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("tandem-groupcommit-" + NewUlid(Clock::Real()));
    fs::create_directories(dir_);
    auto db = sql::Database::Open("sqlite://" + (dir_ / "t.db").string());
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = *std::move(db);
    ASSERT_TRUE(db_->WithTransaction([](sql::Transaction& tx) {
                     return tx.Exec("CREATE TABLE t (k TEXT PRIMARY KEY)").status();
                   }).ok());
  }
  void TearDown() override {
    db_.reset();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  static GroupCommit::Op Insert(const std::string& k) {
    return [k](sql::Transaction& tx) { return tx.Exec("INSERT INTO t (k) VALUES (?)", {k}).status(); };
  }
  bool Has(const std::string& k) {
    bool found = false;
    EXPECT_TRUE(db_->Read([&](sql::Transaction& tx) -> Status {
                     ASSIGN_OR_RETURN(auto rows, tx.Query("SELECT k FROM t WHERE k = ?", {k}));
                     found = !rows.empty();
                     return OkStatus();
                   }).ok());
    return found;
  }

  // Runs `ops` (one thread each) while a first op holds the commit, so that
  // they all queue and then share the next transaction; their results.
  std::vector<Status> RunQueuedBehindACommit(GroupCommit& gc, std::vector<GroupCommit::Op> ops) {
    absl::Notification started, release;
    std::thread first([&] {
      Status s = gc.Run([&](sql::Transaction& tx) -> Status {
        started.Notify();
        release.WaitForNotification();
        return tx.Exec("INSERT INTO t (k) VALUES ('first')").status();
      });
      EXPECT_TRUE(s.ok()) << s;
    });
    started.WaitForNotification();
    std::vector<Status> results(ops.size());
    std::vector<std::thread> threads;
    for (size_t i = 0; i < ops.size(); ++i) {
      threads.emplace_back([&, i] { results[i] = gc.Run(ops[i]); });
    }
    for (int spins = 0; gc.waiting() < ops.size() && spins < 10'000; ++spins) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    EXPECT_EQ(gc.waiting(), ops.size()) << "the ops did not queue behind the first commit";
    release.Notify();
    first.join();
    for (auto& t : threads) t.join();
    return results;
  }

  fs::path dir_;
  std::unique_ptr<sql::Database> db_;
};

TEST_F(GroupCommitTest, OpsQueuedBehindACommitShareTheNextTransaction) {
  GroupCommit gc(*db_);
  auto results = RunQueuedBehindACommit(gc, {Insert("a"), Insert("b"), Insert("c"), Insert("d")});
  for (const Status& s : results) EXPECT_TRUE(s.ok()) << s;
  for (const char* k : {"first", "a", "b", "c", "d"}) EXPECT_TRUE(Has(k)) << k;
  GroupCommit::Stats st = gc.stats();
  EXPECT_EQ(st.ops, 5);
  EXPECT_EQ(st.transactions, 2);  // the first alone, then the four together
  EXPECT_EQ(st.largest_batch, 4);
  EXPECT_EQ(st.batches_retried, 0);
}

TEST_F(GroupCommitTest, AnOpsOwnStateErrorFailsOnlyThatOp) {
  GroupCommit gc(*db_);
  GroupCommit::Op refused = [](sql::Transaction&) -> Status {
    return FailedPreconditionError("job 'x' is Completed, cannot become Running");
  };
  auto results = RunQueuedBehindACommit(gc, {Insert("a"), refused, Insert("b")});
  EXPECT_TRUE(results[0].ok()) << results[0];
  EXPECT_EQ(results[1].code(), StatusCode::kFailedPrecondition) << results[1];
  EXPECT_TRUE(results[2].ok()) << results[2];
  EXPECT_TRUE(Has("a"));
  EXPECT_TRUE(Has("b"));
  EXPECT_EQ(gc.stats().batches_retried, 0);
  EXPECT_EQ(gc.stats().transactions, 2);
}

// An op that fails after writing (here: its second insert hits the primary
// key) is rolled back alone, inside the batch: its first insert is not there,
// the others' are, in the same one transaction.
TEST_F(GroupCommitTest, AFailingOpIsRolledBackAloneInsideTheBatch) {
  GroupCommit gc(*db_);
  GroupCommit::Op broken = [](sql::Transaction& tx) -> Status {
    RETURN_IF_ERROR(tx.Exec("INSERT INTO t (k) VALUES ('half')").status());
    return tx.Exec("INSERT INTO t (k) VALUES ('first')").status();  // exists: constraint error
  };
  auto results = RunQueuedBehindACommit(gc, {Insert("a"), broken, Insert("b"), Insert("c")});
  EXPECT_TRUE(results[0].ok()) << results[0];
  EXPECT_FALSE(results[1].ok());
  EXPECT_TRUE(results[2].ok()) << results[2];
  EXPECT_TRUE(results[3].ok()) << results[3];
  for (const char* k : {"first", "a", "b", "c"}) EXPECT_TRUE(Has(k)) << k;
  EXPECT_FALSE(Has("half")) << "the failed op's own write must be rolled back";
  EXPECT_EQ(gc.stats().batches_retried, 0);
  EXPECT_EQ(gc.stats().transactions, 2);
}

// A batch whose commit fails (a deferred foreign key that one op breaks is
// checked only at COMMIT) writes nothing; its ops are run again alone: the
// others commit, the breaking one fails at its own commit, each caller gets
// its own result.
TEST_F(GroupCommitTest, AFailedBatchCommitLosesNoOtherWrite) {
  ASSERT_TRUE(db_->WithTransaction([](sql::Transaction& tx) -> Status {
                   RETURN_IF_ERROR(tx.Exec("CREATE TABLE parent (k TEXT PRIMARY KEY)").status());
                   return tx.Exec("CREATE TABLE child (k TEXT REFERENCES parent (k) "
                                  "DEFERRABLE INITIALLY DEFERRED)")
                       .status();
                 }).ok());
  GroupCommit gc(*db_);
  GroupCommit::Op orphan = [](sql::Transaction& tx) {
    return tx.Exec("INSERT INTO child (k) VALUES ('nobody')").status();
  };
  auto results = RunQueuedBehindACommit(gc, {Insert("a"), orphan, Insert("b"), Insert("c")});
  EXPECT_TRUE(results[0].ok()) << results[0];
  EXPECT_FALSE(results[1].ok()) << "the orphan row must not commit";
  EXPECT_TRUE(results[2].ok()) << results[2];
  EXPECT_TRUE(results[3].ok()) << results[3];
  for (const char* k : {"first", "a", "b", "c"}) EXPECT_TRUE(Has(k)) << k;
  int64_t children = -1;
  ASSERT_TRUE(db_->Read([&](sql::Transaction& tx) -> Status {
                   ASSIGN_OR_RETURN(auto row, tx.QueryOne("SELECT COUNT(*) FROM child"));
                   children = row.Int(0);
                   return OkStatus();
                 }).ok());
  EXPECT_EQ(children, 0);
  EXPECT_EQ(gc.stats().batches_retried, 1);
}

TEST_F(GroupCommitTest, AtMostMaxBatchOpsShareATransaction) {
  GroupCommit gc(*db_, /*max_batch=*/2);
  auto results =
      RunQueuedBehindACommit(gc, {Insert("a"), Insert("b"), Insert("c"), Insert("d"), Insert("e")});
  for (const Status& s : results) EXPECT_TRUE(s.ok()) << s;
  for (const char* k : {"a", "b", "c", "d", "e"}) EXPECT_TRUE(Has(k)) << k;
  EXPECT_EQ(gc.stats().largest_batch, 2);
  EXPECT_EQ(gc.stats().transactions, 4);  // first, then 2 + 2 + 1
}

// The job store under many threads: every job is claimed, started and ended
// by its own thread while the others do the same; every transition lands
// once, with its event, whatever was batched with what.
TEST(JobStoreGroupCommitTest, ConcurrentTransitionsLoseNothing) {
  const fs::path dir = fs::temp_directory_path() / ("tandem-jobstore-gc-" + NewUlid(Clock::Real()));
  fs::create_directories(dir);
  FakeClock clock;
  auto db = sql::Database::Open("sqlite://" + (dir / "tandem.db").string());
  ASSERT_TRUE(db.ok()) << db.status();
  auto bus = bus::SqlEventBus::Attach(**db, clock);
  ASSERT_TRUE(bus.ok()) << bus.status();
  auto store = JobStore::Open(**db, **bus, clock);
  ASSERT_TRUE(store.ok()) << store.status();
  constexpr int kJobs = 120;
  std::vector<std::string> ids;
  for (int i = 0; i < kJobs; ++i) {
    JobRecord r;
    r.id = NewUlid(clock);
    r.name = "job-" + std::to_string(i);
    r.team = "t";
    r.spec.name = r.name;
    r.spec.entry_point = "/bin/true";
    ASSERT_TRUE((*store)->Insert(r).ok());
    ids.push_back(r.id);
  }
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 12; ++t) {
    threads.emplace_back([&, t] {
      for (int i = t; i < kJobs; i += 12) {
        const std::string& id = ids[i];
        bool ok = (*store)->Claim(id, "cp", 1).ok();
        // A second claim of the same job fails alone, inside whatever batch.
        ok = ok && !(*store)->Claim(id, "other", 1).ok();
        ok = ok && (*store)
                       ->Transition(id, {JobState::kStarting}, JobState::kRunning,
                                    [](JobRecord& r) { r.handle = {"local", "h"}; })
                       .ok();
        ok = ok && (*store)
                       ->Transition(id, {JobState::kRunning}, JobState::kCompleted,
                                    [](JobRecord& r) { r.model_key = "m"; })
                       .ok();
        if (!ok) ++failures;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  for (const auto& id : ids) {
    auto r = (*store)->Get(id);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->state, JobState::kCompleted) << id;
    EXPECT_EQ(r->handle.id, "h") << id;
    EXPECT_EQ(r->model_key, "m") << id;
    EXPECT_EQ(r->owner, "cp") << id;
  }
  int64_t events = 0;
  ASSERT_TRUE((*db)->Read([&](sql::Transaction& tx) -> Status {
                   ASSIGN_OR_RETURN(auto row, tx.QueryOne("SELECT COUNT(*) FROM bus_events"));
                   events = row.Int(0);
                   return OkStatus();
                 }).ok());
  EXPECT_EQ(events, 4 * kJobs);  // Pending, Starting, Running, Completed: once each
  const GroupCommit::Stats st = (*store)->commit_stats();
  EXPECT_EQ(st.ops, kJobs * 5);  // insert, two claims, two transitions
  EXPECT_EQ(st.batches_retried, 0);
  std::printf("group commit: %lld ops in %lld transactions, largest batch %lld\n",
              static_cast<long long>(st.ops), static_cast<long long>(st.transactions),
              static_cast<long long>(st.largest_batch));
  store->reset();
  bus->reset();
  db->reset();
  std::error_code ec;
  fs::remove_all(dir, ec);
}

}  // namespace
}  // namespace tandem::compute::jobs
