// The notebook service with a real Jupyter server (Debian's jupyter-notebook)
// on the real local substrate (sandboxed when bubblewrap is present).
#include "compute/notebooks/service.h"

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>
#include <type_traits>

#include "absl/synchronization/mutex.h"
#include "common/http_client.h"
#include "glue/sql/locks.h"
#include "compute/jobs/loop_leases.h"
#include "compute/jobs/store.h"
#include "compute/substrates/local/substrate.h"
#include "compute/testing/notebook_env.h"
#include "gmock/gmock.h"

namespace tandem::compute::notebooks {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

constexpr char kJupyter[] = "/usr/bin/jupyter-notebook";

class NotebookServiceTest : public testing::NotebookTestEnv {
 protected:
  void SetUp() override {
    testing::NotebookTestEnv::SetUp();
    if (!fs::exists(kJupyter)) GTEST_FAIL() << kJupyter << " missing: run scripts/bootstrap";
  }
  void TearDown() override {
    StopAll();
    testing::NotebookTestEnv::TearDown();
  }
  void StopAll() {
    if (service_) {
      // Never leave a Jupyter server behind.
      if (auto all = service_->List(""); all.ok()) {
        for (const auto& r : *all) (void)service_->StopNotebook(r.name);
        WaitAll([&] {
          auto active = service_->List("");
          for (const auto& r : *active) {
            if (IsActive(r.state)) return false;
          }
          return true;
        });
      }
      service_.reset();
    }
  }

  void Open(const std::string& jupyter = kJupyter, int64_t idle_timeout = 3600) {
    service_ = Make(jupyter, idle_timeout);
    if (service_) service_->Start();
  }

  // A notebook service on this glue; `leases`: one control plane's (see
  // jobs/loop_leases.h), nullptr = watches every notebook.
  std::unique_ptr<NotebookService> Make(const std::string& jupyter = kJupyter,
                                        int64_t idle_timeout = 3600,
                                        jobs::LoopLeases* leases = nullptr) {
    local::LocalSubstrateOptions lopts;
    lopts.grace_seconds = 5;
    auto substrate = local::LocalSubstrate::Create(lopts);
    EXPECT_TRUE(substrate.ok()) << substrate.status();
    if (!substrate.ok()) return nullptr;
    NotebookServiceOptions opts;
    opts.leases = leases;
    opts.home = home_;
    opts.db = db_.get();
    opts.outbox = bus_->outbox();
    opts.store = store_.get();
    opts.substrate = *std::move(substrate);
    opts.jupyter_binary = jupyter;
    opts.api_url = "http://127.0.0.1:7070";
    opts.default_idle_timeout_seconds = idle_timeout;
    opts.poll_interval_ms = 200;
    opts.start_timeout_seconds = 120;
    opts.stop_grace_seconds = 5;
    opts.cost = [](const std::string&, const jobs::Metering& m) { return m.wall_seconds * 0.01; };
    auto svc = NotebookService::Open(std::move(opts));
    EXPECT_TRUE(svc.ok()) << svc.status();
    return svc.ok() ? *std::move(svc) : nullptr;
  }

