// The NATS JetStream event bus against a real nats-server (started by the
// ctest fixture scripts/test-servers/nats): the EventBus conformance suite,
// URI errors, visibility-timeout redelivery and the dead-letter queue on the
// real clock, and producers/consumers in separate processes.
#include "glue/bus/nats_event_bus.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nats/nats.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <random>
#include <set>
#include <thread>

#include "common/ids.h"
#include "common/testing/test_server.h"
#include "glue/bus/testing/event_bus_conformance.h"
#include "common/testing/eventually.h"

namespace tandem::bus {
namespace {

using ::testing::HasSubstr;

// A prefix no other test uses, so every test has its own streams and bucket.
std::string UniquePrefix() {
  static std::mt19937_64 rng(std::random_device{}());
  static std::mutex mu;
  std::lock_guard<std::mutex> lock(mu);
  return "T" + std::to_string(getpid()) + "_" + std::to_string(rng() % 100000000);
}

std::string WithPrefix(const std::string& uri, const std::string& prefix) {
  return uri + "?prefix=" + prefix;
}

std::vector<EventBusFactory> Factories() {
  auto ts = testing::FindTestServer("nats");
  if (!ts.uri) return {};
  std::string uri = *ts.uri;
  // The direct connections (the default) and libnats throughout (the path
  // a server with TLS or credentials takes).
  return {EventBusFactory{"nats", [uri](Clock& clock, const std::string&) {
                            return EventBus::Open(WithPrefix(uri, UniquePrefix()),
                                                  EventBusOptions{.clock = &clock});
                          }},
          EventBusFactory{"nats_libnats", [uri](Clock& clock, const std::string&) {
                            return EventBus::Open(
                                WithPrefix(uri, UniquePrefix()) + "&client=libnats",
                                EventBusOptions{.clock = &clock});
                          }}};
}

// Without the server the suite has no instances; NatsServerTest.Available
// then fails under ctest or skips visibly by hand.
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(EventBusConformanceTest);
INSTANTIATE_TEST_SUITE_P(Nats, EventBusConformanceTest, ::testing::ValuesIn(Factories()),
                         [](const auto& info) { return info.param.name; });

TEST(NatsServerTest, Available) {
  TANDEM_REQUIRE_TEST_SERVER("nats", uri);
  EXPECT_THAT(uri, ::testing::StartsWith("nats://"));
}

TEST(NatsEventBusOpenTest, BadUrisAreRejectedWithTheReason) {
  auto bad_prefix = EventBus::Open("nats://127.0.0.1:4222?prefix=no.dots");
  EXPECT_EQ(bad_prefix.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(bad_prefix.status().message()), HasSubstr("no.dots"));
  EXPECT_FALSE(EventBus::Open("nats://127.0.0.1:4222?client=grpc").ok());
  auto unknown = EventBus::Open("nats://127.0.0.1:4222?colour=red");
  EXPECT_EQ(unknown.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(unknown.status().message()), HasSubstr("'colour'"));
  // Nothing listens on port 1: the error names the server.
  auto refused = EventBus::Open("nats://127.0.0.1:1");
  EXPECT_EQ(refused.status().code(), StatusCode::kUnavailable);
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr("nats://127.0.0.1:1"));
}

Event Ev(const std::string& type, Json detail = Json::object()) {
  Event e;
  e.source = "test";
  e.detail_type = type;
  e.detail = std::move(detail);
  return e;
}

class NatsEventBusTest : public ::testing::Test {
 protected:
  void Open() {
    std::optional<std::string> nats = testing::RequireTestServer("nats");
    if (!nats) return;
    uri_ = WithPrefix(*nats, UniquePrefix());
    auto bus = EventBus::Open(uri_);
    ASSERT_TRUE(bus.ok()) << bus.status();
    bus_ = std::move(*bus);
  }
  void SetUp() override { Open(); }

