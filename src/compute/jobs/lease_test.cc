// Several control planes on one database (SQLite file, and PostgreSQL when
// the test server is up): each Pending job is launched exactly once however
// the control planes race for it, and a control plane starting up never
// takes over the running jobs of another one that is alive; it does once
// that one's lease has expired.
//
// The substrate is a fake "cluster" shared by the control planes (as Slurm
// is): it counts launches per job and runs each job until the test releases
// it, so no real process and no sleeping are involved.
#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "common/ids.h"
#include "common/testing/test_server.h"
#include "compute/jobs/service.h"
#include "compute/jobs/service_active.h"
#include "glue/bus/sql_event_bus.h"
#include "glue/sql/testing/postgres_test_db.h"
#include "gtest/gtest.h"

namespace tandem::compute::jobs {
namespace {

namespace fs = std::filesystem;
constexpr int64_t kTimeoutMs = 60'000;

// Jobs "run" here until Release; every control plane sees every job.
class FakeCluster {
 public:
  void Launch(const std::string& job_id) {
    std::lock_guard<std::mutex> lock(mu_);
    ++launches_[job_id];
  }
  int Launches(const std::string& job_id) {
    std::lock_guard<std::mutex> lock(mu_);
    return launches_[job_id];
  }
  int TotalLaunches() {
    std::lock_guard<std::mutex> lock(mu_);
    int n = 0;
    for (const auto& [id, c] : launches_) n += c;
    return n;
  }
  void Release(const std::string& job_id) {
    std::lock_guard<std::mutex> lock(mu_);
    released_.insert(job_id);
  }
  void ReleaseAll() {
    std::lock_guard<std::mutex> lock(mu_);
    all_released_ = true;
  }
  bool Released(const std::string& job_id) {
    std::lock_guard<std::mutex> lock(mu_);
    return all_released_ || released_.count(job_id) > 0;
  }

 private:
  std::mutex mu_;
  std::map<std::string, int> launches_;
  std::set<std::string> released_;
  bool all_released_ = false;
};

class FakeSubstrate final : public Substrate {
 public:
  explicit FakeSubstrate(FakeCluster& cluster) : cluster_(cluster) {}
  std::string name() const override { return "fake"; }
  bool sandboxed() const override { return true; }
  StatusOr<JobHandle> Submit(const LaunchRequest& req) override {
    std::ofstream(req.log_path) << "started\n";
    cluster_.Launch(req.job_id);
    return JobHandle{"fake", req.job_id};
  }
  // Knows every launch on the cluster, as a cluster's job names do.
  StatusOr<std::optional<JobHandle>> FindLaunched(const LaunchRequest& req) override {
    if (cluster_.Launches(req.job_id) == 0) return std::optional<JobHandle>();
    return std::optional<JobHandle>(JobHandle{"fake", req.job_id});
  }
  StatusOr<std::optional<ExitInfo>> Poll(const JobHandle& handle) override {
    polls_.fetch_add(1);
    if (!cluster_.Released(handle.id)) return std::optional<ExitInfo>();
    ExitInfo done;
    done.kind = ExitKind::kExited;
    done.message = "exit status 0";
    return std::optional<ExitInfo>(done);
  }
  Status Stop(const JobHandle&, int64_t) override { return OkStatus(); }
  std::optional<int64_t> StartedMicros(const JobHandle&) override { return std::nullopt; }
  double capacity_cpus() const override { return 64; }
  int polls() const { return polls_.load(); }