  template <typename F>
  bool WaitAll(F done, int64_t timeout_ms = 150'000) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (std::chrono::steady_clock::now() < deadline) {
      if (done()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
  }

  NotebookRecord WaitState(const std::string& name, NotebookState state) {
    NotebookRecord last;
    bool ok = WaitAll([&] {
      auto r = service_->Get(name);
      if (!r.ok()) return false;
      last = *r;
      return last.state == state || (!IsActive(last.state) && !IsActive(state));
    });
    EXPECT_TRUE(ok) << name << " stuck in " << NotebookStateName(last.state) << " "
                    << last.failure_reason;
    EXPECT_EQ(last.state, state) << last.failure_reason;
    return last;
  }

  std::unique_ptr<NotebookService> service_;
};

// High availability: two control planes on one database, each watching the
// notebooks whose loop lease it holds. "a" starts a notebook and watches it;
// "b" leaves it alone while "a" lives, and takes the watch over at once when
// "a" dies (its liveness lock is free; the lease, a minute, has not
// expired): a stop asked through "b" then saves the directory and ends it.
TEST_F(NotebookServiceTest, SurvivorTakesOverADeadControlPlanesNotebook) {
  auto store = jobs::JobStore::Open(*db_, *bus_->outbox(), Clock::Real());
  ASSERT_TRUE(store.ok()) << store.status();
  auto a_alive = sql::HoldLock(*db_, jobs::OwnerLockKey("nb-a"), /*wait=*/false);
  ASSERT_TRUE(a_alive.ok()) << a_alive.status();
  ASSERT_TRUE((*store)->RegisterLivenessLock("nb-a").ok());
  auto a_leases = jobs::LoopLeases::Open(*db_, Clock::Real(), "nb-a", 60'000, 100);
  auto b_leases = jobs::LoopLeases::Open(*db_, Clock::Real(), "nb-b", 60'000, 100);
  ASSERT_TRUE(a_leases.ok() && b_leases.ok());
  // The services use the leases: they go first, whatever happens below.
  using Self = std::remove_pointer_t<decltype(this)>;
  struct StopFirst {
    Self* test;
    ~StopFirst() { test->StopAll(); }
  } stop_first{this};
  auto a = Make(kJupyter, 3600, a_leases->get());
  auto b = Make(kJupyter, 3600, b_leases->get());
  ASSERT_TRUE(a && b);
  a->Start();
  b->Start();
  NotebookStartOptions o;
  o.team = "vision";
  ASSERT_TRUE(a->StartNotebook("ha-lab", o).ok());
  service_ = std::move(a);  // WaitState reads through service_
  WaitState("ha-lab", NotebookState::kInService);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // b's loop passes meanwhile
  auto holder = (*b_leases)->Holder("notebook", "ha-lab");
  ASSERT_TRUE(holder.ok());
  EXPECT_EQ(holder->first, "nb-a") << "b watched a live control plane's notebook";

  service_.reset();  // "a" dies; Jupyter keeps running
  a_alive->reset();
  service_ = std::move(b);
  auto stopping = service_->StopNotebook("ha-lab");
  ASSERT_TRUE(stopping.ok()) << stopping.status();
  NotebookRecord r = WaitState("ha-lab", NotebookState::kStopped);
  EXPECT_FALSE(r.snapshot_key.empty()) << "the directory was not saved";
  holder = (*b_leases)->Holder("notebook", "ha-lab");
  ASSERT_TRUE(holder.ok());
  EXPECT_EQ(holder->first, "nb-b");
}

TEST_F(NotebookServiceTest, StartsServesStopsSavesAndRestoresItsDirectory) {
  Open();
  NotebookStartOptions o;
  o.team = "vision";
  auto started = service_->StartNotebook("lab", o);
  ASSERT_TRUE(started.ok()) << started.status();
  EXPECT_EQ(started->execution, 1);
  NotebookRecord r = WaitState("lab", NotebookState::kInService);
  ASSERT_GT(r.port, 0);
  EXPECT_THAT(r.Url(), HasSubstr("token=" + r.token));

  // Jupyter answers with the token and refuses without it.
  http::Client client;
  auto ok =
      client.Get("http://127.0.0.1:" + std::to_string(r.port) + "/api/status?token=" + r.token);
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->status, 200);
  auto denied = client.Get("http://127.0.0.1:" + std::to_string(r.port) + "/api/kernels");
  ASSERT_TRUE(denied.ok());
  EXPECT_EQ(denied->status, 403);

  // Write a file through Jupyter's contents API (as a user would).
  http::ClientRequest put;
  put.method = "PUT";
  put.url =
      "http://127.0.0.1:" + std::to_string(r.port) + "/api/contents/notes.txt?token=" + r.token;
  put.body = R"({"type":"file","format":"text","content":"hello from execution 1"})";
  put.headers = {{"Content-Type", "application/json"}};
  auto wrote = client.Do(put);
  ASSERT_TRUE(wrote.ok()) << wrote.status();
  ASSERT_EQ(wrote->status, 201) << wrote->body;

  // Starting an active notebook returns it unchanged.
  auto again = service_->StartNotebook("lab", o);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->execution, 1);

  ASSERT_TRUE(service_->StopNotebook("lab").ok());
  r = WaitState("lab", NotebookState::kStopped);
  EXPECT_EQ(r.stop_reason, "requested");
  EXPECT_EQ(r.snapshot_key, "notebooks/lab/workdir.tar.gz");
  EXPECT_GT(r.wall_seconds, 0);
  EXPECT_GT(r.cost, 0);
  EXPECT_EQ(r.Url(), "");
  EXPECT_TRUE(store_->Stat(r.snapshot_key).ok());
  EXPECT_FALSE(fs::exists(r.instance_dir)) << "nothing stays resident between executions";

  // The next execution finds the file.
  auto second = service_->StartNotebook("lab", o);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->execution, 2);
  r = WaitState("lab", NotebookState::kInService);
  std::ifstream in(r.instance_dir + "/work/notes.txt");
  std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(content, "hello from execution 1");
  const double first_wall = r.wall_seconds;
  ASSERT_TRUE(service_->StopNotebook("lab").ok());
  r = WaitState("lab", NotebookState::kStopped);
  EXPECT_GT(r.wall_seconds, first_wall) << "metered per execution, summed";

