// The SQL event bus: the conformance suite on SQLite, the transactional
// outbox, and multi-process fault tests (producers/consumers in separate
// processes on one SQLite file, a consumer killed with SIGKILL, a poison
// message ending in the dead-letter queue).
#include "glue/bus/sql_event_bus.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include "glue/bus/testing/event_bus_conformance.h"
#include "glue/sql/database.h"

namespace tandem::bus {
namespace {

std::string UriFor(const std::string& dir) { return "sqlite://" + dir + "/bus.db"; }

StatusOr<std::unique_ptr<EventBus>> MakeSqliteBus(Clock& clock, const std::string& dir) {
  return EventBus::Open(UriFor(dir), EventBusOptions{.clock = &clock});
}

INSTANTIATE_TEST_SUITE_P(Sqlite, EventBusConformanceTest,
                         ::testing::Values(EventBusFactory{"sqlite", MakeSqliteBus}),
                         [](const auto& info) { return info.param.name; });

TEST(EventBusOpenTest, SchemesAreCheckedByName) {
  // nats:// is the JetStream backend: nothing listens on port 1.
  auto nats = EventBus::Open("nats://127.0.0.1:1");
  EXPECT_EQ(nats.status().code(), StatusCode::kUnavailable);
  EXPECT_THAT(std::string(nats.status().message()), ::testing::HasSubstr("nats://127.0.0.1:1"));
  auto ftp = EventBus::Open("ftp://x");
  EXPECT_EQ(ftp.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(ftp.status().message()), ::testing::HasSubstr("'ftp'"));
  EXPECT_EQ(EventBus::Open("no-scheme").status().code(), StatusCode::kInvalidArgument);
}

class SqlEventBusTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/tandem_sqlbus_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    uri_ = UriFor(dir_);
    auto bus = EventBus::Open(uri_);
    ASSERT_TRUE(bus.ok()) << bus.status();
    bus_ = std::move(*bus);
  }
  void TearDown() override {
    bus_.reset();
    std::filesystem::remove_all(dir_);
  }

  // Runs `fn` in a forked child that opens its own bus; the child's exit code
  // is fn's return value (1 when the bus cannot be opened).
  pid_t Spawn(const std::function<int(EventBus&)>& fn) {
    pid_t pid = fork();
    if (pid == 0) {
      auto bus = EventBus::Open(uri_);
      int rc = bus.ok() ? fn(**bus) : 1;
      _exit(rc);
    }
    return pid;
  }

  // Waits for `pid` up to `seconds`; returns its exit code (-1 on timeout or
  // abnormal exit; the child is then killed).
  static int Join(pid_t pid, int seconds = 120) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
    int status = 0;
    while (std::chrono::steady_clock::now() < deadline) {
      pid_t r = waitpid(pid, &status, WNOHANG);
      if (r == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));  // polling a child
    }
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    return -1;
  }

  Status AllTo(const std::string& queue) {
    return bus_->PutRule("all-" + queue, Json::parse(R"({"source": [{"exists": true}]})"), queue);
  }

  std::string dir_, uri_;
  std::unique_ptr<EventBus> bus_;
};

TEST_F(SqlEventBusTest, TwoProducersTwoConsumersLoseNothing) {
  constexpr int kPerProducer = 500;
  ASSERT_TRUE(bus_->CreateQueue("work").ok());
  ASSERT_TRUE(AllTo("work").ok());
  const std::string done = dir_ + "/producers-done";

  std::vector<pid_t> consumers;
  for (int c = 0; c < 2; ++c) {
    const std::string out = dir_ + "/consumer-" + std::to_string(c) + ".txt";
    consumers.push_back(Spawn([&, out](EventBus& bus) {
      std::ofstream f(out);
      while (true) {
        auto msgs = bus.Receive("work", ReceiveOptions{.max_messages = 10, .wait_ms = 200});
        if (!msgs.ok()) return 2;
        if (msgs->empty() && std::filesystem::exists(done)) return 0;
        for (const auto& m : *msgs) {
          f << m.event.detail["producer"].get<int>() << ":" << m.event.detail["n"].get<int>()
            << "\n";
          f.flush();  // recorded before the ack
          if (!bus.DeleteMessage("work", m.receipt_handle).ok()) return 3;
        }
      }
    }));
  }
  std::vector<pid_t> producers;
  for (int p = 0; p < 2; ++p) {
    producers.push_back(Spawn([p](EventBus& bus) {
      for (int i = 0; i < kPerProducer; ++i) {
        Event e;
        e.source = "tandem.test";
        e.detail_type = "Load";
        e.detail = {{"producer", p}, {"n", i}};
        if (!bus.Publish(e).ok()) return 2;
      }
      return 0;
    }));
  }
  for (pid_t pid : producers) EXPECT_EQ(Join(pid), 0);
  std::ofstream(done).put('\n');
  for (pid_t pid : consumers) EXPECT_EQ(Join(pid), 0);

  std::set<std::string> seen;
  size_t lines = 0;
  for (int c = 0; c < 2; ++c) {
    std::ifstream f(dir_ + "/consumer-" + std::to_string(c) + ".txt");
    for (std::string line; std::getline(f, line);) {
      seen.insert(line);
      ++lines;
    }
  }
  EXPECT_GE(lines, 2u * kPerProducer);
  for (int p = 0; p < 2; ++p) {
    for (int i = 0; i < kPerProducer; ++i) {
      EXPECT_TRUE(seen.count(std::to_string(p) + ":" + std::to_string(i))) << p << ":" << i;
    }
  }
  auto q = bus_->GetQueue("work");
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(q->visible + q->in_flight, 0);
  auto tail = bus_->Tail(TailOptions{.limit = 1000});
  ASSERT_TRUE(tail.ok());
  EXPECT_EQ(tail->events.size(), 1000u);
}