  std::string uri_;
  std::unique_ptr<EventBus> bus_;
};

// Waits (real time, generous deadline) until `pred` holds.
using tandem::testing::Eventually;

TEST_F(NatsEventBusTest, StreamsAndSubjectsAreNamedByThePrefix) {
  auto* nats = dynamic_cast<NatsEventBus*>(bus_.get());
  ASSERT_NE(nats, nullptr);
  EXPECT_THAT(nats->events_stream(), ::testing::EndsWith("_EVENTS"));
  EXPECT_THAT(nats->queues_stream(), ::testing::EndsWith("_QUEUES"));
  // A second bus on the same URI (another process would do the same) sees
  // the same queues, rules and history.
  ASSERT_TRUE(bus_->CreateQueue("q").ok());
  ASSERT_TRUE(bus_->PutRule("all", Json::parse(R"({"source": ["test"]})"), "q").ok());
  auto pub = bus_->Publish(Ev("hello"));
  ASSERT_TRUE(pub.ok()) << pub.status();
  auto other = EventBus::Open(uri_);
  ASSERT_TRUE(other.ok()) << other.status();
  auto tail = (*other)->Tail(TailOptions{});
  ASSERT_TRUE(tail.ok()) << tail.status();
  ASSERT_EQ(tail->events.size(), 1u);
  EXPECT_EQ(tail->events[0].seq, pub->seq);
  auto got = (*other)->Receive("q", ReceiveOptions{.wait_ms = 5000});
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->size(), 1u);
  EXPECT_EQ((*got)[0].event.id, pub->event.id);
  // The receipt from one bus object acks through another.
  ASSERT_TRUE(bus_->DeleteMessage("q", (*got)[0].receipt_handle).ok());
  EXPECT_EQ(bus_->GetQueue("q")->in_flight, 0);
}

TEST_F(NatsEventBusTest, UnackedMessageIsRedeliveredAfterRealVisibilityTimeout) {
  ASSERT_TRUE(bus_->CreateQueue("q", QueueOptions{.visibility_timeout_ms = 300}).ok());
  ASSERT_TRUE(bus_->PutRule("all", Json::parse(R"({"source": ["test"]})"), "q").ok());
  ASSERT_TRUE(bus_->Publish(Ev("work")).ok());
  auto first = bus_->Receive("q", ReceiveOptions{.wait_ms = 5000});
  ASSERT_TRUE(first.ok());
  ASSERT_EQ(first->size(), 1u);
  // Not deleted: the message comes back once the 300 ms have passed.
  std::vector<Message> again;
  ASSERT_TRUE(Eventually([&] {
    auto r = bus_->Receive("q", ReceiveOptions{.wait_ms = 100});
    if (r.ok() && !r->empty()) again = *r;
    return !again.empty();
  }));
  EXPECT_EQ(again[0].message_id, (*first)[0].message_id);
  EXPECT_EQ(again[0].receive_count, 2);
  ASSERT_TRUE(bus_->DeleteMessage("q", again[0].receipt_handle).ok());
  auto info = bus_->GetQueue("q");
  EXPECT_EQ(info->visible + info->in_flight + info->delayed, 0);
}

TEST_F(NatsEventBusTest, PoisonMessageLandsInDeadLetterQueueOnRealClock) {
  ASSERT_TRUE(bus_->CreateQueue("dlq").ok());
  ASSERT_TRUE(bus_->CreateQueue("work", QueueOptions{.visibility_timeout_ms = 0,
                                                     .max_receive_count = 3,
                                                     .dead_letter_queue = "dlq"})
                  .ok());
  ASSERT_TRUE(bus_->PutRule("all", Json::parse(R"({"source": ["test"]})"), "work").ok());
  auto pub = bus_->Publish(Ev("poison"));
  ASSERT_TRUE(pub.ok());
  int receives = 0;
  ASSERT_TRUE(Eventually([&] {
    auto r = bus_->Receive("work", ReceiveOptions{.wait_ms = 50});
    if (r.ok()) receives += static_cast<int>(r->size());  // never deleted
    return bus_->GetQueue("dlq")->visible == 1;
  }));
  EXPECT_EQ(receives, 3);
  auto dead = bus_->Receive("dlq");
  ASSERT_TRUE(dead.ok());
  ASSERT_EQ(dead->size(), 1u);
  EXPECT_EQ((*dead)[0].event.id, pub->event.id);
  EXPECT_EQ((*dead)[0].receive_count, 4);
  EXPECT_EQ(bus_->GetQueue("work")->visible, 0);
}

