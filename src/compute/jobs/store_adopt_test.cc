// Batched adoption (JobStore::AdoptAll, AdoptAllFromDead): a takeover adopts
// every job of a dead control plane in one transaction, yet each job keeps
// the single adoption's rules — a compare-and-set on (owner, lease) from the
// dead owner, so a survivor that took a job first or a restarted owner that
// renewed its leases wins; only recoverable jobs for AdoptAll; bad input
// changes nothing; and two survivors adopting the same jobs at once (two
// connections on one SQLite file) end up with each job exactly once.
#include <algorithm>
#include <filesystem>
#include <set>
#include <thread>

#include "common/ids.h"
#include "compute/jobs/store.h"
#include "glue/bus/sql_event_bus.h"
#include "gtest/gtest.h"

namespace tandem::compute::jobs {
namespace {

namespace fs = std::filesystem;

constexpr int64_t kLease = 10'000'000;  // 10 s

// One control plane's connection to the shared database.
struct Plane {
  std::unique_ptr<sql::Database> db;
  std::unique_ptr<bus::SqlEventBus> bus;
  std::unique_ptr<JobStore> store;
};

class JobStoreAdoptTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("tandem-jobadopt-" + NewUlid(Clock::Real()));
    fs::create_directories(dir_);
    a_ = Open();
    b_ = Open();
  }
  void TearDown() override {
    a_ = Plane();
    b_ = Plane();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  Plane Open() {
    Plane p;
    auto db = sql::Database::Open("sqlite://" + (dir_ / "tandem.db").string());
    EXPECT_TRUE(db.ok()) << db.status();
    if (!db.ok()) return p;
    p.db = *std::move(db);
    auto bus = bus::SqlEventBus::Attach(*p.db, clock_);
    EXPECT_TRUE(bus.ok()) << bus.status();
    if (!bus.ok()) return p;
    p.bus = *std::move(bus);
    auto store = JobStore::Open(*p.db, *p.bus, clock_);
    EXPECT_TRUE(store.ok()) << store.status();
    if (store.ok()) p.store = *std::move(store);
    return p;
  }

  // `n` jobs inserted, the first `claimed` of them claimed by `owner`.
  std::vector<std::string> Jobs(int n, int claimed, const std::string& owner) {
    std::vector<std::string> ids;
    for (int i = 0; i < n; ++i) {
      JobRecord r;
      r.id = NewUlid(clock_);
      r.name = "job-" + std::to_string(i);
      r.team = "risk";
      r.spec.name = r.name;
      r.spec.entry_point = "train.sh";
      r.created_micros = r.queued_micros = r.updated_micros = clock_.NowMicros();
      EXPECT_TRUE(a_.store->Insert(r).ok());
      if (i < claimed) {
        auto c = a_.store->Claim(r.id, owner, clock_.NowMicros() + kLease);
        EXPECT_TRUE(c.ok()) << c.status();
      }
      ids.push_back(r.id);
    }
    return ids;
  }

  std::string OwnerOf(const std::string& id) {
    std::string owner;
    EXPECT_TRUE(a_.db
                    ->Read([&](sql::Transaction& tx) -> Status {
                      ASSIGN_OR_RETURN(
                          auto row,
                          tx.QueryOne("SELECT owner FROM compute_jobs WHERE id = ?", {id}));
                      owner = row.Text(0);
                      return OkStatus();
                    })
                    .ok());
    return owner;
  }

  fs::path dir_;
  FakeClock clock_;
  Plane a_, b_;
};

TEST_F(JobStoreAdoptTest, AdoptsEveryJobOfADeadOwnerSaveThoseSomeoneElseTookFirst) {
  std::vector<std::string> ids = Jobs(6, 5, "dead");  // the last one stays Pending
  auto seen = b_.store->ListActiveOf("dead");
  ASSERT_TRUE(seen.ok()) << seen.status();
  ASSERT_EQ(seen->size(), 5u);
  // Another survivor took one of them after the list was read.
  auto other = a_.store->AdoptFromDead((*seen)[2], "c", clock_.NowMicros() + kLease);
  ASSERT_TRUE(other.ok()) << other.status();
  ASSERT_TRUE(*other);

  auto adopted = b_.store->AdoptAllFromDead(*seen, "b", clock_.NowMicros() + kLease);
  ASSERT_TRUE(adopted.ok()) << adopted.status();
  std::vector<std::string> want = {ids[0], ids[1], ids[3], ids[4]};
  std::sort(want.begin(), want.end());
  EXPECT_EQ(*adopted, want);
  for (const std::string& id : want) EXPECT_EQ(OwnerOf(id), "b") << id;
  EXPECT_EQ(OwnerOf(ids[2]), "c");
  EXPECT_EQ(OwnerOf(ids[5]), "");  // Pending: never part of a takeover
  auto left = b_.store->ListActiveOf("dead");
  ASSERT_TRUE(left.ok());
  EXPECT_TRUE(left->empty());
}

TEST_F(JobStoreAdoptTest, ARestartedOwnerThatRenewedItsLeasesKeepsEveryJob) {
  Jobs(4, 4, "a");
  auto seen = b_.store->ListActiveOf("a");
  ASSERT_TRUE(seen.ok()) << seen.status();
  ASSERT_EQ(seen->size(), 4u);
  clock_.Advance(1000);
  // "a" was only slow (or restarted and recovered): its renewal wins.
  auto renewed = a_.store->RenewLeases("a", clock_.NowMicros() + kLease);
  ASSERT_TRUE(renewed.ok());
  ASSERT_EQ(*renewed, 4);
  auto adopted = b_.store->AdoptAllFromDead(*seen, "b", clock_.NowMicros() + kLease);
  ASSERT_TRUE(adopted.ok()) << adopted.status();
  EXPECT_TRUE(adopted->empty());
  auto still = a_.store->ListActiveOf("a");
  ASSERT_TRUE(still.ok());
  EXPECT_EQ(still->size(), 4u);
}

TEST_F(JobStoreAdoptTest, ABatchWithAJobThatIsNotAnothersChangesNothing) {
  Jobs(3, 3, "dead");
  auto seen = b_.store->ListActiveOf("dead");
  ASSERT_TRUE(seen.ok());
  std::vector<JobRecord> bad = *seen;
  bad[1].owner = "b";  // the adopter's own
  auto adopted = b_.store->AdoptAllFromDead(bad, "b", clock_.NowMicros() + kLease);
  EXPECT_EQ(adopted.status().code(), StatusCode::kInvalidArgument) << adopted.status();
  EXPECT_NE(adopted.status().message().find(bad[1].id), std::string::npos) << adopted.status();
  bad[1].owner = "";  // unowned
  adopted = b_.store->AdoptAllFromDead(bad, "b", clock_.NowMicros() + kLease);
  EXPECT_EQ(adopted.status().code(), StatusCode::kInvalidArgument) << adopted.status();
  for (const JobRecord& r : *seen) EXPECT_EQ(OwnerOf(r.id), "dead") << r.id;
  // An empty batch adopts nothing and is no error.
  auto none = b_.store->AdoptAllFromDead({}, "b", clock_.NowMicros() + kLease);
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_TRUE(none->empty());
}

TEST_F(JobStoreAdoptTest, AdoptAllTakesOnlyRecoverableJobs) {
  std::vector<std::string> expired = Jobs(3, 3, "gone");
  clock_.Advance(kLease + 1);  // "gone"'s leases have run out
  std::vector<std::string> alive = Jobs(2, 2, "alive");
  std::vector<std::string> pending = Jobs(1, 0, "");
  std::vector<std::string> all = expired;
  all.insert(all.end(), alive.begin(), alive.end());
  all.insert(all.end(), pending.begin(), pending.end());
  all.push_back(expired[0]);          // listed twice: adopted once
  all.push_back("01nosuchjob00000");  // unknown: skipped
  auto adopted = b_.store->AdoptAll(all, "b", clock_.NowMicros() + kLease);
  ASSERT_TRUE(adopted.ok()) << adopted.status();
  std::vector<std::string> want = expired;
  std::sort(want.begin(), want.end());
  EXPECT_EQ(*adopted, want);
  for (const std::string& id : alive) EXPECT_EQ(OwnerOf(id), "alive") << id;
  EXPECT_EQ(OwnerOf(pending[0]), "");
  // Its own jobs are recoverable by their owner (a restart): adopted again.
  auto again = b_.store->AdoptAll(want, "b", clock_.NowMicros() + kLease);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, want);
}

