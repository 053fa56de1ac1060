// Why the NATS bus implements max_receive_count with its own move at the
// receive instead of JetStream's MaxDeliver (docs/backends/nats.md,
// "Dead-letter queue"), and the cross-process ChangeVisibility deviation,
// against the real nats-server of the ctest fixture (part of bus_nats_test).
//
// The MaxDeliver tests drive a bare JetStream consumer through libnats the
// way a MaxDeliver-based bus would use it, next to the same poison message on
// the bus: what the server does is the evidence, not an assumption.
#include <gtest/gtest.h>
#include <nats/nats.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <future>
#include <random>
#include <string>
#include <thread>

#include "common/clock.h"
#include "common/json.h"
#include "common/testing/test_server.h"
#include "glue/bus/event_bus.h"
#include "glue/bus/nats_event_bus.h"
#include "common/testing/eventually.h"

namespace tandem::bus {
namespace {

constexpr int64_t kNs = 1'000'000;  // per ms

std::string Unique(const std::string& what) {
  static std::mt19937_64 rng(std::random_device{}());
  return what + std::to_string(getpid()) + "_" + std::to_string(rng() % 100000000);
}

using tandem::testing::Eventually;

Event Ev(const std::string& type) {
  Event e;
  e.source = "test";
  e.detail_type = type;
  e.detail = Json::object();
  return e;
}

// A libnats connection + JetStream context to the fixture's server.
class RawJetStream {
 public:
  ~RawJetStream() {
    if (js_ != nullptr) jsCtx_Destroy(js_);
    if (nc_ != nullptr) natsConnection_Destroy(nc_);
  }
  // "nats://host:port" (no query).
  bool Connect(const std::string& url) {
    return natsConnection_ConnectTo(&nc_, url.c_str()) == NATS_OK &&
           natsConnection_JetStream(&js_, nc_, nullptr) == NATS_OK;
  }
  jsCtx* js() { return js_; }

  natsStatus AddStream(const std::string& name, const std::string& subject, bool work_queue) {
    jsStreamConfig sc;
    jsStreamConfig_Init(&sc);
    sc.Name = name.c_str();
    const char* subjects[] = {subject.c_str()};
    sc.Subjects = subjects;
    sc.SubjectsLen = 1;
    sc.Retention = work_queue ? js_WorkQueuePolicy : js_LimitsPolicy;
    sc.Storage = js_MemoryStorage;
    jsStreamInfo* si = nullptr;
    natsStatus s = js_AddStream(&si, js_, &sc, nullptr, nullptr);
    if (si != nullptr) jsStreamInfo_Destroy(si);
    return s;
  }
  uint64_t StreamMsgs(const std::string& stream) {
    jsStreamInfo* si = nullptr;
    if (js_GetStreamInfo(&si, js_, stream.c_str(), nullptr, nullptr) != NATS_OK) return ~0ull;
    const uint64_t n = si->State.Msgs;
    jsStreamInfo_Destroy(si);
    return n;
  }
  struct Counts {
    uint64_t pending = 0;     // the bus's `visible`
    int64_t ack_pending = 0;  // the bus's `in_flight`
  };
  Counts ConsumerCounts(const std::string& stream, const std::string& consumer) {
    jsConsumerInfo* ci = nullptr;
    Counts c{~0ull, -1};
    if (js_GetConsumerInfo(&ci, js_, stream.c_str(), consumer.c_str(), nullptr, nullptr) ==
        NATS_OK) {
      c = Counts{ci->NumPending, ci->NumAckPending};
      jsConsumerInfo_Destroy(ci);
    }
    return c;
  }

 private:
  natsConnection* nc_ = nullptr;
  jsCtx* js_ = nullptr;
};

// One message fetched from a pull subscription (nullptr and the status when
// the fetch ended without one).
struct Fetched {
  natsStatus status = NATS_OK;
  natsMsg* msg = nullptr;
  uint64_t delivered = 0;
  ~Fetched() {
    if (msg != nullptr) natsMsg_Destroy(msg);
  }
};

void FetchOne(natsSubscription* sub, int64_t timeout_ms, Fetched* out) {
  natsMsgList list{};
  out->status = natsSubscription_Fetch(&list, sub, 1, timeout_ms, nullptr);
  if (out->status == NATS_OK && list.Count > 0) {
    out->msg = list.Msgs[0];
    list.Msgs[0] = nullptr;
    jsMsgMetaData* md = nullptr;
    if (natsMsg_GetMetaData(&md, out->msg) == NATS_OK) {
      out->delivered = md->NumDelivered;
      jsMsgMetaData_Destroy(md);
    }
  }
  natsMsgList_Destroy(&list);
}

class NatsMaxDeliverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::optional<std::string> nats = testing::RequireTestServer("nats");
    if (!nats) return;
    url_ = *nats;
    ASSERT_TRUE(raw_.Connect(url_));
  }
  std::unique_ptr<EventBus> OpenBus(const std::string& prefix) {
    auto bus = EventBus::Open(url_ + "?prefix=" + prefix);
    EXPECT_TRUE(bus.ok()) << bus.status();
    return bus.ok() ? std::move(*bus) : nullptr;
  }
  std::string url_;
  RawJetStream raw_;
};