TEST_F(NatsEventBusTest, DeleteQueueRemovesItsMessages) {
  ASSERT_TRUE(bus_->CreateQueue("q").ok());
  ASSERT_TRUE(bus_->PutRule("all", Json::parse(R"({"source": ["test"]})"), "q").ok());
  ASSERT_TRUE(bus_->Publish(Ev("a")).ok());
  ASSERT_TRUE(bus_->DeleteRule("all").ok());
  ASSERT_TRUE(bus_->DeleteQueue("q").ok());
  ASSERT_TRUE(bus_->CreateQueue("q").ok());  // same name, fresh queue
  EXPECT_EQ(bus_->GetQueue("q")->visible, 0);
  auto r = bus_->Receive("q");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->empty());
}

// --- JetStream delivery semantics across bus objects (as across processes) -----

// ChangeVisibility is a -NAK with a delay on the server: another process
// honours an extension past the consumer's AckWait and a release at once.
TEST_F(NatsEventBusTest, ChangeVisibilityHoldsAcrossProcessesBeyondAckWait) {
  ASSERT_TRUE(bus_->CreateQueue("q", QueueOptions{.visibility_timeout_ms = 1000}).ok());
  ASSERT_TRUE(bus_->PutRule("all", Json::parse(R"({"source": ["test"]})"), "q").ok());
  auto other = EventBus::Open(uri_);
  ASSERT_TRUE(other.ok()) << other.status();
  ASSERT_TRUE(bus_->Publish(Ev("work")).ok());
  auto got = bus_->Receive("q", ReceiveOptions{.wait_ms = 5000});
  ASSERT_TRUE(got.ok() && got->size() == 1u);
  ASSERT_TRUE(bus_->ChangeVisibility("q", (*got)[0].receipt_handle, 3000).ok());
  // Past the 1 s AckWait the message is still invisible to the other bus.
  auto early = (*other)->Receive("q", ReceiveOptions{.wait_ms = 1500});
  ASSERT_TRUE(early.ok()) << early.status();
  EXPECT_TRUE(early->empty());
  ASSERT_TRUE(bus_->ChangeVisibility("q", (*got)[0].receipt_handle, 0).ok());
  auto again = (*other)->Receive("q", ReceiveOptions{.wait_ms = 5000});
  ASSERT_TRUE(again.ok()) << again.status();
  ASSERT_EQ(again->size(), 1u);
  EXPECT_EQ((*again)[0].message_id, (*got)[0].message_id);
  EXPECT_EQ((*again)[0].receive_count, 2);
  ASSERT_TRUE((*other)->DeleteMessage("q", (*again)[0].receipt_handle).ok());
  EXPECT_EQ((*other)->GetQueue("q")->in_flight, 0);
}

