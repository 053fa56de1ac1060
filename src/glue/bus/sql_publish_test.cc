// The SQL bus's group-committed publishes (several concurrent publishes in
// one transaction), on SQLite and PostgreSQL: every publish gets its own
// sequence number and its own messages, exactly once; a duplicate event id
// among concurrent publishes fails only that publish.
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "common/testing/test_server.h"
#include "glue/bus/event_bus.h"
#include "glue/sql/testing/postgres_test_db.h"
#include "gtest/gtest.h"

namespace tandem::bus {
namespace {

namespace fs = std::filesystem;

class SqlPublishTest : public ::testing::TestWithParam<sql::testing::Backend> {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("tandem-publish-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    auto uri = GetParam().make(dir_.string());
    ASSERT_TRUE(uri.ok()) << uri.status();
    auto bus = EventBus::Open(*uri);
    ASSERT_TRUE(bus.ok()) << bus.status();
    bus_ = std::move(*bus);
    ASSERT_TRUE(bus_->CreateQueue("all").ok());
    ASSERT_TRUE(bus_->PutRule("everything", Json::parse(R"({"source": ["test"]})"), "all").ok());
  }
  void TearDown() override {
    bus_.reset();
    fs::remove_all(dir_);
  }

  static Event Ev(const std::string& id, int t, int i) {
    Event e;
    e.id = id;
    e.source = "test";
    e.detail_type = "Thing Happened";
    e.detail = {{"t", t}, {"i", i}};
    return e;
  }

  // Every message of queue "all" (received and deleted), by event id.
  std::map<std::string, int> Drain() {
    std::map<std::string, int> out;
    while (true) {
      auto got = bus_->Receive("all", ReceiveOptions{.max_messages = 10});
      EXPECT_TRUE(got.ok()) << got.status();
      if (!got.ok() || got->empty()) break;
      for (const Message& m : *got) {
        ++out[m.event.id];
        EXPECT_TRUE(bus_->DeleteMessage("all", m.receipt_handle).ok());
      }
    }
    return out;
  }

  std::vector<SequencedEvent> TailAll() {
    std::vector<SequencedEvent> out;
    int64_t after = 0;
    while (true) {
      auto r = bus_->Tail(TailOptions{.after_seq = after, .limit = 1000});
      EXPECT_TRUE(r.ok()) << r.status();
      if (!r.ok() || r->events.empty()) break;
      for (auto& e : r->events) out.push_back(e);
      after = r->last_seq;
    }
    return out;
  }

  fs::path dir_;
  std::unique_ptr<EventBus> bus_;
};

TEST_P(SqlPublishTest, ConcurrentPublishesEachGetTheirOwnSeqAndMessageOnce) {
  constexpr int kThreads = 16, kPer = 25;
  std::mutex mu;
  std::map<int64_t, std::string> by_seq;
  std::atomic<int> failures{0};
  std::atomic<bool> go{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      while (!go.load()) std::this_thread::yield();
      for (int i = 0; i < kPer; ++i) {
        auto p = bus_->Publish(Ev("", t, i));
        if (!p.ok()) {
          ++failures;
          ADD_FAILURE() << p.status();
          continue;
        }
        EXPECT_EQ(p->event.detail["t"], t);
        EXPECT_EQ(p->event.detail["i"], i);
        std::lock_guard<std::mutex> lock(mu);
        EXPECT_TRUE(by_seq.emplace(p->seq, p->event.id).second) << "seq " << p->seq << " twice";
      }
    });
  }
  go = true;
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  ASSERT_EQ(by_seq.size(), static_cast<size_t>(kThreads * kPer));
  // The history holds each event once, under the seq its publish returned.
  auto tail = TailAll();
  ASSERT_EQ(tail.size(), by_seq.size());
  for (const SequencedEvent& e : tail) EXPECT_EQ(by_seq[e.seq], e.event.id) << e.seq;
  // And the queue one message per event.
  auto messages = Drain();
  ASSERT_EQ(messages.size(), by_seq.size());
  for (const auto& [id, n] : messages) EXPECT_EQ(n, 1) << id;
}

TEST_P(SqlPublishTest, ADuplicateIdAmongConcurrentPublishesFailsOnlyThatPublish) {
  constexpr int kThreads = 16;
  std::atomic<int> dup_ok{0}, dup_exists{0}, other_ok{0}, unexpected{0};
  std::atomic<bool> go{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      const bool dup = t % 2 == 0;
      while (!go.load()) std::this_thread::yield();
      auto p = bus_->Publish(Ev(dup ? "same-id" : "", t, 0));
      if (p.ok()) {
        (dup ? dup_ok : other_ok)++;
      } else if (dup && p.status().code() == StatusCode::kAlreadyExists) {
        dup_exists++;
      } else {
        unexpected++;
        ADD_FAILURE() << p.status();
      }
    });
  }
  go = true;
  for (auto& th : threads) th.join();
  EXPECT_EQ(dup_ok.load(), 1);
  EXPECT_EQ(dup_exists.load(), kThreads / 2 - 1);
  EXPECT_EQ(other_ok.load(), kThreads / 2);
  EXPECT_EQ(unexpected.load(), 0);
  EXPECT_EQ(TailAll().size(), static_cast<size_t>(kThreads / 2 + 1));
  auto messages = Drain();
  EXPECT_EQ(messages.size(), static_cast<size_t>(kThreads / 2 + 1));
  EXPECT_EQ(messages["same-id"], 1);
}

TEST(SqlPublishPostgres, ServerAvailable) {
  TANDEM_REQUIRE_TEST_SERVER("postgres", uri);
  EXPECT_TRUE(uri.starts_with("postgres://")) << uri;
}

INSTANTIATE_TEST_SUITE_P(Db, SqlPublishTest, ::testing::ValuesIn(sql::testing::Backends()),
                         [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace tandem::bus