 private:
  FakeCluster& cluster_;
  std::atomic<int> polls_{0};
};

using sql::testing::Backend;

// One control plane: its own database connection, bus, home and owner.
struct ControlPlane {
  std::unique_ptr<sql::Database> db;
  std::unique_ptr<bus::SqlEventBus> bus;
  std::unique_ptr<store::ObjectStore> store;
  FakeSubstrate* substrate = nullptr;
  std::unique_ptr<JobService> service;
};

class JobLeaseTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    dir_ = "/tmp/tandem-joblease-" + NewUlid(Clock::Real());
    fs::create_directories(dir_ + "/src");
    std::ofstream(dir_ + "/src/train.sh") << "#!/bin/sh\ntrue\n";
    auto uri = GetParam().make(dir_);
    ASSERT_TRUE(uri.ok()) << uri.status();
    uri_ = *uri;
  }
  void TearDown() override {
    cluster_.ReleaseAll();
    planes_.clear();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  // Opens control plane `name` (its owner id) and recovers. All share one
  // home, as control planes on several hosts share the job directories
  // (e.g. on NFS) when their substrate is a cluster.
  ControlPlane& Open(const std::string& name, bool start = true) {
    auto cp = std::make_unique<ControlPlane>();
    auto db = sql::Database::Open(uri_);
    EXPECT_TRUE(db.ok()) << db.status();
    cp->db = *std::move(db);
    auto bus = bus::SqlEventBus::Attach(*cp->db, clock_);
    EXPECT_TRUE(bus.ok()) << bus.status();
    cp->bus = *std::move(bus);
    auto store = store::ObjectStore::Open("file://" + dir_ + "/store");
    EXPECT_TRUE(store.ok()) << store.status();
    cp->store = *std::move(store);
    auto substrate = std::make_unique<FakeSubstrate>(cluster_);
    cp->substrate = substrate.get();
    JobServiceOptions opts;
    opts.home = dir_ + "/home";
    opts.owner = name;
    opts.db = cp->db.get();
    opts.outbox = cp->bus->outbox();
    opts.store = cp->store.get();
    opts.clock = &clock_;
    opts.substrate = std::move(substrate);
    opts.poll_interval_ms = 5;
    opts.lease_ms = 10'000;
    auto svc = JobService::Open(std::move(opts));
    EXPECT_TRUE(svc.ok()) << svc.status();
    cp->service = *std::move(svc);
    EXPECT_TRUE(cp->service->Recover().ok());
    if (start) cp->service->Start();
    planes_.push_back(std::move(cp));
    return *planes_.back();
  }

  JobSpec Spec(const std::string& name) {
    JobSpec spec;
    spec.name = name;
    spec.team = "growth";
    spec.entry_point = "train.sh";
    spec.source_dir = dir_ + "/src";
    spec.resources.cpus = 1;
    return spec;
  }

  static bool Terminal(const JobRecord& r) { return IsTerminal(r.state); }
  static bool Running(const JobRecord& r) { return r.state == JobState::kRunning; }

  std::string dir_, uri_;
  FakeClock clock_;
  FakeCluster cluster_;
  std::vector<std::unique_ptr<ControlPlane>> planes_;
};

TEST_P(JobLeaseTest, RacingControlPlanesLaunchEachJobOnce) {
  ControlPlane& a = Open("a");
  ControlPlane& b = Open("b");
  ControlPlane& c = Open("c");
  cluster_.ReleaseAll();
  std::vector<std::string> ids;
  for (int i = 0; i < 24; ++i) {
    ControlPlane& via = i % 3 == 0 ? a : (i % 3 == 1 ? b : c);
    auto s = via.service->Submit(Spec("job-" + std::to_string(i)));
    ASSERT_TRUE(s.ok()) << s.status();
    ids.push_back(s->id);
  }
  for (const auto& id : ids) {
    auto done = a.service->WaitFor(id, Terminal, kTimeoutMs);
    ASSERT_TRUE(done.ok()) << done.status();
    EXPECT_EQ(done->state, JobState::kCompleted) << id << ": " << done->failure_reason;
    EXPECT_EQ(cluster_.Launches(id), 1) << id;
  }
  EXPECT_EQ(cluster_.TotalLaunches(), 24);
}

TEST_P(JobLeaseTest, RecoverLeavesALiveOwnersJobsAloneAndAdoptsExpiredOnes) {
  ControlPlane& a = Open("a");
  auto s = a.service->Submit(Spec("long"));
  ASSERT_TRUE(s.ok()) << s.status();
  ASSERT_TRUE(a.service->WaitFor(s->id, Running, kTimeoutMs).ok());

  // A second control plane starts while `a` is alive: the job is not its own.
  ControlPlane& b = Open("b", /*start=*/false);
  EXPECT_EQ(b.substrate->polls(), 0);
  auto still = b.service->Get(s->id);
  ASSERT_TRUE(still.ok());
  EXPECT_EQ(still->state, JobState::kRunning);

  // `a` goes away without finishing it; its lease runs out.
  a.service->Shutdown();
  clock_.Advance(11'000'000);
  ControlPlane& c = Open("c");
  EXPECT_GT(c.substrate->polls(), 0);  // re-attached to the running job
  cluster_.Release(s->id);
  auto done = c.service->WaitFor(s->id, Terminal, kTimeoutMs);
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_EQ(done->state, JobState::kCompleted) << done->failure_reason;
  EXPECT_EQ(cluster_.Launches(s->id), 1);
}

TEST_P(JobLeaseTest, RestartedControlPlaneRecoversItsOwnJobsAtOnce) {
  auto* a = &Open("a");
  auto s = a->service->Submit(Spec("mine"));
  ASSERT_TRUE(s.ok()) << s.status();
  ASSERT_TRUE(a->service->WaitFor(s->id, Running, kTimeoutMs).ok());
  a->service->Shutdown();
  // Same owner: no need to wait for the lease.
  ControlPlane& again = Open("a");
  EXPECT_GT(again.substrate->polls(), 0);
  cluster_.Release(s->id);
  auto done = again.service->WaitFor(s->id, Terminal, kTimeoutMs);
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_EQ(done->state, JobState::kCompleted);
  EXPECT_EQ(cluster_.Launches(s->id), 1);
}

// High availability: both control planes run; `a` dies holding a running
// job. `b` takes it over from its loop (no restart) once `a`'s lease has run
// out, re-attaches to the still-running process instead of launching it
// again, and finalizes it once.
TEST_P(JobLeaseTest, RunningControlPlaneTakesOverADeadOnesJobsAfterTheLease) {
  ControlPlane& a = Open("a");
  ControlPlane& b = Open("b");
  // Submitted through `b`, so `a` may claim it; wait until one of them runs it.
  auto s = b.service->Submit(Spec("survives"));
  ASSERT_TRUE(s.ok()) << s.status();
  auto running = a.service->WaitFor(s->id, Running, kTimeoutMs);
  ASSERT_TRUE(running.ok()) << running.status();
  ControlPlane& owner = running->owner == "a" ? a : b;
  ControlPlane& survivor = running->owner == "a" ? b : a;
  const std::string survivor_name = running->owner == "a" ? "b" : "a";
  owner.service->Shutdown();  // as kill -9: the lease is no longer renewed

  // Within the lease nothing moves.
  clock_.Advance(5'000'000);
  auto held = survivor.service->Get(s->id);
  ASSERT_TRUE(held.ok());
  EXPECT_EQ(held->owner, running->owner);

  // Past it, the survivor's loop adopts the job and polls the live process.
  clock_.Advance(6'000'000);
  auto adopted = survivor.service->WaitFor(
      s->id, [&](const JobRecord& r) { return r.owner == survivor_name; }, kTimeoutMs);
  ASSERT_TRUE(adopted.ok()) << adopted.status();
  EXPECT_EQ(adopted->state, JobState::kRunning);
  cluster_.Release(s->id);
  auto done = survivor.service->WaitFor(s->id, Terminal, kTimeoutMs);
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_EQ(done->state, JobState::kCompleted) << done->failure_reason;
  EXPECT_EQ(done->attempt, 1);
  EXPECT_EQ(cluster_.Launches(s->id), 1);
}

// Liveness: `a` dies for good (its process and database sessions are gone,
// so its liveness lock is free): `b` adopts its running job at once, well
// within the lease, re-attaches without launching it again, and finalizes it
// once. While `a` exists (even with its loop stopped) its lock is held and
// nothing moves before the lease expires.
TEST_P(JobLeaseTest, SurvivorAdoptsAtOnceWhenTheOwnersLivenessLockIsFree) {
  Open("a");
  ControlPlane& b = Open("b", /*start=*/false);
  auto s = planes_[0]->service->Submit(Spec("orphan"));
  ASSERT_TRUE(s.ok()) << s.status();
  ASSERT_TRUE(planes_[0]->service->WaitFor(s->id, Running, kTimeoutMs).ok());
  b.service->Start();
  planes_[0]->service->Shutdown();  // stopped, but alive: its lock is held
  clock_.Advance(1'000'000);        // a liveness check is due; the lease (10 s) is not over
  for (int i = 0; i < 20; ++i) {
    clock_.Advance(250'000);
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  auto held = b.service->Get(s->id);
  ASSERT_TRUE(held.ok());
  EXPECT_EQ(held->owner, "a");

  // `a` is gone: its database sessions (PostgreSQL) or lock file descriptor
  // (SQLite) close, which frees its lock.
  planes_[0]->service.reset();
  planes_[0]->bus.reset();
  planes_[0]->db.reset();
  auto adopted = b.service->WaitFor(
      s->id,
      [&](const JobRecord& r) {
        clock_.Advance(250'000);  // the frozen clock: let the next check come
        return r.owner == "b";
      },
      kTimeoutMs);
  ASSERT_TRUE(adopted.ok()) << adopted.status();
  EXPECT_EQ(adopted->state, JobState::kRunning);
  // Adopted long before `a`'s lease would have expired.
  EXPECT_LT(clock_.NowMicros(), held->lease_expires_micros);
  cluster_.Release(s->id);
  auto done = b.service->WaitFor(s->id, Terminal, kTimeoutMs);
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_EQ(done->state, JobState::kCompleted) << done->failure_reason;
  EXPECT_EQ(done->attempt, 1);
  EXPECT_EQ(cluster_.Launches(s->id), 1);
}

// The launch-intent gap: a control plane dies after the substrate's Submit
// started the job and before the Running transition recorded its handle. The
// database says Starting, owned by the dead one, no handle; the claim
// recorded the attempt directory. The survivor finds the launch through the
// substrate and re-attaches instead of launching the attempt again.
TEST_P(JobLeaseTest, SurvivorReattachesToALaunchItsLauncherDidNotRecord) {
  ControlPlane& b = Open("b", /*start=*/false);
  auto s = b.service->Submit(Spec("half-launched"));
  ASSERT_TRUE(s.ok()) << s.status();
  // What the dead control plane "a" left: its claim (with the launch intent)
  // and the cluster's job, started by its Submit.
  auto store = JobStore::Open(*b.db, *b.bus->outbox(), clock_);
  ASSERT_TRUE(store.ok()) << store.status();
  const std::string attempt_dir = dir_ + "/home-a/jobs/" + s->id + "/attempt-1";
  auto claimed = (*store)->Claim(s->id, "a", clock_.NowMicros() + 10'000'000, [&](JobRecord& r) {
    r.details["attempt_dir"] = attempt_dir;
    r.details["attempt_dir_attempt"] = r.attempt;
  });
  ASSERT_TRUE(claimed.ok()) << claimed.status();
  fs::create_directories(attempt_dir + "/ml/model");  // as staging left it
  fs::create_directories(attempt_dir + "/ml/output");
  ASSERT_TRUE(WriteLaunchDetails(attempt_dir, {{"code_digest", "sha256:feed"}}).ok());
  cluster_.Launch(s->id);

  b.service->Start();
  clock_.Advance(11'000'000);  // "a"'s lease runs out
  auto adopted = b.service->WaitFor(
      s->id, [&](const JobRecord& r) { return r.owner == "b" && r.state == JobState::kRunning; },
      kTimeoutMs);
  ASSERT_TRUE(adopted.ok()) << adopted.status();
  EXPECT_EQ(adopted->handle.id, s->id);
  EXPECT_EQ(adopted->details.value("code_digest", ""), "sha256:feed");
  EXPECT_EQ(adopted->details.value("attempt_dir", ""), attempt_dir);
  cluster_.Release(s->id);
  auto done = b.service->WaitFor(s->id, Terminal, kTimeoutMs);
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_EQ(done->state, JobState::kCompleted) << done->failure_reason;
  EXPECT_EQ(done->attempt, 1);
  EXPECT_EQ(cluster_.Launches(s->id), 1) << "the attempt was launched again";
}

// The other side of it: a claim whose launch never reached the substrate
// goes back to Pending with the same attempt and runs once.
TEST_P(JobLeaseTest, SurvivorRelaunchesAClaimThatNeverReachedTheSubstrate) {
  ControlPlane& b = Open("b", /*start=*/false);
  auto s = b.service->Submit(Spec("claimed-only"));
  ASSERT_TRUE(s.ok()) << s.status();
  auto store = JobStore::Open(*b.db, *b.bus->outbox(), clock_);
  ASSERT_TRUE(store.ok()) << store.status();
  auto claimed = (*store)->Claim(s->id, "a", clock_.NowMicros() + 10'000'000, [&](JobRecord& r) {
    r.details["attempt_dir"] = dir_ + "/home-a/jobs/" + s->id + "/attempt-1";
    r.details["attempt_dir_attempt"] = r.attempt;
  });
  ASSERT_TRUE(claimed.ok()) << claimed.status();
  b.service->Start();
  clock_.Advance(11'000'000);
  cluster_.ReleaseAll();
  auto done = b.service->WaitFor(s->id, Terminal, kTimeoutMs);
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_EQ(done->state, JobState::kCompleted) << done->failure_reason;
  EXPECT_EQ(done->attempt, 1);
  EXPECT_EQ(cluster_.Launches(s->id), 1);
}

TEST(JobLeasePostgres, ServerAvailable) {
  TANDEM_REQUIRE_TEST_SERVER("postgres", uri);
  EXPECT_TRUE(uri.starts_with("postgres://")) << uri;
}

INSTANTIATE_TEST_SUITE_P(Db, JobLeaseTest, ::testing::ValuesIn(sql::testing::Backends()),
                         [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace tandem::compute::jobs