TEST_F(SqlEventBusTest, KilledConsumersMessageIsRedeliveredAfterVisibilityTimeout) {
  ASSERT_TRUE(bus_->CreateQueue("work", QueueOptions{.visibility_timeout_ms = 300}).ok());
  ASSERT_TRUE(AllTo("work").ok());
  auto pub = bus_->Publish(Event{.detail_type = "Job", .source = "tandem.test"});
  ASSERT_TRUE(pub.ok());

  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  pid_t victim = Spawn([&](EventBus& bus) {
    auto m = bus.Receive("work", ReceiveOptions{.wait_ms = 10'000});
    if (!m.ok() || m->size() != 1) return 2;
    std::string line = (*m)[0].message_id + "\n";
    if (write(fds[1], line.data(), line.size()) < 0) return 3;
    while (true) pause();  // "working" when killed, never deletes
  });
  close(fds[1]);
  std::string got;
  char ch;
  while (read(fds[0], &ch, 1) == 1 && ch != '\n') got += ch;
  close(fds[0]);
  ASSERT_FALSE(got.empty()) << "the first consumer received nothing";
  kill(victim, SIGKILL);
  EXPECT_EQ(Join(victim), -1);

  // Another consumer process gets the same message once its timeout expires.
  const std::string msg_id = got;
  pid_t rescuer = Spawn([&](EventBus& bus) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (std::chrono::steady_clock::now() < deadline) {
      auto m = bus.Receive("work", ReceiveOptions{.wait_ms = 1000});
      if (!m.ok()) return 2;
      if (m->empty()) continue;
      if ((*m)[0].message_id != msg_id || (*m)[0].receive_count != 2) return 4;
      return bus.DeleteMessage("work", (*m)[0].receipt_handle).ok() ? 0 : 5;
    }
    return 6;
  });
  EXPECT_EQ(Join(rescuer), 0);
  auto q = bus_->GetQueue("work");
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(q->visible + q->in_flight, 0);
}

TEST_F(SqlEventBusTest, MessageThatKeepsFailingLandsInDeadLetterQueue) {
  ASSERT_TRUE(bus_->CreateQueue("dead").ok());
  ASSERT_TRUE(bus_->CreateQueue("work", QueueOptions{.visibility_timeout_ms = 200,
                                                     .max_receive_count = 3,
                                                     .dead_letter_queue = "dead"})
                  .ok());
  ASSERT_TRUE(AllTo("work").ok());
  auto pub = bus_->Publish(Event{.detail_type = "Poison", .source = "tandem.test"});
  ASSERT_TRUE(pub.ok());
  // Three consumer processes each receive it and fail (exit without deleting);
  // the exit code reports the receive count they saw.
  for (int attempt = 1; attempt <= 3; ++attempt) {
    pid_t pid = Spawn([](EventBus& bus) {
      auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
      while (std::chrono::steady_clock::now() < deadline) {
        auto m = bus.Receive("work", ReceiveOptions{.wait_ms = 1000});
        if (!m.ok()) return 100;
        if (!m->empty()) return (*m)[0].receive_count;
      }
      return 101;
    });
    EXPECT_EQ(Join(pid), attempt);
  }
  // The next receive after the timeout moves it instead of delivering it.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  int64_t dead_visible = 0;
  while (dead_visible == 0 && std::chrono::steady_clock::now() < deadline) {
    auto m = bus_->Receive("work", ReceiveOptions{.wait_ms = 100});
    ASSERT_TRUE(m.ok());
    ASSERT_TRUE(m->empty()) << "delivered beyond max_receive_count";
    dead_visible = bus_->GetQueue("dead")->visible;
  }
  ASSERT_EQ(dead_visible, 1);
  auto dead = bus_->Receive("dead");
  ASSERT_TRUE(dead.ok());
  ASSERT_EQ(dead->size(), 1u);
  EXPECT_EQ((*dead)[0].event.id, pub->event.id);
  EXPECT_EQ((*dead)[0].receive_count, 4);  // 3 in "work" + this one
}

class OutboxTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/tandem_outbox_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    auto db = sql::Database::Open(UriFor(dir_));
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = std::move(*db);
    auto bus = SqlEventBus::Attach(*db_, clock_);
    ASSERT_TRUE(bus.ok()) << bus.status();
    bus_ = std::move(*bus);
    ASSERT_TRUE(db_->WithTransaction([](sql::Transaction& tx) {
                     return tx.Exec("CREATE TABLE things (name TEXT PRIMARY KEY)").status();
                   })
                    .ok());
    ASSERT_TRUE(bus_->CreateQueue("q").ok());
    ASSERT_TRUE(bus_->PutRule("all", Json::parse(R"({"source": ["s"]})"), "q").ok());
  }
  void TearDown() override {
    bus_.reset();
    db_.reset();
    std::filesystem::remove_all(dir_);
  }
  size_t Events() { return bus_->Tail(TailOptions{})->events.size(); }
  int64_t Things() {
    int64_t n = -1;
    EXPECT_TRUE(db_->Read([&](sql::Transaction& tx) -> Status {
                     ASSIGN_OR_RETURN(auto row, tx.QueryOne("SELECT COUNT(*) FROM things"));
                     n = row.Int(0);
                     return OkStatus();
                   })
                    .ok());
    return n;
  }

  FakeClock clock_;
  std::string dir_;
  std::unique_ptr<sql::Database> db_;
  std::unique_ptr<SqlEventBus> bus_;
};

