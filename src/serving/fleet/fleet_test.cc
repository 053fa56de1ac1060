#include "serving/fleet/fleet.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "common/http_server.h"
#include "glue/sql/database.h"
#include "serving/fleet/fleet_lease.h"
#include "serving/fleet/replica_process.h"

namespace tandem::serving::fleet {
namespace {
namespace fs = std::filesystem;

// A fleet whose "tandem" is a script that sleeps (alive, never ready), on a
// fresh SQLite database; replicas are killed at the end.
class FleetTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("tandem-fleet-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
    bin_ = (dir_ / "fake-tandem").string();
    std::ofstream(bin_) << "#!/bin/sh\nexec sleep 600\n";
    fs::permissions(bin_, fs::perms::owner_all);
    auto db = sql::Database::Open("sqlite://" + (dir_ / "t.db").string());
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = std::move(*db);
  }
  void TearDown() override {
    for (pid_t p : spawned_) ::kill(p, SIGKILL);
    fs::remove_all(dir_);
  }
  std::unique_ptr<Fleet> Make(const std::string& owner = "", int64_t lease_ms = 15'000) {
    FleetOptions o;
    o.home = (dir_ / "home").string();
    o.owner = owner;
    o.lease_ms = lease_ms;
    o.tandem_binary = bin_;
    o.tick_ms = 3'600'000;
    o.stop_grace_ms = 2000;
    auto f = Fleet::Open(o, *db_, nullptr, clock_);
    EXPECT_TRUE(f.ok()) << f.status();
    return f.ok() ? std::move(*f) : nullptr;
  }
  DeploymentSpec Spec(const std::string& name, int replicas) {
    auto s = ParseDeploymentSpec("name: " + name + "\nmodel: m@champion\nreplicas: {min: " +
                                 std::to_string(replicas) + ", max: 4}\n");
    EXPECT_TRUE(s.ok()) << s.status();
    return *s;
  }
  std::vector<int64_t> Pids(Fleet& f, const std::string& name) {
    std::vector<int64_t> out;
    auto st = f.Get(name);
    EXPECT_TRUE(st.ok()) << st.status();
    for (const auto& r : st->replicas) {
      if (r.state != "stopping") out.push_back(r.pid);
      spawned_.push_back(static_cast<pid_t>(r.pid));
    }
    std::sort(out.begin(), out.end());
    return out;
  }

  fs::path dir_;
  std::string bin_;
  std::unique_ptr<sql::Database> db_;
  RealClock clock_;
  std::vector<pid_t> spawned_;
};

TEST_F(FleetTest, OpenRefusesRelativeBinary) {
  FleetOptions o;
  o.tandem_binary = "tandem";
  auto f = Fleet::Open(o, *db_, nullptr, clock_);
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.status().code(), StatusCode::kInvalidArgument);
}