// JetStream's MaxDeliver on a work-queue consumer (what max_receive_count = 2
// would be): after the second delivery's AckWait the server neither delivers
// the message again nor counts it anywhere — NumPending 0, NumAckPending 0,
// so GetQueue would report it neither visible nor in flight — yet keeps it in
// the stream. The only record is a MAX_DELIVERIES advisory, and the pull that
// SQS would turn into the dead-letter move answers exactly like an empty
// queue. Until a separate mover reads the advisory (from a stream capturing
// it), copies the message to the dead-letter queue and deletes it, the
// message is in no queue; with the mover down it stays so indefinitely.
TEST_F(NatsMaxDeliverTest, MaxDeliverParksThePoisonMessageWhereNoCountSeesIt) {
  const std::string p = Unique("MD");
  const std::string stream = p + "_Q";
  const std::string subject = p + ".q";
  const std::string adv_stream = p + "_ADV";
  const std::string adv_subject = "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES." + stream + ".>";
  ASSERT_EQ(raw_.AddStream(stream, subject, /*work_queue=*/true), NATS_OK);
  ASSERT_EQ(raw_.AddStream(adv_stream, adv_subject, /*work_queue=*/false), NATS_OK);
  jsConsumerConfig cc;
  jsConsumerConfig_Init(&cc);
  cc.Durable = "work";
  cc.AckPolicy = js_AckExplicit;
  cc.AckWait = 1000 * kNs;  // the visibility timeout
  cc.MaxDeliver = 2;        // max_receive_count
  jsConsumerInfo* ci = nullptr;
  ASSERT_EQ(js_AddConsumer(&ci, raw_.js(), stream.c_str(), &cc, nullptr, nullptr), NATS_OK);
  jsConsumerInfo_Destroy(ci);
  ASSERT_EQ(js_Publish(nullptr, raw_.js(), subject.c_str(), "poison", 6, nullptr, nullptr),
            NATS_OK);
  jsSubOptions so;
  jsSubOptions_Init(&so);
  so.Stream = stream.c_str();
  so.Consumer = "work";
  natsSubscription* sub = nullptr;
  ASSERT_EQ(js_PullSubscribe(&sub, raw_.js(), subject.c_str(), "work", nullptr, &so, nullptr),
            NATS_OK);

  // Two receives, neither acknowledged (the consumer keeps failing).
  for (uint64_t i = 1; i <= 2; ++i) {
    Fetched f;
    FetchOne(sub, 10'000, &f);
    ASSERT_EQ(f.status, NATS_OK) << natsStatus_GetText(f.status);
    ASSERT_NE(f.msg, nullptr);
    EXPECT_EQ(f.delivered, i);
    EXPECT_EQ(raw_.ConsumerCounts(stream, "work").ack_pending, 1);  // in flight
  }
  // The third receive (SQS: the one that moves it) outlasts the AckWait and
  // gets nothing, the same answer as an empty queue.
  {
    Fetched f;
    FetchOne(sub, 3000, &f);
    EXPECT_EQ(f.status, NATS_TIMEOUT) << natsStatus_GetText(f.status);
    EXPECT_EQ(f.msg, nullptr);
  }
  auto counts = raw_.ConsumerCounts(stream, "work");
  EXPECT_EQ(counts.pending, 0u);           // not visible
  EXPECT_EQ(counts.ack_pending, 0);        // not in flight
  EXPECT_EQ(raw_.StreamMsgs(stream), 1u);  // yet stored
  // The advisory is all that says where it went.
  ASSERT_TRUE(Eventually([&] { return raw_.StreamMsgs(adv_stream) == 1; }));
  natsMsg* adv = nullptr;
  ASSERT_EQ(
      js_GetLastMsg(&adv, raw_.js(), adv_stream.c_str(),
                    ("$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES." + stream + ".work").c_str(),
                    nullptr, nullptr),
      NATS_OK);
  auto doc = ParseJson(std::string(natsMsg_GetData(adv), natsMsg_GetDataLength(adv)));
  natsMsg_Destroy(adv);
  ASSERT_TRUE(doc.ok());
  EXPECT_EQ((*doc)["stream_seq"].get<uint64_t>(), 1u);
  EXPECT_EQ((*doc)["deliveries"].get<uint64_t>(), 2u);
  // With no mover acting on it, later receives (past another AckWait) still
  // get nothing and the message stays parked, counted nowhere.
  {
    Fetched f;
    FetchOne(sub, 2500, &f);
    EXPECT_EQ(f.status, NATS_TIMEOUT) << natsStatus_GetText(f.status);
  }
  counts = raw_.ConsumerCounts(stream, "work");
  EXPECT_EQ(counts.pending + static_cast<uint64_t>(counts.ack_pending), 0u);
  EXPECT_EQ(raw_.StreamMsgs(stream), 1u);
  natsSubscription_Destroy(sub);
  js_DeleteStream(raw_.js(), stream.c_str(), nullptr, nullptr);
  js_DeleteStream(raw_.js(), adv_stream.c_str(), nullptr, nullptr);
}

// The same poison message on the bus (real clock, same AckWait and count):
// the receive that would exceed max_receive_count moves it itself, so at every
// step GetQueue counts it in the work queue or in the dead-letter queue, the
// copy is in the dead-letter queue when that receive returns, and it keeps
// its receive count and first receive — with no advisory stream or mover.
TEST_F(NatsMaxDeliverTest, TheBusMovesThePoisonMessageOnTheReceiveAndCountsItThroughout) {
  auto bus = OpenBus(Unique("MB"));
  ASSERT_NE(bus, nullptr);
  ASSERT_TRUE(bus->CreateQueue("dlq").ok());
  ASSERT_TRUE(bus->CreateQueue("work", QueueOptions{.visibility_timeout_ms = 1000,
                                                    .max_receive_count = 2,
                                                    .dead_letter_queue = "dlq"})
                  .ok());
  ASSERT_TRUE(bus->PutRule("all", Json::parse(R"({"source": ["test"]})"), "work").ok());
  auto pub = bus->Publish(Ev("poison"));
  ASSERT_TRUE(pub.ok()) << pub.status();
  // "visible/in_flight" of the work queue.
  auto in_work = [&] {
    auto q = bus->GetQueue("work");
    return q.ok() ? std::to_string(q->visible) + "/" + std::to_string(q->in_flight)
                  : q.status().ToString();
  };
  int64_t first_received = 0;
  for (int i = 1; i <= 2; ++i) {
    auto r = bus->Receive("work", ReceiveOptions{.wait_ms = 10'000});
    ASSERT_TRUE(r.ok()) << r.status();
    ASSERT_EQ(r->size(), 1u) << "receive " << i;
    EXPECT_EQ((*r)[0].receive_count, i);
    if (i == 1) first_received = (*r)[0].first_received_ms;
    EXPECT_EQ((*r)[0].first_received_ms, first_received);
    EXPECT_EQ(in_work(), "0/1");
    EXPECT_EQ(bus->GetQueue("dlq")->visible, 0);
  }
  auto third = bus->Receive("work", ReceiveOptions{.wait_ms = 3000});
  ASSERT_TRUE(third.ok()) << third.status();
  EXPECT_TRUE(third->empty());
  EXPECT_EQ(in_work(), "0/0");
  EXPECT_EQ(bus->GetQueue("dlq")->visible, 1);  // already there, nothing to wait for
  auto dead = bus->Receive("dlq");
  ASSERT_TRUE(dead.ok()) << dead.status();
  ASSERT_EQ(dead->size(), 1u);
  EXPECT_EQ((*dead)[0].event.id, pub->event.id);
  EXPECT_EQ((*dead)[0].receive_count, 3);
  EXPECT_EQ((*dead)[0].first_received_ms, first_received);
}

// The server counts AckWait from the delivery, a lease from the pull's
// return, so the server may redeliver to the process that holds the previous
// delivery before that lease ended; the redelivery still reports the first
// receive (it once reported its own). A fake clock that barely moves keeps
// the lease running while the server's 1 s AckWait ends.
TEST_F(NatsMaxDeliverTest, RedeliveryBeforeTheLeaseEndedKeepsTheFirstReceive) {
  FakeClock clock;
  auto opened = EventBus::Open(url_ + "?prefix=" + Unique("FR"), EventBusOptions{.clock = &clock});
  ASSERT_TRUE(opened.ok()) << opened.status();
  std::unique_ptr<EventBus> bus = std::move(*opened);
  ASSERT_TRUE(bus->CreateQueue("q", QueueOptions{.visibility_timeout_ms = 1000}).ok());
  ASSERT_TRUE(bus->PutRule("all", Json::parse(R"({"source": ["test"]})"), "q").ok());
  ASSERT_TRUE(bus->Publish(Ev("work")).ok());
  auto first = bus->Receive("q", ReceiveOptions{.wait_ms = 20'000});
  ASSERT_TRUE(first.ok() && first->size() == 1u);
  clock.Advance(10'000);  // 10 ms: the lease (1 s) still runs
  auto again = std::async(std::launch::async,
                          [&] { return bus->Receive("q", ReceiveOptions{.wait_ms = 20'000}); });
  if (again.wait_for(std::chrono::seconds(30)) != std::future_status::ready) {
    clock.Advance(30'000'000);  // ends the long poll
    FAIL() << "the server did not redeliver after its AckWait";
  }
  auto r = again.get();
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ((*r)[0].receive_count, 2);
  EXPECT_EQ((*r)[0].first_received_ms, (*first)[0].first_received_ms);
}

// The bus's move is crash-safe without a second component: a bus that died
// between publishing the dead-letter copy and acking the original leaves the
// original in flight; after its visibility timeout the next receive moves it
// again and JetStream drops the second copy by its Nats-Msg-Id, so the
// dead-letter queue holds it once and the work queue not at all.
TEST_F(NatsMaxDeliverTest, DeadLetterMoveInterruptedAfterItsPublishLeavesOneCopy) {
  const std::string prefix = Unique("MC");
  auto bus = OpenBus(prefix);
  ASSERT_NE(bus, nullptr);
  ASSERT_TRUE(bus->CreateQueue("dlq").ok());
  ASSERT_TRUE(bus->CreateQueue("work", QueueOptions{.visibility_timeout_ms = 1000,
                                                    .max_receive_count = 1,
                                                    .dead_letter_queue = "dlq"})
                  .ok());
  ASSERT_TRUE(bus->PutRule("all", Json::parse(R"({"source": ["test"]})"), "work").ok());
  auto pub = bus->Publish(Ev("poison"));
  ASSERT_TRUE(pub.ok()) << pub.status();
  auto first = bus->Receive("work", ReceiveOptions{.wait_ms = 10'000});
  ASSERT_TRUE(first.ok() && first->size() == 1u);
  const Message& m = (*first)[0];

  // The dying bus: takes the second delivery (the one to move) from the
  // queue's consumer, publishes the dead-letter copy as the bus does, dies
  // before the ack.
  std::string sp = prefix;
  for (char& c : sp) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  auto* nats = dynamic_cast<NatsEventBus*>(bus.get());
  ASSERT_NE(nats, nullptr);
  const std::string queues_stream = nats->queues_stream();
  jsSubOptions so;
  jsSubOptions_Init(&so);
  so.Stream = queues_stream.c_str();
  so.Consumer = "work";
  natsSubscription* sub = nullptr;
  ASSERT_EQ(js_PullSubscribe(&sub, raw_.js(), (sp + ".queue.work").c_str(), "work", nullptr, &so,
                             nullptr),
            NATS_OK);
  {
    Fetched f;
    FetchOne(sub, 10'000, &f);
    ASSERT_EQ(f.status, NATS_OK) << natsStatus_GetText(f.status);
    EXPECT_EQ(f.delivered, 2u);
    natsMsg* copy = nullptr;
    const std::string dlq_subject = sp + ".queue.dlq";
    ASSERT_EQ(natsMsg_Create(&copy, dlq_subject.c_str(), nullptr, natsMsg_GetData(f.msg),
                             natsMsg_GetDataLength(f.msg)),
              NATS_OK);
    natsMsgHeader_Set(copy, "Nats-Msg-Id", (m.message_id + "/dlq/dlq").c_str());
    natsMsgHeader_Set(copy, "Tandem-Message-Id", m.message_id.c_str());
    natsMsgHeader_Set(copy, "Tandem-Sent-Ms", std::to_string(m.sent_ms).c_str());
    natsMsgHeader_Set(copy, "Tandem-Receive-Count", "1");
    natsMsgHeader_Set(copy, "Tandem-First-Received-Ms",
                      std::to_string(m.first_received_ms).c_str());
    jsPubAck* pa = nullptr;
    ASSERT_EQ(js_PublishMsg(&pa, raw_.js(), copy, nullptr, nullptr), NATS_OK);
    jsPubAck_Destroy(pa);
    natsMsg_Destroy(copy);
  }  // never acked
  natsSubscription_Destroy(sub);
  EXPECT_EQ(bus->GetQueue("work")->in_flight, 1);
  EXPECT_EQ(bus->GetQueue("dlq")->visible, 1);

  // A live bus: the third delivery (after the dead one's visibility timeout)
  // is moved again; the copy is a duplicate and the original is acked.
  auto other = OpenBus(prefix);
  ASSERT_NE(other, nullptr);
  auto r = other->Receive("work", ReceiveOptions{.wait_ms = 3000});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->empty());
  auto work = other->GetQueue("work");
  ASSERT_TRUE(work.ok());
  EXPECT_EQ(work->visible + work->in_flight, 0);
  EXPECT_EQ(other->GetQueue("dlq")->visible, 1);
  auto dead = other->Receive("dlq", ReceiveOptions{.max_messages = 10});
  ASSERT_TRUE(dead.ok()) << dead.status();
  ASSERT_EQ(dead->size(), 1u);
  EXPECT_EQ((*dead)[0].event.id, pub->event.id);
  EXPECT_EQ((*dead)[0].receive_count, 2);  // the first copy's: one receive + this one
}

// Deviation (docs/backends/nats.md): ChangeVisibility with a stale receipt
// in a process that neither made nor saw the newer delivery applies to that
// newer delivery (JetStream naks by stream sequence), where the SQL bus says
// FailedPrecondition. The processes that did receive it refuse, as SQL does.
TEST_F(NatsMaxDeliverTest, StaleChangeVisibilityFromAThirdProcessAppliesToTheRedelivery) {
  const std::string prefix = Unique("CV");
  auto a = OpenBus(prefix);
  ASSERT_NE(a, nullptr);
  ASSERT_TRUE(a->CreateQueue("q", QueueOptions{.visibility_timeout_ms = 1000}).ok());
  ASSERT_TRUE(a->PutRule("all", Json::parse(R"({"source": ["test"]})"), "q").ok());
  auto b = OpenBus(prefix);  // opened after: their catalogs have the queue
  auto c = OpenBus(prefix);
  ASSERT_TRUE(b && c);
  ASSERT_TRUE(a->Publish(Ev("work")).ok());
  auto first = a->Receive("q", ReceiveOptions{.wait_ms = 10'000});
  ASSERT_TRUE(first.ok() && first->size() == 1u);
  const std::string stale = (*first)[0].receipt_handle;
  // Not deleted: after a's 1 s, b receives it and holds it for 60 s.
  auto second = b->Receive("q", ReceiveOptions{.wait_ms = 10'000, .visibility_timeout_ms = 60'000});
  ASSERT_TRUE(second.ok()) << second.status();
  ASSERT_EQ(second->size(), 1u);
  EXPECT_EQ((*second)[0].receive_count, 2);
  // a (its visibility ended) and b (it holds a newer delivery) refuse. a's
  // lease runs 1 s from its receive's return, the server's AckWait from the
  // delivery a moment earlier: wait until a's own 1 s has passed too.
  const int64_t a_lease_end = (*first)[0].first_received_ms + 1000;
  while (Clock::Real().NowMillis() <= a_lease_end) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_EQ(a->ChangeVisibility("q", stale, 0).code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(b->ChangeVisibility("q", stale, 0).code(), StatusCode::kFailedPrecondition);
  // c knows neither delivery: the server releases b's.
  ASSERT_TRUE(c->ChangeVisibility("q", stale, 0).ok());
  auto third = c->Receive("q", ReceiveOptions{.wait_ms = 5000});
  ASSERT_TRUE(third.ok()) << third.status();
  ASSERT_EQ(third->size(), 1u);  // well inside b's 60 s
  EXPECT_EQ((*third)[0].receive_count, 3);
  ASSERT_TRUE(c->DeleteMessage("q", (*third)[0].receipt_handle).ok());
  EXPECT_EQ(c->GetQueue("q")->in_flight, 0);
}

}  // namespace
}  // namespace tandem::bus
