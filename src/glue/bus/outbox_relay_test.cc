// The outbox relay from a SQLite outbox to a real NATS JetStream bus: only
// committed events arrive, each exactly once, in outbox order, also when the
// publish fails half-way or the relay process is killed mid-flow.
#include "glue/bus/outbox_relay.h"

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <random>
#include <set>
#include <thread>

#include "common/testing/test_server.h"
#include "glue/bus/sql_event_bus.h"
#include "common/testing/eventually.h"

namespace tandem::bus {
namespace {

Event Ev(int i) {
  Event e;
  e.source = "tandem.registry";
  e.detail_type = "Model Version Created";
  e.detail = Json{{"i", i}};
  return e;
}

using tandem::testing::Eventually;
constexpr int kRelaySeconds = 120;  // a relay restarts and catches up

// All events in the bus's history.
std::vector<SequencedEvent> History(EventBus& bus) {
  std::vector<SequencedEvent> out;
  int64_t after = 0;
  while (true) {
    auto t = bus.Tail(TailOptions{.after_seq = after, .limit = 1000});
    if (!t.ok() || t->events.empty()) return out;
    for (auto& e : t->events) out.push_back(std::move(e));
    after = t->last_seq;
  }
}

int64_t OutboxRows(sql::Database& db) {
  int64_t n = -1;
  (void)db.Read([&](sql::Transaction& tx) -> Status {
    ASSIGN_OR_RETURN(auto row, tx.QueryOne("SELECT COUNT(*) FROM bus_events"));
    n = row.Int(0);
    return OkStatus();
  });
  return n;
}

// Forwards to a real bus but reports failure for the n-th publish *after*
// the bus stored it (as when the connection drops before the ack arrives).
class FlakyBus : public EventBus {
 public:
  FlakyBus(EventBus& real, int fail_at) : real_(real), fail_at_(fail_at) {}

 protected:
  StatusOr<SequencedEvent> DoPublish(const Event& e) override {
    auto r = real_.Publish(e);
    if (++count_ == fail_at_) return UnavailableError("connection lost before the ack");
    return r;
  }
  Status DoPutRule(std::string_view, const Json&, std::string_view) override { return Bad(); }
  Status DoDeleteRule(std::string_view) override { return Bad(); }
  StatusOr<std::vector<Rule>> DoListRules() override { return Bad(); }
  Status DoCreateQueue(std::string_view, const QueueOptions&) override { return Bad(); }
  Status DoDeleteQueue(std::string_view) override { return Bad(); }
  StatusOr<QueueInfo> DoGetQueue(std::string_view) override { return Bad(); }
  StatusOr<std::vector<QueueInfo>> DoListQueues() override { return Bad(); }
  StatusOr<std::vector<Message>> DoReceive(std::string_view, const ReceiveOptions&) override {
    return Bad();
  }
  Status DoDeleteMessage(std::string_view, std::string_view) override { return Bad(); }
  Status DoChangeVisibility(std::string_view, std::string_view, int64_t) override { return Bad(); }
  StatusOr<TailResult> DoTail(const TailOptions&) override { return Bad(); }
  Status DoMaintain() override { return Bad(); }