TEST_F(FleetTest, ApplyScaleAndReadopt) {
  auto f = Make();
  ASSERT_NE(f, nullptr);
  auto created = f->Apply(Spec("a", 2));
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_TRUE(*created);
  f->Tick();
  std::vector<int64_t> pids = Pids(*f, "a");
  ASSERT_EQ(pids.size(), 2u);
  for (int64_t p : pids) EXPECT_GT(p, 0);
  auto st = f->Get("a");
  EXPECT_GT(st->spec.port, 0);
  EXPECT_EQ(st->ready, 0);  // the fake never reports ready

  // Errors name the problem.
  EXPECT_EQ(f->Get("nope").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(f->Scale("nope", 1).code(), StatusCode::kNotFound);
  EXPECT_EQ(f->Scale("a", 65).code(), StatusCode::kInvalidArgument);
  DeploymentSpec clash = Spec("b", 1);
  clash.port = st->spec.port;
  EXPECT_EQ(f->Apply(clash).status().code(), StatusCode::kAlreadyExists);

  // Re-apply: an update (not created), same port kept.
  auto again = f->Apply(Spec("a", 2));
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(*again);
  EXPECT_EQ(f->Get("a")->spec.port, st->spec.port);

  // A new fleet on the same database re-adopts the running replicas.
  f->Shutdown();
  f.reset();
  auto g = Make();
  ASSERT_TRUE(g->Start().ok());
  g->Tick();
  EXPECT_EQ(Pids(*g, "a"), pids);
  auto adopted = g->Get("a");
  ASSERT_TRUE(adopted.ok());
  for (const auto& r : adopted->replicas) EXPECT_TRUE(r.adopted);

  // Scale to 3 then 1: one new pid, then two stopped.
  ASSERT_TRUE(g->Scale("a", 3).ok());
  g->Tick();
  EXPECT_EQ(Pids(*g, "a").size(), 3u);
  ASSERT_TRUE(g->Scale("a", 1).ok());
  g->Tick();
  EXPECT_EQ(Pids(*g, "a").size(), 1u);

  // Delete stops everything and forgets the deployment.
  std::vector<int64_t> all;
  auto before = g->Get("a");
  ASSERT_TRUE(before.ok());
  for (const auto& r : before->replicas) all.push_back(r.pid);
  ASSERT_TRUE(g->Delete("a").ok());
  for (int64_t p : all) {
    EXPECT_FALSE(ProcessStartTime(static_cast<pid_t>(p)).ok()) << p;
  }
  EXPECT_EQ(g->Get("a").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(g->Delete("a").code(), StatusCode::kNotFound);
  g->Shutdown();
}

TEST_F(FleetTest, LeaseIsHeldByOneOwnerUntilItExpires) {
  auto lease = FleetLease::Open(*db_);
  ASSERT_TRUE(lease.ok()) << lease.status();
  FleetLease& l = **lease;
  EXPECT_EQ(l.TryHold("", 0, 10).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(l.TryHold("a", 10, 10).status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(*l.TryHold("a", 100, 200));   // free
  EXPECT_FALSE(*l.TryHold("b", 150, 250));  // a's, not expired
  EXPECT_TRUE(*l.TryHold("a", 150, 300));   // renewed by its holder
  auto h = l.Current();
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->owner, "a");
  EXPECT_EQ(h->until_micros, 300);
  EXPECT_FALSE(*l.TryHold("b", 299, 400));
  EXPECT_TRUE(*l.TryHold("b", 300, 400));  // expired: taken over
  EXPECT_FALSE(*l.TryHold("a", 301, 500));
  ASSERT_TRUE(l.Release("a").ok());  // not a's any more: no effect
  EXPECT_FALSE(*l.TryHold("a", 302, 500));
  ASSERT_TRUE(l.Release("b").ok());
  EXPECT_TRUE(*l.TryHold("a", 302, 500));  // released: free at once
}

// Two control planes on one database: the lease holder supervises; the
// standby shows the recorded deployments, refuses changes naming the holder,
// and once the holder stops renewing (it died) takes over and re-adopts the
// live replicas instead of starting new ones.
TEST_F(FleetTest, StandbyTakesOverTheReplicasWhenTheLeaseExpires) {
  auto a = Make("cp-a", 1000);
  auto b = Make("cp-b", 1000);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  ASSERT_TRUE(a->Start().ok());
  ASSERT_TRUE(b->Start().ok());
  ASSERT_TRUE(a->Apply(Spec("ha", 2)).ok());
  a->Tick();
  std::vector<int64_t> pids = Pids(*a, "ha");
  ASSERT_EQ(pids.size(), 2u);

  auto refused = b->Apply(Spec("other", 1));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(refused.status().message().find("cp-a"), std::string::npos) << refused.status();
  EXPECT_EQ(b->Scale("ha", 3).code(), StatusCode::kUnavailable);
  EXPECT_EQ(b->Delete("ha").code(), StatusCode::kUnavailable);
  auto seen = b->Get("ha");
  ASSERT_TRUE(seen.ok()) << seen.status();
  ASSERT_EQ(seen->replicas.size(), 2u);
  EXPECT_EQ(seen->replicas[0].state, "recorded");
  EXPECT_EQ(b->Get("nope").status().code(), StatusCode::kNotFound);

  // `a` dies (its loop stops renewing; no clean release). Within its lease
  // `b` still refuses; after it, `b` supervises the same processes.
  a.release();  // as kill -9: no destructor, no Release
  bool took_over = false;
  for (int i = 0; i < 300 && !took_over; ++i) {
    took_over = b->Scale("ha", 2).ok();
    if (!took_over) clock_.SleepMicros(20'000);
  }
  ASSERT_TRUE(took_over);
  b->Tick();
  EXPECT_EQ(Pids(*b, "ha"), pids);
  auto adopted = b->Get("ha");
  ASSERT_TRUE(adopted.ok());
  for (const auto& r : adopted->replicas) EXPECT_TRUE(r.adopted) << r.pid;
  ASSERT_TRUE(b->Delete("ha").ok());
  b->Shutdown();
}

TEST_F(FleetTest, CrashedReplicaIsRestartedAfterBackoff) {
  auto f = Make();
  ASSERT_NE(f, nullptr);
  ASSERT_TRUE(f->Apply(Spec("c", 1)).ok());
  f->Tick();
  std::vector<int64_t> pids = Pids(*f, "c");
  ASSERT_EQ(pids.size(), 1u);
  ::kill(static_cast<pid_t>(pids[0]), SIGKILL);
  // Poll (a condition, generous deadline) until the crash is noticed and the
  // replica restarted with a new pid.
  bool restarted = false;
  for (int i = 0; i < 200 && !restarted; ++i) {
    f->Tick();
    auto st = f->Get("c");
    restarted = st->replicas.size() == 1 && st->replicas[0].pid > 0 &&
                st->replicas[0].pid != pids[0] && st->replicas[0].restarts == 1;
    if (!restarted) clock_.SleepMicros(20'000);
  }
  Pids(*f, "c");
  EXPECT_TRUE(restarted);
  ASSERT_TRUE(f->Delete("c").ok());
}

// A replica that exits at once (here: its port is taken) is restarted with
// backoff, and the deployment says why it is not ready: its last output
// line, and that it is crash-looping once it keeps exiting.
TEST_F(FleetTest, CrashLoopingReplicaReportsItsLastOutput) {
  std::ofstream(bin_, std::ios::trunc)
      << "#!/bin/sh\necho 'starting'\n"
      << "echo 'error: cannot bind 127.0.0.1:9: Address already in use' >&2\nexit 1\n";
  FleetOptions o;
  o.home = (dir_ / "home").string();
  o.tandem_binary = bin_;
  o.tick_ms = 3'600'000;
  o.backoff_initial_ms = 1;
  o.backoff_max_ms = 1;
  auto f = Fleet::Open(o, *db_, nullptr, clock_);
  ASSERT_TRUE(f.ok()) << f.status();
  ASSERT_TRUE((*f)->Apply(Spec("loop", 1)).ok());
  std::string reason;
  for (int i = 0; i < 500 && reason.find("crash loop") == std::string::npos; ++i) {
    (*f)->Tick();
    auto st = (*f)->Get("loop");
    ASSERT_TRUE(st.ok());
    ASSERT_EQ(st->replicas.size(), 1u);
    reason = st->replicas[0].reason;
    if (st->replicas[0].pid > 0) spawned_.push_back(static_cast<pid_t>(st->replicas[0].pid));
    clock_.SleepMicros(10'000);
  }
  EXPECT_NE(reason.find("crash loop"), std::string::npos) << reason;
  EXPECT_NE(reason.find("cannot bind 127.0.0.1:9: Address already in use"), std::string::npos)
      << reason;
  auto st = (*f)->Get("loop");
  EXPECT_EQ(st->replicas[0].ToJson()["reason"], reason);
  EXPECT_EQ(st->ready, 0);
}

// A live replica that is not ready reports why in its repository index; the
// fleet shows that reason per replica.
TEST_F(FleetTest, NotReadyReplicaReportsItsLoadFailure) {
  http::Server fake({});
  fake.Route("GET", "/v2/health/ready",
             [](http::Request&, http::Response& res) { res.Json(503, R"({"ready":false})"); });
  fake.Route("POST", "/v2/repository/index", [](http::Request&, http::Response& res) {
    res.Json(200, R"([{"name":"m","version":"","state":"UNAVAILABLE",)"
                  R"("reason":"resolving m@champion: registered model 'm' not found"}])");
  });
  ASSERT_TRUE(fake.Start().ok());
  // The fake replica writes its state file (pid + admin port) and stays up.
  std::ofstream(bin_, std::ios::trunc) << R"(#!/bin/sh
while [ "$1" != --state-file ]; do shift; done
echo "{\"pid\":$$,\"port\":0,\"admin_port\":)"
                                       << fake.port() << R"(}" > "$2"
exec sleep 600
)";
  auto f = Make();
  ASSERT_NE(f, nullptr);
  ASSERT_TRUE(f->Apply(Spec("nr", 1)).ok());
  std::string reason;
  for (int i = 0; i < 500 && reason.empty(); ++i) {
    f->Tick();
    auto st = f->Get("nr");
    ASSERT_TRUE(st.ok());
    reason = st->replicas[0].reason;
    if (st->replicas[0].pid > 0) spawned_.push_back(static_cast<pid_t>(st->replicas[0].pid));
    if (reason.empty()) clock_.SleepMicros(10'000);
  }
  EXPECT_EQ(reason, "UNAVAILABLE: resolving m@champion: registered model 'm' not found");
}

}  // namespace
}  // namespace tandem::serving::fleet