// Two survivors (two connections) adopt the same dead owner's 40 jobs at the
// same moment: every job ends up with exactly one of them.
TEST_F(JobStoreAdoptTest, TwoSurvivorsAdoptingAtOnceTakeEachJobOnce) {
  Jobs(40, 40, "dead");
  auto seen_a = a_.store->ListActiveOf("dead");
  auto seen_b = b_.store->ListActiveOf("dead");
  ASSERT_TRUE(seen_a.ok() && seen_b.ok());
  StatusOr<std::vector<std::string>> took_a, took_b;
  std::thread ta(
      [&] { took_a = a_.store->AdoptAllFromDead(*seen_a, "s1", clock_.NowMicros() + kLease); });
  std::thread tb(
      [&] { took_b = b_.store->AdoptAllFromDead(*seen_b, "s2", clock_.NowMicros() + kLease); });
  ta.join();
  tb.join();
  ASSERT_TRUE(took_a.ok()) << took_a.status();
  ASSERT_TRUE(took_b.ok()) << took_b.status();
  std::set<std::string> both(took_a->begin(), took_a->end());
  for (const std::string& id : *took_b) EXPECT_TRUE(both.insert(id).second) << id << " twice";
  EXPECT_EQ(both.size(), 40u);
  for (const std::string& id : *took_a) EXPECT_EQ(OwnerOf(id), "s1");
  for (const std::string& id : *took_b) EXPECT_EQ(OwnerOf(id), "s2");
}

}  // namespace
}  // namespace tandem::compute::jobs