 private:
  static Status Bad() { return UnimplementedError("not used"); }
  EventBus& real_;
  int fail_at_;
  int count_ = 0;
};

class OutboxRelayTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::optional<std::string> nats = testing::RequireTestServer("nats");
    if (!nats) return;
    std::mt19937_64 rng(std::random_device{}());
    nats_uri_ =
        *nats + "?prefix=R" + std::to_string(getpid()) + "_" + std::to_string(rng() % 100000000);
    char tmpl[] = "/tmp/tandem_relay_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    db_uri_ = "sqlite://" + dir_ + "/outbox.db";
    auto db = sql::Database::Open(db_uri_);
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = std::move(*db);
    auto outbox = SqlEventBus::Attach(*db_, Clock::Real());
    ASSERT_TRUE(outbox.ok()) << outbox.status();
    outbox_ = std::move(*outbox);
    auto bus = EventBus::Open(nats_uri_);
    ASSERT_TRUE(bus.ok()) << bus.status();
    nats_ = std::move(*bus);
  }
  void TearDown() override {
    nats_.reset();
    outbox_.reset();
    db_.reset();
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  // Appends events [from, to) in one committed transaction each.
  void Append(int from, int to, std::vector<std::string>* ids) {
    for (int i = from; i < to; ++i) {
      Event e = Ev(i);
      e.id = "ev-" + std::to_string(i);
      ASSERT_TRUE(
          db_->WithTransaction([&](sql::Transaction& tx) { return outbox_->Append(tx, e); }).ok());
      ids->push_back(e.id);
    }
  }

  std::string dir_, db_uri_, nats_uri_;
  std::unique_ptr<sql::Database> db_;
  std::unique_ptr<SqlEventBus> outbox_;
  std::unique_ptr<EventBus> nats_;
};

TEST_F(OutboxRelayTest, CommittedEventsArriveInOrderRolledBackOnesNever) {
  std::vector<std::string> ids;
  Append(0, 5, &ids);
  Status rolled = db_->WithTransaction([&](sql::Transaction& tx) -> Status {
    Event e = Ev(99);
    e.id = "rolled-back";
    RETURN_IF_ERROR(outbox_->Append(tx, e));
    return AbortedError("the caller's change failed");
  });
  EXPECT_EQ(rolled.code(), StatusCode::kAborted);
  OutboxRelay relay(*db_, *nats_, OutboxRelayOptions{.batch = 2});
  // The relay lag (GET /metrics): what waits and since when.
  auto backlog = relay.Backlog();
  ASSERT_TRUE(backlog.ok()) << backlog.status();
  EXPECT_EQ(backlog->pending, 5);
  EXPECT_GT(backlog->oldest_published_ms, 0);
  int total = 0;
  while (true) {
    auto n = relay.RelayOnce();
    ASSERT_TRUE(n.ok()) << n.status();
    if (*n == 0) break;
    total += *n;
  }
  EXPECT_EQ(total, 5);
  EXPECT_EQ(OutboxRows(*db_), 0);
  EXPECT_EQ(relay.Backlog()->pending, 0);
  EXPECT_EQ(relay.Backlog()->oldest_published_ms, 0);
  auto history = History(*nats_);
  std::vector<std::string> got;
  for (const auto& e : history) got.push_back(e.event.id);
  EXPECT_EQ(got, ids);
  EXPECT_EQ(history[0].event.detail["i"], 0);
}

TEST_F(OutboxRelayTest, PublishFailingAfterTheServerStoredItIsNotDuplicated) {
  std::vector<std::string> ids;
  Append(0, 6, &ids);
  FlakyBus flaky(*nats_, /*fail_at=*/3);
  OutboxRelay first(*db_, flaky);
  auto n = first.RelayOnce();
  EXPECT_EQ(n.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(OutboxRows(*db_), 4);  // rows 0 and 1 relayed and deleted
  OutboxRelay second(*db_, *nats_);
  n = second.RelayOnce();
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, 4);  // row 2 again: AlreadyExists on the bus counts as relayed
  EXPECT_EQ(OutboxRows(*db_), 0);
  std::vector<std::string> got;
  for (const auto& e : History(*nats_)) got.push_back(e.event.id);
  EXPECT_EQ(got, ids);
}

TEST_F(OutboxRelayTest, RelayedBusRoutesOutboxEventsToQueues) {
  auto relayed =
      OpenRelayedBus(*db_, std::move(nats_), Clock::Real(), OutboxRelayOptions{.poll_ms = 20});
  ASSERT_TRUE(relayed.ok()) << relayed.status();
  EventBus& bus = **relayed;
  ASSERT_NE(bus.outbox(), nullptr);
  ASSERT_TRUE(bus.CreateQueue("models").ok());
  ASSERT_TRUE(bus.PutRule("r", Json::parse(R"({"source": ["tandem.registry"]})"), "models").ok());
  ASSERT_TRUE(
      db_->WithTransaction([&](sql::Transaction& tx) { return bus.outbox()->Append(tx, Ev(7)); })
          .ok());
  auto got = bus.Receive("models", ReceiveOptions{.wait_ms = 20'000});
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->size(), 1u);
  EXPECT_EQ((*got)[0].event.detail["i"], 7);
  EXPECT_TRUE(Eventually([&] { return OutboxRows(*db_) == 0; }, kRelaySeconds));
}

// --- a relay process killed mid-flow ---------------------------------------------

TEST(OutboxRelayChild, Run) {
  const char* db_uri = getenv("TANDEM_RELAY_CHILD_DB");
  const char* nats_uri = getenv("TANDEM_RELAY_CHILD_NATS");
  if (db_uri == nullptr || nats_uri == nullptr) {
    GTEST_SKIP() << "only runs as the relay child of OutboxRelayTest.KilledRelay...";
  }
  auto db = sql::Database::Open(db_uri);
  auto bus = EventBus::Open(nats_uri);
  if (!db.ok() || !bus.ok()) _exit(10);
  OutboxRelay relay(**db, **bus, OutboxRelayOptions{.batch = 7, .poll_ms = 10});
  while (true) {  // until killed
    auto n = relay.RelayOnce();
    if (!n.ok() || *n == 0) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

pid_t SpawnRelay(const std::string& db_uri, const std::string& nats_uri) {
  pid_t pid = fork();
  if (pid == 0) {
    setenv("TANDEM_RELAY_CHILD_DB", db_uri.c_str(), 1);
    setenv("TANDEM_RELAY_CHILD_NATS", nats_uri.c_str(), 1);
    int devnull = open("/dev/null", O_WRONLY);
    if (devnull >= 0) dup2(devnull, 1);
    execl("/proc/self/exe", "relay_child", "--gtest_filter=OutboxRelayChild.Run", nullptr);
    _exit(127);
  }
  return pid;
}

TEST_F(OutboxRelayTest, KilledAndRestartedRelayLosesAndDuplicatesNothing) {
  constexpr int kEvents = 400;
  std::vector<std::string> ids;
  pid_t relay = SpawnRelay(db_uri_, nats_uri_);
  ASSERT_GT(relay, 0);
  Append(0, kEvents / 2, &ids);
  // Kill it (SIGKILL: no cleanup) while it is mid-flow.
  ASSERT_TRUE(Eventually([&] { return History(*nats_).size() >= 50; }, kRelaySeconds));
  kill(relay, SIGKILL);
  int status = 0;
  waitpid(relay, &status, 0);
  const size_t at_kill = History(*nats_).size();
  Append(kEvents / 2, kEvents, &ids);
  relay = SpawnRelay(db_uri_, nats_uri_);
  ASSERT_TRUE(Eventually([&] { return OutboxRows(*db_) == 0; }, kRelaySeconds));
  kill(relay, SIGKILL);
  waitpid(relay, &status, 0);
  std::vector<std::string> got;
  for (const auto& e : History(*nats_)) got.push_back(e.event.id);
  EXPECT_EQ(got.size(), static_cast<size_t>(kEvents))
      << "relayed " << at_kill << " before the kill";
  EXPECT_EQ(std::set<std::string>(got.begin(), got.end()).size(), got.size()) << "duplicates";
  EXPECT_EQ(got, ids);  // and in outbox order
}

}  // namespace
}  // namespace tandem::bus