  EXPECT_EQ(NotebookEvents(), (std::vector<std::string>{
                                  "lab:Pending", "lab:InService", "lab:Stopping", "lab:Stopped",
                                  "lab:Pending", "lab:InService", "lab:Stopping", "lab:Stopped"}));
}

// Whether a process on this machine has `entry` ("NAME=value") in its
// environment (root reads every /proc/<pid>/environ).
bool SomeProcessHasEnv(const std::string& entry) {
  for (const auto& d : fs::directory_iterator("/proc")) {
    std::ifstream in(d.path() / "environ", std::ios::binary);
    if (!in) continue;
    std::string env((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    for (size_t pos = 0; pos < env.size();) {
      size_t end = env.find('\0', pos);
      if (end == std::string::npos) end = env.size();
      if (env.compare(pos, end - pos, entry) == 0) return true;
      pos = end + 1;
    }
  }
  return false;
}

// Whether any file under `dir` contains `needle`.
bool SomeFileContains(const fs::path& dir, const std::string& needle) {
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    if (!it->is_regular_file()) continue;
    std::ifstream in(it->path(), std::ios::binary);
    std::string body((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (body.find(needle) != std::string::npos) return true;
  }
  return false;
}

// Each execution gets its own API token in its environment (and nowhere in
// its record, launch files or log), revoked when the execution ends.
TEST_F(NotebookServiceTest, EachExecutionGetsAnAPITokenRevokedWhenItEnds) {
  Open();
  struct Calls {
    absl::Mutex mu;
    std::vector<std::string> log;
    int issued = 0;
  };
  auto calls = std::make_shared<Calls>();
  service_->set_credentials(
      {.issue = [calls](const std::string& team, const std::string& name, int64_t execution,
                        int64_t ttl) -> StatusOr<std::string> {
         absl::MutexLock lock(&calls->mu);
         calls->log.push_back("issue " + team + "/" + name + " " + std::to_string(execution) +
                              (ttl > 0 ? " expires" : " never"));
         return "tdm_test_token_" + std::to_string(++calls->issued) + "_f00dfeed";
       },
       .revoke = [calls](const std::string& team, const std::string& name) {
         absl::MutexLock lock(&calls->mu);
         calls->log.push_back("revoke " + team + "/" + name);
         return OkStatus();
       }});
  NotebookStartOptions o;
  o.team = "vision";
  ASSERT_TRUE(service_->StartNotebook("tok", o).ok());
  NotebookRecord r = WaitState("tok", NotebookState::kInService);
  EXPECT_TRUE(SomeProcessHasEnv("TANDEM_TOKEN=tdm_test_token_1_f00dfeed"))
      << "Jupyter (and so its kernels) has the token in its environment";
  EXPECT_EQ(r.ToJson(true).dump().find("tdm_test_token"), std::string::npos) << "not in the record";
  EXPECT_FALSE(SomeFileContains(home_, "tdm_test_token_1")) << "not in any file under the home";
  {
    absl::MutexLock lock(&calls->mu);
    EXPECT_EQ(calls->log, (std::vector<std::string>{"issue vision/tok 1 expires"}));
  }
  ASSERT_TRUE(service_->StopNotebook("tok").ok());
  r = WaitState("tok", NotebookState::kStopped);
  EXPECT_FALSE(SomeFileContains(home_, "tdm_test_token_1")) << "nor anywhere under the home after the stop";
  absl::MutexLock lock(&calls->mu);
  EXPECT_EQ(calls->log, (std::vector<std::string>{"issue vision/tok 1 expires",
                                                  "revoke vision/tok"}));
}

// A team the identity store does not know: the notebook starts without a
// token; any other failure to issue one fails the start, and says why.
TEST_F(NotebookServiceTest, ATokenThatCannotBeIssuedIsExplained) {
  Open();
  // Shared: the service calls revoke again when the fixture stops "ghost".
  auto revoked = std::make_shared<std::vector<std::string>>();
  service_->set_credentials(
      {.issue = [](const std::string& team, const std::string&, int64_t,
                   int64_t) -> StatusOr<std::string> {
         if (team == "ghost") return NotFoundError("team ghost not found");
         return FailedPreconditionError("principal notebooks@" + team + " is a user");
       },
       .revoke = [revoked](const std::string& team, const std::string& name) {
         revoked->push_back(team + "/" + name);  // the watcher thread: after StartNotebook
         return OkStatus();
       }});
  NotebookStartOptions o;
  o.team = "odd";
  auto refused = service_->StartNotebook("odd", o);
  ASSERT_TRUE(refused.ok()) << refused.status();
  EXPECT_EQ(refused->state, NotebookState::kFailed);
  EXPECT_THAT(refused->failure_reason,
              HasSubstr("cannot issue the notebook's API token: principal notebooks@odd"));
  EXPECT_EQ(*revoked, std::vector<std::string>{"odd/odd"});
  o.team = "ghost";
  ASSERT_TRUE(service_->StartNotebook("ghost", o).ok());
  WaitState("ghost", NotebookState::kInService);
}

TEST_F(NotebookServiceTest, AnIdleNotebookIsCulledAndSaved) {
  Open(kJupyter, /*idle_timeout=*/2);
  auto started = service_->StartNotebook("idle", {});
  ASSERT_TRUE(started.ok()) << started.status();
  NotebookRecord r = WaitState("idle", NotebookState::kInService);
  std::ofstream(r.instance_dir + "/work/kept.txt") << "kept";
  r = WaitState("idle", NotebookState::kStopped);
  EXPECT_EQ(r.stop_reason, "idle");
  EXPECT_FALSE(r.snapshot_digest.empty());
}

TEST_F(NotebookServiceTest, ASurvivingNotebookIsPickedUpByTheNextService) {
  Open();
  ASSERT_TRUE(service_->StartNotebook("keep", {}).ok());
  NotebookRecord r = WaitState("keep", NotebookState::kInService);
  service_.reset();  // the control plane goes away; Jupyter keeps running
  http::Client client;
  auto alive =
      client.Get("http://127.0.0.1:" + std::to_string(r.port) + "/api/status?token=" + r.token);
  ASSERT_TRUE(alive.ok()) << alive.status();
  EXPECT_EQ(alive->status, 200);
  Open();
  ASSERT_TRUE(service_->StopNotebook("keep").ok());
  r = WaitState("keep", NotebookState::kStopped);
  EXPECT_EQ(r.stop_reason, "requested");
}

TEST_F(NotebookServiceTest, AServerThatCannotStartFailsWithItsReason) {
  // Not a Jupyter: python3 refuses Jupyter's options and says so on stderr.
  // (A script under /tmp would be invisible inside the sandbox's private /tmp.)
  Open("/usr/bin/python3");
  auto started = service_->StartNotebook("broken", {});
  ASSERT_TRUE(started.ok()) << started.status();
  NotebookRecord r = WaitState("broken", NotebookState::kFailed);
  EXPECT_THAT(r.failure_reason, HasSubstr("exited before it was ready"));
  EXPECT_THAT(r.failure_reason, HasSubstr("--no-browser"));
}

TEST_F(NotebookServiceTest, BadNamesAndUnknownNotebooksAreRefused) {
  Open();
  EXPECT_EQ(service_->StartNotebook("Bad_Name", {}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(service_->StartNotebook("../x", {}).status().code(), StatusCode::kInvalidArgument);
  NotebookStartOptions neg;
  neg.idle_timeout_seconds = -1;
  EXPECT_EQ(service_->StartNotebook("ok", neg).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(service_->StopNotebook("ghost").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(service_->Get("ghost").status().code(), StatusCode::kNotFound);
}

TEST_F(NotebookServiceTest, AnImageIsResolvedBeforeAnythingIsStored) {
  Open();  // no image store: --image cannot be honoured
  NotebookStartOptions o;
  o.image = "vision/jupyter:1";
  auto started = service_->StartNotebook("lab", o);
  ASSERT_FALSE(started.ok());
  EXPECT_EQ(started.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(started.status().message(), HasSubstr("vision/jupyter:1"));
  EXPECT_EQ(service_->Get("lab").status().code(), StatusCode::kNotFound);
}

TEST(NotebookConfig, OptionsFromTheNotebooksSection) {
  auto defaults = NotebookServiceOptions::FromConfig(Config{});
  ASSERT_TRUE(defaults.ok()) << defaults.status();
  EXPECT_EQ(defaults->default_idle_timeout_seconds, 3600);
  Config config;
  config.raw = Json{{"notebooks", {{"idle_timeout_seconds", 0}, {"jupyter", "/opt/jupyter"}}}};
  auto o = NotebookServiceOptions::FromConfig(config);
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->default_idle_timeout_seconds, 0);
  EXPECT_EQ(o->jupyter_binary, "/opt/jupyter");

  for (const Json& bad : {Json{{"idle_timeout_seconds", -1}}, Json{{"idle_timeout_seconds", "1h"}},
                          Json{{"jupyter", ""}}, Json{{"jupyter", 3}}, Json{{"port", 8888}}}) {
    config.raw = Json{{"notebooks", bad}};
    auto r = NotebookServiceOptions::FromConfig(config);
    ASSERT_FALSE(r.ok()) << bad.dump();
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(std::string(r.status().message()).find("'notebooks."), std::string::npos)
        << r.status();
  }
  config.raw = Json{{"notebooks", "yes"}};
  EXPECT_FALSE(NotebookServiceOptions::FromConfig(config).ok());
}

}  // namespace
}  // namespace tandem::compute::notebooks