// Deviation (docs/contracts.md): JetStream acks by stream sequence whatever
// delivery the ack subject names, so a stale receipt used in a process that
// did not make the newer delivery deletes the message (SQS: "the request
// succeeds, but the message might not be deleted"; the SQL bus keeps it), and
// that process's first_received_ms is its own first receive.
TEST_F(NatsEventBusTest, StaleReceiptFromAnotherProcessDeletesTheRedelivery) {
  ASSERT_TRUE(bus_->CreateQueue("q", QueueOptions{.visibility_timeout_ms = 1000}).ok());
  ASSERT_TRUE(bus_->PutRule("all", Json::parse(R"({"source": ["test"]})"), "q").ok());
  auto other = EventBus::Open(uri_);
  ASSERT_TRUE(other.ok()) << other.status();
  ASSERT_TRUE(bus_->Publish(Ev("work")).ok());
  auto first = bus_->Receive("q", ReceiveOptions{.wait_ms = 5000});
  ASSERT_TRUE(first.ok() && first->size() == 1u);
  // Not deleted: after the 1 s visibility timeout the other bus gets it.
  auto second = (*other)->Receive("q", ReceiveOptions{.wait_ms = 5000});
  ASSERT_TRUE(second.ok()) << second.status();
  ASSERT_EQ(second->size(), 1u);
  EXPECT_EQ((*second)[0].receive_count, 2);
  EXPECT_GT((*second)[0].first_received_ms, (*first)[0].first_received_ms);
  ASSERT_TRUE(bus_->DeleteMessage("q", (*first)[0].receipt_handle).ok());
  auto info = bus_->GetQueue("q");
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->visible + info->in_flight, 0);  // gone, though the receipt was stale
  // The same stale receipt in the process that received again deletes nothing.
  ASSERT_TRUE(bus_->Publish(Ev("more")).ok());
  auto a = bus_->Receive("q", ReceiveOptions{.wait_ms = 5000});
  ASSERT_TRUE(a.ok() && a->size() == 1u);
  ASSERT_TRUE(bus_->ChangeVisibility("q", (*a)[0].receipt_handle, 0).ok());
  auto b = bus_->Receive("q", ReceiveOptions{.wait_ms = 5000});
  ASSERT_TRUE(b.ok() && b->size() == 1u);
  ASSERT_TRUE(bus_->DeleteMessage("q", (*a)[0].receipt_handle).ok());
  EXPECT_EQ(bus_->GetQueue("q")->in_flight, 1);
}

// Deviation (docs/contracts.md): a released message (ChangeVisibility 0 or an
// ended visibility timeout) stays pending acknowledgement in JetStream until a
// receive takes it again, so GetQueue counts it in flight meanwhile.
TEST_F(NatsEventBusTest, ReleasedMessageCountsInFlightUntilReceivedAgain) {
  ASSERT_TRUE(bus_->CreateQueue("q").ok());
  ASSERT_TRUE(bus_->PutRule("all", Json::parse(R"({"source": ["test"]})"), "q").ok());
  ASSERT_TRUE(bus_->Publish(Ev("work")).ok());
  auto got = bus_->Receive("q", ReceiveOptions{.wait_ms = 5000});
  ASSERT_TRUE(got.ok() && got->size() == 1u);
  ASSERT_TRUE(bus_->ChangeVisibility("q", (*got)[0].receipt_handle, 0).ok());
  auto info = bus_->GetQueue("q");
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->visible, 0);
  EXPECT_EQ(info->in_flight, 1);
  auto again = bus_->Receive("q");
  ASSERT_TRUE(again.ok());
  ASSERT_EQ(again->size(), 1u);  // yet receivable at once
  EXPECT_EQ((*again)[0].receive_count, 2);
}