TEST_F(OutboxTest, RolledBackTransactionLeavesNoEventAndNoMessage) {
  Status st = db_->WithTransaction([&](sql::Transaction& tx) -> Status {
    RETURN_IF_ERROR(tx.Exec("INSERT INTO things (name) VALUES ('a')").status());
    RETURN_IF_ERROR(bus_->outbox()->Append(tx, Event{.detail_type = "Made", .source = "s"}));
    return InternalError("the caller fails after appending");
  });
  EXPECT_EQ(st.code(), StatusCode::kInternal);
  EXPECT_EQ(Events(), 0u);
  EXPECT_EQ(Things(), 0);
  EXPECT_EQ(bus_->GetQueue("q")->visible, 0);
  EXPECT_TRUE(bus_->Receive("q")->empty());
}

TEST_F(OutboxTest, CommittedTransactionHasEventAndMessage) {
  Status st = db_->WithTransaction([&](sql::Transaction& tx) -> Status {
    RETURN_IF_ERROR(tx.Exec("INSERT INTO things (name) VALUES ('a')").status());
    return bus_->outbox()->Append(tx, Event{.detail_type = "Made", .source = "s"});
  });
  ASSERT_TRUE(st.ok()) << st;
  EXPECT_EQ(Events(), 1u);
  EXPECT_EQ(Things(), 1);
  auto m = bus_->Receive("q");
  ASSERT_TRUE(m.ok());
  ASSERT_EQ(m->size(), 1u);
  EXPECT_EQ((*m)[0].event.detail_type, "Made");
}

TEST_F(OutboxTest, FailedAppendAbortsTheCallersTransaction) {
  Event e{.id = "fixed", .detail_type = "Made", .source = "s"};
  ASSERT_TRUE(bus_->Publish(e).ok());
  Status st = db_->WithTransaction([&](sql::Transaction& tx) -> Status {
    RETURN_IF_ERROR(tx.Exec("INSERT INTO things (name) VALUES ('b')").status());
    return bus_->outbox()->Append(tx, e);  // duplicate id
  });
  EXPECT_EQ(st.code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(Things(), 0);
  EXPECT_EQ(Events(), 1u);
}

}  // namespace
}  // namespace tandem::bus
