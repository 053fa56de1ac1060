#include "glue/bus/testing/event_bus_conformance.h"

#include <gmock/gmock.h>
#include <stdlib.h>

#include <chrono>
#include <filesystem>
#include <future>
#include <thread>

namespace tandem::bus {

void EventBusConformanceTest::SetUp() {
  char tmpl[] = "/tmp/tandem_bus_conf_XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  dir_ = tmpl;
  auto bus = GetParam().make(clock_, dir_);
  ASSERT_TRUE(bus.ok()) << bus.status();
  bus_ = std::move(*bus);
}

void EventBusConformanceTest::TearDown() {
  bus_.reset();
  if (!dir_.empty()) std::filesystem::remove_all(dir_);
}

namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr int64_t kMs = 1000;  // FakeClock advances in micros

Event Ev(std::string source, std::string type, Json detail = Json::object()) {
  Event e;
  e.source = std::move(source);
  e.detail_type = std::move(type);
  e.detail = std::move(detail);
  return e;
}

Json P(const char* text) { return Json::parse(text); }

#define ASSERT_OK(expr)                            \
  do {                                             \
    ::tandem::Status st_ = (expr);                 \
    ASSERT_TRUE(st_.ok()) << #expr << ": " << st_; \
  } while (0)

std::vector<Message> MustReceive(EventBus& bus, const std::string& q, int n = 10) {
  auto r = bus.Receive(q, ReceiveOptions{.max_messages = n});
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? *r : std::vector<Message>{};
}

TEST_P(EventBusConformanceTest, RulesRouteByPatternToTheRightQueues) {
  ASSERT_OK(bus_->CreateQueue("registry"));
  ASSERT_OK(bus_->CreateQueue("training"));
  ASSERT_OK(bus_->CreateQueue("idle"));
  ASSERT_OK(bus_->PutRule("r1", P(R"({"source": ["tandem.registry"]})"), "registry"));
  ASSERT_OK(bus_->PutRule("r2", P(R"({"detail-type": [{"prefix": "Training"}]})"), "training"));
  ASSERT_OK(bus_->PutRule("r3", P(R"({"source": ["nobody"]})"), "idle"));
  auto pub = bus_->Publish(Ev("tandem.registry", "Model Created", {{"name", "fraud"}}));
  ASSERT_TRUE(pub.ok()) << pub.status();
  ASSERT_TRUE(bus_->Publish(Ev("tandem.compute", "Training Job State Change")).ok());

  auto reg = MustReceive(*bus_, "registry");
  ASSERT_EQ(reg.size(), 1u);
  EXPECT_EQ(reg[0].event.id, pub->event.id);
  EXPECT_EQ(reg[0].event.detail_type, "Model Created");
  EXPECT_EQ(reg[0].event.detail["name"], "fraud");
  EXPECT_EQ(reg[0].receive_count, 1);
  auto tr = MustReceive(*bus_, "training");
  ASSERT_EQ(tr.size(), 1u);
  EXPECT_EQ(tr[0].event.source, "tandem.compute");
  EXPECT_TRUE(MustReceive(*bus_, "idle").empty());
}

TEST_P(EventBusConformanceTest, PublishAssignsIdTimeAndKeepsGivenOnes) {
  auto a = bus_->Publish(Ev("s", "t"));
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_FALSE(a->event.id.empty());
  EXPECT_EQ(a->event.time, FormatRfc3339(clock_.NowMicros()));
  Event given = Ev("s", "t");
  given.id = "my-id";
  given.time = "2020-01-01T00:00:00Z";
  auto b = bus_->Publish(given);
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(b->event.id, "my-id");
  EXPECT_EQ(b->event.time, "2020-01-01T00:00:00Z");
  EXPECT_GT(b->seq, a->seq);
  EXPECT_EQ(bus_->Publish(given).status().code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(bus_->Publish(Ev("", "t")).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(bus_->Publish(Ev("s", "")).status().code(), StatusCode::kInvalidArgument);
}

TEST_P(EventBusConformanceTest, SeveralRulesToOneQueueDeliverOncePerEvent) {
  ASSERT_OK(bus_->CreateQueue("q"));
  ASSERT_OK(bus_->PutRule("by-source", P(R"({"source": ["a"]})"), "q"));
  ASSERT_OK(bus_->PutRule("by-type", P(R"({"detail-type": ["T"]})"), "q"));
  ASSERT_TRUE(bus_->Publish(Ev("a", "x")).ok());  // first rule
  ASSERT_TRUE(bus_->Publish(Ev("b", "T")).ok());  // second rule
  ASSERT_TRUE(bus_->Publish(Ev("a", "T")).ok());  // both: one message
  ASSERT_TRUE(bus_->Publish(Ev("b", "x")).ok());  // neither
  auto msgs = MustReceive(*bus_, "q");
  ASSERT_EQ(msgs.size(), 3u);
  std::vector<std::string> got;
  for (const auto& m : msgs) got.push_back(m.event.source + "/" + m.event.detail_type);
  std::sort(got.begin(), got.end());
  EXPECT_THAT(got, ElementsAre("a/T", "a/x", "b/T"));
}

TEST_P(EventBusConformanceTest, PutRuleReplacesAndListRules) {
  ASSERT_OK(bus_->CreateQueue("a"));
  ASSERT_OK(bus_->CreateQueue("b"));
  ASSERT_OK(bus_->PutRule("r", P(R"({"source": ["s"]})"), "a"));
  ASSERT_OK(bus_->PutRule("r", P(R"({"source": ["s"]})"), "b"));
  auto rules = bus_->ListRules();
  ASSERT_TRUE(rules.ok());
  ASSERT_EQ(rules->size(), 1u);
  EXPECT_EQ((*rules)[0].target_queue, "b");
  EXPECT_EQ((*rules)[0].pattern, P(R"({"source": ["s"]})"));
  ASSERT_TRUE(bus_->Publish(Ev("s", "t")).ok());
  EXPECT_TRUE(MustReceive(*bus_, "a").empty());
  EXPECT_EQ(MustReceive(*bus_, "b").size(), 1u);
  ASSERT_OK(bus_->DeleteRule("r"));
  ASSERT_TRUE(bus_->Publish(Ev("s", "t")).ok());
  EXPECT_TRUE(MustReceive(*bus_, "b").empty());
  EXPECT_TRUE(bus_->ListRules()->empty());
}

TEST_P(EventBusConformanceTest, ReceiveThenDeleteRemovesTheMessage) {
  ASSERT_OK(bus_->CreateQueue("q"));
  ASSERT_OK(bus_->PutRule("all", P(R"({"source": [{"exists": true}]})"), "q"));
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(bus_->Publish(Ev("s", "t", {{"i", i}})).ok());
  const int64_t published_ms = clock_.NowMillis();
  clock_.Advance(5'000 * kMs);
  auto first = bus_->Receive("q", ReceiveOptions{.max_messages = 2});
  ASSERT_TRUE(first.ok());
  ASSERT_EQ(first->size(), 2u);
  auto info = bus_->GetQueue("q");
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->visible, 1);
  EXPECT_EQ(info->in_flight, 2);
  // The one left has waited since it was published (the queue's oldest age).
  EXPECT_EQ(info->oldest_visible_ms, published_ms);
  for (const auto& m : *first) ASSERT_OK(bus_->DeleteMessage("q", m.receipt_handle));
  auto rest = MustReceive(*bus_, "q");
  ASSERT_EQ(rest.size(), 1u);
  ASSERT_OK(bus_->DeleteMessage("q", rest[0].receipt_handle));
  ASSERT_OK(bus_->DeleteMessage("q", rest[0].receipt_handle));  // twice: still OK
  clock_.Advance(31'000 * kMs);
  EXPECT_TRUE(MustReceive(*bus_, "q").empty());
  info = bus_->GetQueue("q");
  EXPECT_EQ(info->visible + info->in_flight + info->delayed, 0);
  EXPECT_EQ(info->oldest_visible_ms, 0);
  EXPECT_EQ(bus_->DeleteMessage("q", "garbage").code(), StatusCode::kInvalidArgument);
}

TEST_P(EventBusConformanceTest, MessageReappearsAfterVisibilityTimeout) {
  ASSERT_OK(bus_->CreateQueue("q", QueueOptions{.visibility_timeout_ms = 10'000}));
  ASSERT_OK(bus_->PutRule("all", P(R"({"source": ["s"]})"), "q"));
  ASSERT_TRUE(bus_->Publish(Ev("s", "t")).ok());
  auto m1 = MustReceive(*bus_, "q");
  ASSERT_EQ(m1.size(), 1u);
  EXPECT_TRUE(MustReceive(*bus_, "q").empty());
  clock_.Advance(9'999 * kMs);
  EXPECT_TRUE(MustReceive(*bus_, "q").empty());
  clock_.Advance(1 * kMs);
  auto m2 = MustReceive(*bus_, "q");
  ASSERT_EQ(m2.size(), 1u);
  EXPECT_EQ(m2[0].message_id, m1[0].message_id);
  EXPECT_EQ(m2[0].receive_count, 2);
  EXPECT_EQ(m2[0].first_received_ms, m1[0].first_received_ms);
  EXPECT_NE(m2[0].receipt_handle, m1[0].receipt_handle);
  // The stale receipt succeeds but deletes nothing (SQS semantics).
  ASSERT_OK(bus_->DeleteMessage("q", m1[0].receipt_handle));
  EXPECT_EQ(bus_->GetQueue("q")->in_flight, 1);
  ASSERT_OK(bus_->DeleteMessage("q", m2[0].receipt_handle));
  EXPECT_EQ(bus_->GetQueue("q")->in_flight, 0);
  // A per-receive override of the visibility timeout.
  ASSERT_TRUE(bus_->Publish(Ev("s", "t")).ok());
  auto m3 = bus_->Receive("q", ReceiveOptions{.visibility_timeout_ms = 1000});
  ASSERT_EQ(m3->size(), 1u);
  clock_.Advance(1000 * kMs);
  EXPECT_EQ(MustReceive(*bus_, "q").size(), 1u);
}

TEST_P(EventBusConformanceTest, ChangeVisibilityExtendsOrReleases) {
  ASSERT_OK(bus_->CreateQueue("q", QueueOptions{.visibility_timeout_ms = 30'000}));
  ASSERT_OK(bus_->PutRule("all", P(R"({"source": ["s"]})"), "q"));
  ASSERT_TRUE(bus_->Publish(Ev("s", "t")).ok());
  auto m = MustReceive(*bus_, "q");
  ASSERT_EQ(m.size(), 1u);
  ASSERT_OK(bus_->ChangeVisibility("q", m[0].receipt_handle, 0));  // release now
  auto again = MustReceive(*bus_, "q");
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].receive_count, 2);
  // The first receipt is stale now.
  EXPECT_EQ(bus_->ChangeVisibility("q", m[0].receipt_handle, 1000).code(),
            StatusCode::kFailedPrecondition);
  ASSERT_OK(bus_->ChangeVisibility("q", again[0].receipt_handle, 120'000));  // extend
  clock_.Advance(119'000 * kMs);
  EXPECT_TRUE(MustReceive(*bus_, "q").empty());
  clock_.Advance(1'000 * kMs);
  EXPECT_EQ(MustReceive(*bus_, "q").size(), 1u);
  EXPECT_EQ(bus_->ChangeVisibility("q", again[0].receipt_handle, -1).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(bus_->ChangeVisibility("nope", again[0].receipt_handle, 1).code(),
            StatusCode::kNotFound);
}

TEST_P(EventBusConformanceTest, MaxReceiveCountMovesToDeadLetterQueue) {
  ASSERT_OK(bus_->CreateQueue("dlq"));
  ASSERT_OK(bus_->CreateQueue("work", QueueOptions{.visibility_timeout_ms = 1000,
                                                   .max_receive_count = 2,
                                                   .dead_letter_queue = "dlq"}));
  ASSERT_OK(bus_->PutRule("all", P(R"({"source": ["s"]})"), "work"));
  auto pub = bus_->Publish(Ev("s", "poison"));
  ASSERT_TRUE(pub.ok());
  for (int i = 1; i <= 2; ++i) {
    auto m = MustReceive(*bus_, "work");
    ASSERT_EQ(m.size(), 1u) << "receive " << i;
    EXPECT_EQ(m[0].receive_count, i);
    clock_.Advance(1000 * kMs);  // not deleted: visibility expires
  }
  EXPECT_TRUE(MustReceive(*bus_, "work").empty());  // third receive moves it
  EXPECT_EQ(bus_->GetQueue("work")->visible, 0);
  EXPECT_EQ(bus_->GetQueue("dlq")->visible, 1);
  auto dead = MustReceive(*bus_, "dlq");
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_EQ(dead[0].event.id, pub->event.id);
  EXPECT_EQ(dead[0].receive_count, 3);  // keeps the count from "work"
  // The dead-letter queue cannot be deleted while "work" uses it.
  EXPECT_EQ(bus_->DeleteQueue("dlq").code(), StatusCode::kFailedPrecondition);
}

TEST_P(EventBusConformanceTest, RetentionPurgesExpiredMessages) {
  ASSERT_OK(bus_->CreateQueue("q", QueueOptions{.retention_ms = 60'000}));
  ASSERT_OK(bus_->PutRule("all", P(R"({"source": ["s"]})"), "q"));
  ASSERT_TRUE(bus_->Publish(Ev("s", "old")).ok());
  clock_.Advance(30'000 * kMs);
  ASSERT_TRUE(bus_->Publish(Ev("s", "new")).ok());
  clock_.Advance(30'000 * kMs);  // "old" is 60 s old: expired
  EXPECT_EQ(bus_->GetQueue("q")->visible, 1);
  ASSERT_OK(bus_->Maintain());
  auto m = MustReceive(*bus_, "q");
  ASSERT_EQ(m.size(), 1u);
  EXPECT_EQ(m[0].event.detail_type, "new");
  clock_.Advance(31'000 * kMs);
  EXPECT_TRUE(MustReceive(*bus_, "q").empty());  // purged lazily on receive
}

TEST_P(EventBusConformanceTest, DelayedQueueHoldsNewMessages) {
  ASSERT_OK(bus_->CreateQueue("q", QueueOptions{.delay_ms = 5000}));
  ASSERT_OK(bus_->PutRule("all", P(R"({"source": ["s"]})"), "q"));
  ASSERT_TRUE(bus_->Publish(Ev("s", "t")).ok());
  EXPECT_EQ(bus_->GetQueue("q")->delayed, 1);
  EXPECT_TRUE(MustReceive(*bus_, "q").empty());
  clock_.Advance(5000 * kMs);
  EXPECT_EQ(MustReceive(*bus_, "q").size(), 1u);
}

TEST_P(EventBusConformanceTest, LongPollReturnsWhenAMessageArrives) {
  ASSERT_OK(bus_->CreateQueue("q"));
  ASSERT_OK(bus_->PutRule("all", P(R"({"source": ["s"]})"), "q"));
  auto waiter = std::async(std::launch::async,
                           [&] { return bus_->Receive("q", ReceiveOptions{.wait_ms = 20'000}); });
  ASSERT_TRUE(bus_->Publish(Ev("s", "t")).ok());
  // The fake clock never moves, so the wait can only end by the message.
  ASSERT_EQ(waiter.wait_for(std::chrono::seconds(30)), std::future_status::ready);
  auto got = waiter.get();
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->size(), 1u);
}

TEST_P(EventBusConformanceTest, LongPollTimesOutEmpty) {
  ASSERT_OK(bus_->CreateQueue("q"));
  auto waiter = std::async(std::launch::async,
                           [&] { return bus_->Receive("q", ReceiveOptions{.wait_ms = 1000}); });
  // Advance fake time until the waiter gives up (it may start late).
  while (waiter.wait_for(std::chrono::milliseconds(10)) != std::future_status::ready) {
    clock_.Advance(500 * kMs);
  }
  auto got = waiter.get();
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_TRUE(got->empty());
}

TEST_P(EventBusConformanceTest, TailReturnsEventsInOrderWithFilter) {
  std::vector<std::string> ids;
  for (int i = 0; i < 6; ++i) {
    auto p = bus_->Publish(Ev(i % 2 == 0 ? "even" : "odd", "t", {{"i", i}}));
    ASSERT_TRUE(p.ok());
    ids.push_back(p->event.id);
  }
  auto all = bus_->Tail(TailOptions{});
  ASSERT_TRUE(all.ok()) << all.status();
  ASSERT_EQ(all->events.size(), 6u);
  for (size_t i = 0; i < 6; ++i) {
    EXPECT_EQ(all->events[i].event.id, ids[i]);
    if (i > 0) {
      EXPECT_GT(all->events[i].seq, all->events[i - 1].seq);
    }
  }
  EXPECT_EQ(all->last_seq, all->events.back().seq);

  auto page = bus_->Tail(TailOptions{.after_seq = all->events[1].seq, .limit = 2});
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->events.size(), 2u);
  EXPECT_EQ(page->events[0].event.id, ids[2]);
  EXPECT_EQ(page->last_seq, page->events[1].seq);

  auto odd = bus_->Tail(TailOptions{.pattern = *Pattern::Parse(P(R"({"source": ["odd"]})"))});
  ASSERT_TRUE(odd.ok());
  ASSERT_EQ(odd->events.size(), 3u);
  for (const auto& e : odd->events) EXPECT_EQ(e.event.detail["i"].get<int>() % 2, 1);

  auto none = bus_->Tail(TailOptions{.pattern = *Pattern::Parse(P(R"({"source": ["x"]})"))});
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->events.empty());
  EXPECT_EQ(none->last_seq, all->last_seq);  // filtered-out events are skipped

  // A waiting tail returns once a new event is published.
  auto waiter = std::async(std::launch::async, [&] {
    return bus_->Tail(TailOptions{.after_seq = all->last_seq, .wait_ms = 20'000});
  });
  auto p = bus_->Publish(Ev("late", "t"));
  ASSERT_TRUE(p.ok());
  ASSERT_EQ(waiter.wait_for(std::chrono::seconds(30)), std::future_status::ready);
  auto late = waiter.get();
  ASSERT_TRUE(late.ok());
  ASSERT_EQ(late->events.size(), 1u);
  EXPECT_EQ(late->events[0].event.id, p->event.id);
  EXPECT_EQ(bus_->Tail(TailOptions{.limit = 0}).status().code(), StatusCode::kInvalidArgument);
}

TEST_P(EventBusConformanceTest, CreateQueueIsIdempotentOnlyWithIdenticalOptions) {
  ASSERT_OK(bus_->CreateQueue("q", QueueOptions{.visibility_timeout_ms = 5000}));
  ASSERT_OK(bus_->CreateQueue("q", QueueOptions{.visibility_timeout_ms = 5000}));
  Status st = bus_->CreateQueue("q");
  EXPECT_EQ(st.code(), StatusCode::kAlreadyExists);
  EXPECT_THAT(std::string(st.message()), HasSubstr("'q'"));
  st = bus_->CreateQueue("w", QueueOptions{.max_receive_count = 3, .dead_letter_queue = "nope"});
  EXPECT_EQ(st.code(), StatusCode::kNotFound);
  EXPECT_THAT(std::string(st.message()), HasSubstr("'nope'"));
  EXPECT_EQ(bus_->CreateQueue("w", QueueOptions{.max_receive_count = 3}).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(bus_->CreateQueue("w", QueueOptions{.retention_ms = 1000}).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(bus_->CreateQueue("w", QueueOptions{.visibility_timeout_ms = -1}).code(),
            StatusCode::kInvalidArgument);
  auto queues = bus_->ListQueues();
  ASSERT_TRUE(queues.ok());
  ASSERT_EQ(queues->size(), 1u);
  EXPECT_EQ((*queues)[0].name, "q");
  EXPECT_EQ((*queues)[0].options.visibility_timeout_ms, 5000);
}

TEST_P(EventBusConformanceTest, DeleteQueueRefusesWhileRulesTargetIt) {
  ASSERT_OK(bus_->CreateQueue("q"));
  ASSERT_OK(bus_->PutRule("r", P(R"({"source": ["s"]})"), "q"));
  Status st = bus_->DeleteQueue("q");
  EXPECT_EQ(st.code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(st.message()), HasSubstr("r"));
  ASSERT_OK(bus_->DeleteRule("r"));
  ASSERT_OK(bus_->DeleteQueue("q"));
  EXPECT_EQ(bus_->GetQueue("q").status().code(), StatusCode::kNotFound);
}

TEST_P(EventBusConformanceTest, InvalidNamesAndPatternsAreRejected) {
  for (const std::string& bad :
       std::vector<std::string>{"", "has space", "slash/no", "dot.no", std::string(81, 'a')}) {
    EXPECT_EQ(bus_->CreateQueue(bad).code(), StatusCode::kInvalidArgument) << bad;
    EXPECT_EQ(bus_->PutRule(bad, P(R"({"source": ["s"]})"), "q").code(),
              StatusCode::kInvalidArgument)
        << bad;
  }
  ASSERT_OK(bus_->CreateQueue(std::string(80, 'a')));
  ASSERT_OK(bus_->CreateQueue("Ok_name-1"));
  Status st = bus_->PutRule("r", P(R"({"detail": {"n": [{"bogus": 1}]}})"), "Ok_name-1");
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(st.message()), HasSubstr("detail.n[0]"));
  EXPECT_EQ(bus_->PutRule("r", P(R"({"source": "s"})"), "Ok_name-1").code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(bus_->Receive("Ok_name-1", ReceiveOptions{.max_messages = 0}).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(bus_->Receive("Ok_name-1", ReceiveOptions{.max_messages = 11}).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(bus_->Receive("Ok_name-1", ReceiveOptions{.wait_ms = 20'001}).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_TRUE(bus_->ListRules()->empty());
}

TEST_P(EventBusConformanceTest, UnknownQueuesAndRulesAreNotFound) {
  auto r = bus_->Receive("ghost");
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("'ghost'"));
  EXPECT_EQ(bus_->GetQueue("ghost").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(bus_->DeleteQueue("ghost").code(), StatusCode::kNotFound);
  EXPECT_EQ(bus_->DeleteMessage("ghost", "a.b").code(), StatusCode::kNotFound);
  EXPECT_EQ(bus_->DeleteRule("ghost").code(), StatusCode::kNotFound);
  Status st = bus_->PutRule("r", P(R"({"source": ["s"]})"), "ghost");
  EXPECT_EQ(st.code(), StatusCode::kNotFound);
  EXPECT_THAT(std::string(st.message()), HasSubstr("'ghost'"));
}

}  // namespace
}  // namespace tandem::bus