// A queue made by the previous layout has a consumer with AckWait 5 min;
// opening a bus brings it to the queue's visibility timeout.
TEST_F(NatsEventBusTest, OpeningUpgradesConsumersOfThePreviousLayout) {
  ASSERT_TRUE(bus_->CreateQueue("q", QueueOptions{.visibility_timeout_ms = 2000}).ok());
  auto* nats = dynamic_cast<NatsEventBus*>(bus_.get());
  ASSERT_NE(nats, nullptr);
  const std::string url = uri_.substr(0, uri_.find('?'));
  std::string subject_prefix = uri_.substr(uri_.find("prefix=") + 7);
  for (char& c : subject_prefix) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  const std::string subject = subject_prefix + ".queue.q";
  natsConnection* nc = nullptr;
  ASSERT_EQ(natsConnection_ConnectTo(&nc, url.c_str()), NATS_OK);
  jsCtx* js = nullptr;
  ASSERT_EQ(natsConnection_JetStream(&js, nc, nullptr), NATS_OK);
  auto ack_wait_ms = [&]() -> int64_t {
    jsConsumerInfo* ci = nullptr;
    if (js_GetConsumerInfo(&ci, js, nats->queues_stream().c_str(), "q", nullptr, nullptr) !=
        NATS_OK) {
      return -1;
    }
    const int64_t ms = ci->Config->AckWait / 1'000'000;
    jsConsumerInfo_Destroy(ci);
    return ms;
  };
  EXPECT_EQ(ack_wait_ms(), 2000);
  jsConsumerConfig cc;
  jsConsumerConfig_Init(&cc);
  cc.Durable = "q";
  cc.FilterSubject = subject.c_str();
  cc.AckPolicy = js_AckExplicit;
  cc.AckWait = int64_t{300'000} * 1'000'000;
  cc.MaxDeliver = -1;
  cc.MaxAckPending = 100'000;
  jsConsumerInfo* ci = nullptr;
  ASSERT_EQ(js_UpdateConsumer(&ci, js, nats->queues_stream().c_str(), &cc, nullptr, nullptr),
            NATS_OK);
  jsConsumerInfo_Destroy(ci);
  EXPECT_EQ(ack_wait_ms(), 300'000);
  auto other = EventBus::Open(uri_);
  ASSERT_TRUE(other.ok()) << other.status();
  EXPECT_EQ(ack_wait_ms(), 2000);
  jsCtx_Destroy(js);
  natsConnection_Destroy(nc);
}

TEST_F(NatsEventBusTest, MalformedReceiptsAreRejectedAndChangeNothing) {
  ASSERT_TRUE(bus_->CreateQueue("q").ok());
  ASSERT_TRUE(bus_->PutRule("all", Json::parse(R"({"source": ["test"]})"), "q").ok());
  ASSERT_TRUE(bus_->Publish(Ev("work")).ok());
  auto got = bus_->Receive("q", ReceiveOptions{.wait_ms = 5000});
  ASSERT_TRUE(got.ok() && got->size() == 1u);
  // Receipts name the delivery only; a stream or consumer cannot be smuggled in.
  for (const std::string bad : {"a.b", "1.2.3.4", "1.2.3.4.5.6", "1.2.3.4.x", "0.1.1.1.1",
                                "OTHER_QUEUES.q.1.1.1.1.1", "1.1.1.1.1.>"}) {
    EXPECT_EQ(bus_->DeleteMessage("q", bad).code(), StatusCode::kInvalidArgument) << bad;
    EXPECT_EQ(bus_->ChangeVisibility("q", bad, 0).code(), StatusCode::kInvalidArgument) << bad;
  }
  EXPECT_EQ(bus_->GetQueue("q")->in_flight, 1);
  ASSERT_TRUE(bus_->DeleteMessage("q", (*got)[0].receipt_handle).ok());
  EXPECT_EQ(bus_->GetQueue("q")->in_flight, 0);
}

// --- separate processes ---------------------------------------------------------
// Children are this binary re-executed (libnats has threads, so a forked
// child must exec before using it) with TANDEM_NATS_CHILD=<role>.

constexpr int kPerProducer = 150;

int ChildMain(const std::string& role, const std::string& uri) {
  auto bus = EventBus::Open(uri);
  if (!bus.ok()) return 10;
  if (role.rfind("produce:", 0) == 0) {
    const std::string who = role.substr(8);
    for (int i = 0; i < kPerProducer; ++i) {
      if (!(*bus)->Publish(Ev("job", {{"who", who}, {"i", i}})).ok()) return 11;
    }
    return 0;
  }
  if (role == "consume") {
    // Receives and deletes until a long poll stays empty; prints what it got.
    while (true) {
      auto r = (*bus)->Receive("q", ReceiveOptions{.max_messages = 10, .wait_ms = 3000});
      if (!r.ok()) return 12;
      if (r->empty()) return 0;
      for (const Message& m : *r) {
        if (!(*bus)->DeleteMessage("q", m.receipt_handle).ok()) return 13;
        printf("%s:%d\n", m.event.detail["who"].get<std::string>().c_str(),
               m.event.detail["i"].get<int>());
      }
      fflush(stdout);
    }
  }
  return 14;
}

struct Child {
  pid_t pid = -1;
  int out_fd = -1;
};

Child SpawnChild(const std::string& role, const std::string& uri) {
  int fds[2];
  if (pipe(fds) != 0) return {};
  pid_t pid = fork();
  if (pid == 0) {
    dup2(fds[1], 1);
    close(fds[0]);
    close(fds[1]);
    setenv("TANDEM_NATS_CHILD", role.c_str(), 1);
    setenv("TANDEM_NATS_CHILD_URI", uri.c_str(), 1);
    execl("/proc/self/exe", "nats_child", "--gtest_filter=NatsChild.Run", nullptr);
    _exit(127);
  }
  close(fds[1]);
  return Child{pid, fds[0]};
}

std::string ReadAll(int fd) {
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  close(fd);
  return out;
}

int Wait(pid_t pid) {
  int status = 0;
  if (waitpid(pid, &status, 0) != pid) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// The entry point of re-executed children (a no-op in a normal run).
TEST(NatsChild, Run) {
  const char* role = getenv("TANDEM_NATS_CHILD");
  if (role == nullptr) GTEST_SKIP() << "only runs as a child process of the multi-process tests";
  fflush(stdout);
  _exit(ChildMain(role, getenv("TANDEM_NATS_CHILD_URI")));
}

TEST_F(NatsEventBusTest, TwoProducerAndTwoConsumerProcessesLoseNothing) {
  ASSERT_TRUE(bus_->CreateQueue("q", QueueOptions{.visibility_timeout_ms = 60'000}).ok());
  ASSERT_TRUE(bus_->PutRule("all", Json::parse(R"({"source": ["test"]})"), "q").ok());
  Child c1 = SpawnChild("consume", uri_);
  Child c2 = SpawnChild("consume", uri_);
  Child p1 = SpawnChild("produce:a", uri_);
  Child p2 = SpawnChild("produce:b", uri_);
  ReadAll(p1.out_fd);
  ReadAll(p2.out_fd);
  EXPECT_EQ(Wait(p1.pid), 0);
  EXPECT_EQ(Wait(p2.pid), 0);
  std::string got = ReadAll(c1.out_fd) + ReadAll(c2.out_fd);
  EXPECT_EQ(Wait(c1.pid), 0);
  EXPECT_EQ(Wait(c2.pid), 0);
  std::multiset<std::string> seen;
  size_t start = 0;
  while (start < got.size()) {
    size_t nl = got.find('\n', start);
    if (nl == std::string::npos) break;
    std::string line = got.substr(start, nl - start);
    if (line.find(':') != std::string::npos && line[0] != '[' && line[0] != ' ' &&
        line.rfind("Note", 0) != 0 && line.rfind("Running", 0) != 0) {
      seen.insert(line);
    }
    start = nl + 1;
  }
  for (const char* who : {"a", "b"}) {
    for (int i = 0; i < kPerProducer; ++i) {
      EXPECT_EQ(seen.count(std::string(who) + ":" + std::to_string(i)), 1u) << who << i;
    }
  }
  EXPECT_EQ(seen.size(), 2u * kPerProducer);
  auto info = bus_->GetQueue("q");
  EXPECT_EQ(info->visible + info->in_flight, 0);
}

}  // namespace
}  // namespace tandem::bus
