// NATS JetStream event bus: the queue side. Each queue's durable pull
// consumer hands new messages to Sweep, which records them in the queue's KV
// state ("q.<queue>": {"m": {"<stream seq>": entry}}); receive, visibility,
// dead-lettering and retention then work on that state with compare-and-set,
// on the injected clock, and DeleteMessage acks the JetStream message.
//
// Entry fields: id (message id), v (visible at, ms), c (receive count),
// f (first received, ms; 0 = never), s (sent, ms), x (expires, ms),
// r (current receipt, "" = none), a (the JetStream ack subject).
#include <algorithm>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "common/ids.h"
#include "glue/bus/nats_bus_internal.h"

namespace tandem::bus {
namespace {

constexpr int kSweepBatch = 256;
constexpr int kSweepAll = 1 << 30;
constexpr int64_t kNsPerMs = 1'000'000;
constexpr int64_t kPollMs = 25;  // long-poll re-check period (real time)
constexpr size_t kBodyCacheMax = 20'000;
constexpr char kCatalogKey[] = "catalog";

std::string StateKey(const std::string& queue) { return "q." + queue; }

Status QueueNotFound(std::string_view name) {
  return NotFoundError("queue '" + std::string(name) + "' not found");
}

int64_t HeaderInt(natsMsg* msg, const char* key, int64_t fallback) {
  const char* v = nullptr;
  if (natsMsgHeader_Get(msg, key, &v) != NATS_OK || v == nullptr) return fallback;
  try {
    return std::stoll(v);
  } catch (const std::exception&) {
    return fallback;
  }
}

std::string HeaderText(natsMsg* msg, const char* key) {
  const char* v = nullptr;
  if (natsMsgHeader_Get(msg, key, &v) != NATS_OK || v == nullptr) return "";
  return v;
}

// The stream sequence a receipt names ("<seq>.<token>").
std::string ReceiptSeq(std::string_view receipt) {
  return std::string(receipt.substr(0, receipt.find('.')));
}

struct Queue {
  std::string name;
  Json options;  // the catalog entry
  int64_t vis() const { return options.value("visibility_timeout_ms", int64_t{30'000}); }
  int64_t delay() const { return options.value("delay_ms", int64_t{0}); }
  int64_t retention() const { return options.value("retention_ms", int64_t{0}); }
  int mrc() const { return options.value("max_receive_count", 0); }
  std::string dlq() const { return options.value("dead_letter_queue", std::string()); }
};

StatusOr<Queue> LoadQueue(NatsEventBus::Impl& d, std::string_view name) {
  ASSIGN_OR_RETURN(Json cat, d.Catalog());
  const std::string n(name);
  if (!cat["queues"].contains(n)) return QueueNotFound(n);
  return Queue{n, cat["queues"][n]};
}

Json& Messages(Json& doc) {
  if (!doc.is_object()) doc = Json::object();
  if (!doc.contains("m") || !doc["m"].is_object()) doc["m"] = Json::object();
  return doc["m"];
}

// Drops expired entries (acking their JetStream messages).
Status Expire(NatsEventBus::Impl& d, Json& m, int64_t now) {
  for (auto it = m.begin(); it != m.end();) {
    if (it.value().value("x", int64_t{0}) <= now) {
      RETURN_IF_ERROR(d.Ack(it.value().value("a", std::string())));
      it = m.erase(it);
    } else {
      ++it;
    }
  }
  return OkStatus();
}

}  // namespace

Status NatsEventBus::Impl::Sweep(const std::string& queue, const Json& qopts, int64_t wait_ms,
                                 int limit) {
  ASSIGN_OR_RETURN(std::shared_ptr<PullSub> ps, Sub(queue));
  struct Fetched {
    uint64_t seq;
    Json entry;
  };
  std::vector<Fetched> got;
  {
    absl::MutexLock lock(&ps->mu);
    bool first = true;
    if (wait_ms == 0) {
      // A no-wait fetch on an empty consumer would wait out its expiry:
      // ask the consumer first whether anything is waiting.
      jsConsumerInfo* ci = nullptr;
      jsErrCode jerr = static_cast<jsErrCode>(0);
      natsStatus s =
          js_GetConsumerInfo(&ci, js, queues_stream.c_str(), queue.c_str(), nullptr, &jerr);
      if (s != NATS_OK) return NatsError(s, "consumer info of queue '" + queue + "'", jerr);
      const bool empty = ci->NumPending == 0;
      jsConsumerInfo_Destroy(ci);
      if (empty) return OkStatus();
    }
    while (static_cast<int>(got.size()) < limit) {
      const int batch = std::min(kSweepBatch, limit - static_cast<int>(got.size()));
      natsMsgList list{nullptr, 0};
      natsStatus s;
      jsErrCode jerr = static_cast<jsErrCode>(0);
      if (first && wait_ms > 0) {
        s = natsSubscription_Fetch(&list, ps->sub, batch, wait_ms, &jerr);
      } else {
        jsFetchRequest req;
        jsFetchRequest_Init(&req);
        req.Batch = batch;
        req.NoWait = true;
        // Returns as soon as the available messages are in; only a fetch that
        // lost a race for them waits out this expiry.
        req.Expires = 50 * kNsPerMs;
        s = natsSubscription_FetchRequest(&list, ps->sub, &req);
      }
      first = false;
      if (s == NATS_TIMEOUT || s == NATS_NOT_FOUND) break;
      if (s != NATS_OK) return NatsError(s, "fetch from queue '" + queue + "'", jerr);
      const int count = list.Count;
      for (int i = 0; i < count; ++i) {
        natsMsg* msg = list.Msgs[i];
        jsMsgMetaData* meta = nullptr;
        if (natsMsg_GetMetaData(&meta, msg) != NATS_OK) continue;
        const uint64_t seq = meta->Sequence.Stream;
        jsMsgMetaData_Destroy(meta);
        const int64_t sent = HeaderInt(msg, "Tandem-Sent-Ms", 0);
        const int64_t count_before = HeaderInt(msg, "Tandem-Receive-Count", 0);
        Json e{{"id", HeaderText(msg, "Tandem-Message-Id")},
               {"c", count_before},
               {"f", HeaderInt(msg, "Tandem-First-Received-Ms", 0)},
               {"s", sent},
               // Dead-lettered copies are visible at once (no delay).
               {"v", count_before > 0 ? 0 : sent + qopts.value("delay_ms", int64_t{0})},
               {"x", sent + qopts.value("retention_ms", int64_t{0})},
               {"r", ""},
               {"a", natsMsg_GetReply(msg) ? natsMsg_GetReply(msg) : ""}};
        {
          absl::MutexLock block(&mu);
          if (bodies.size() >= kBodyCacheMax) bodies.clear();
          bodies[seq] = std::string(natsMsg_GetData(msg), natsMsg_GetDataLength(msg));
        }
        got.push_back(Fetched{seq, std::move(e)});
      }
      natsMsgList_Destroy(&list);
      if (count < batch) break;
    }
  }
  if (got.empty()) return OkStatus();
  return Update(StateKey(queue), [&](Json& doc) -> Status {
    Json& m = Messages(doc);
    for (const Fetched& f : got) {
      const std::string k = std::to_string(f.seq);
      if (m.contains(k)) {
        m[k]["a"] = f.entry["a"];  // a redelivery: only the ack subject is new
      } else {
        m[k] = f.entry;
      }
    }
    return OkStatus();
  });
}

StatusOr<std::vector<Message>> NatsEventBus::DoReceive(std::string_view queue,
                                                       const ReceiveOptions& options) {
  Impl& d = *impl_;
  ASSIGN_OR_RETURN(Queue q, LoadQueue(d, queue));
  const int64_t vis = options.visibility_timeout_ms.value_or(q.vis());
  const int64_t deadline = d.clock->MonotonicMillis() + options.wait_ms;
  int64_t poll_ms = 0;
  while (true) {
    RETURN_IF_ERROR(d.Sweep(q.name, q.options, poll_ms, options.max_messages));
    struct Picked {
      std::string seq;
      Json entry;
    };
    std::vector<Picked> picked;
    RETURN_IF_ERROR(d.Update(StateKey(q.name), [&](Json& doc) -> Status {
      picked.clear();
      const int64_t now = d.clock->NowMillis();
      Json& m = Messages(doc);
      RETURN_IF_ERROR(Expire(d, m, now));
      std::vector<std::pair<std::pair<int64_t, uint64_t>, std::string>> visible;
      for (auto it = m.begin(); it != m.end(); ++it) {
        const int64_t v = it.value().value("v", int64_t{0});
        if (v <= now) visible.push_back({{v, std::stoull(it.key())}, it.key()});
      }
      std::sort(visible.begin(), visible.end());
      for (const auto& cand : visible) {
        if (static_cast<int>(picked.size()) >= options.max_messages) break;
        Json& e = m[cand.second];
        const int64_t count = e.value("c", int64_t{0});
        if (q.mrc() > 0 && count >= q.mrc()) {
          // A receive would exceed maxReceiveCount: move to the dead-letter
          // queue (keeping count and first receive), then ack the original.
          std::string body;
          {
            absl::MutexLock lock(&d.mu);
            auto b = d.bodies.find(std::stoull(cand.second));
            if (b != d.bodies.end()) body = b->second;
          }
          if (body.empty()) {
            natsMsg* msg = nullptr;
            jsErrCode jerr = static_cast<jsErrCode>(0);
            natsStatus s = js_GetMsg(&msg, d.js, d.queues_stream.c_str(), std::stoull(cand.second),
                                     nullptr, &jerr);
            if (s != NATS_OK) return NatsError(s, "read message " + cand.second, jerr);
            body.assign(natsMsg_GetData(msg), natsMsg_GetDataLength(msg));
            natsMsg_Destroy(msg);
          }
          const std::string id = e.value("id", std::string());
          ASSIGN_OR_RETURN(
              auto moved,
              d.JsPublish(d.QueueSubject(q.dlq()), body, id + "/dlq/" + q.dlq(),
                          {{"Tandem-Message-Id", id},
                           {"Tandem-Sent-Ms", std::to_string(e.value("s", 0L))},
                           {"Tandem-Receive-Count", std::to_string(count)},
                           {"Tandem-First-Received-Ms", std::to_string(e.value("f", 0L))}}));
          (void)moved;
          RETURN_IF_ERROR(d.Ack(e.value("a", std::string())));
          m.erase(cand.second);
          continue;
        }
        e["c"] = count + 1;
        if (e.value("f", int64_t{0}) == 0) e["f"] = now;
        e["r"] = cand.second + "." + NewUlid(*d.clock);
        e["v"] = now + vis;
        picked.push_back(Picked{cand.second, e});
      }
      return OkStatus();
    }));
    if (!picked.empty()) {
      std::vector<Message> out;
      for (const Picked& p : picked) {
        const uint64_t seq = std::stoull(p.seq);
        std::string body;
        {
          absl::MutexLock lock(&d.mu);
          auto b = d.bodies.find(seq);
          if (b != d.bodies.end()) body = b->second;
        }
        if (body.empty()) {
          natsMsg* msg = nullptr;
          jsErrCode jerr = static_cast<jsErrCode>(0);
          natsStatus s = js_GetMsg(&msg, d.js, d.queues_stream.c_str(), seq, nullptr, &jerr);
          if (s != NATS_OK) return NatsError(s, "read message " + p.seq, jerr);
          body.assign(natsMsg_GetData(msg), natsMsg_GetDataLength(msg));
          natsMsg_Destroy(msg);
        }
        auto j = ParseJson(body);
        if (!j.ok()) return DataLossError("message " + p.seq + " is not valid JSON");
        Message m;
        m.message_id = p.entry.value("id", std::string());
        m.receipt_handle = p.entry.value("r", std::string());
        m.receive_count = p.entry.value("c", 0);
        m.first_received_ms = p.entry.value("f", int64_t{0});
        m.sent_ms = p.entry.value("s", int64_t{0});
        ASSIGN_OR_RETURN(m.event, Event::FromJson(*j));
        out.push_back(std::move(m));
      }
      return out;
    }
    if (d.clock->MonotonicMillis() >= deadline) return std::vector<Message>{};
    poll_ms = kPollMs;  // wait on the server for a new message, then re-check
  }
}

Status NatsEventBus::DoDeleteMessage(std::string_view queue, std::string_view receipt_handle) {
  Impl& d = *impl_;
  const std::string name(queue);
  const std::string seq = ReceiptSeq(receipt_handle);
  const std::string receipt(receipt_handle);
  bool matched = false;
  RETURN_IF_ERROR(d.Update(StateKey(name), [&](Json& doc) -> Status {
    matched = false;
    auto m = doc.is_object() ? doc.find("m") : doc.end();
    if (m == doc.end() || !m->is_object()) return OkStatus();
    auto e = m->find(seq);
    if (e == m->end() || e->value("r", std::string()) != receipt) return OkStatus();
    RETURN_IF_ERROR(d.Ack(e->value("a", std::string())));
    m->erase(seq);
    matched = true;
    return OkStatus();
  }));
  if (matched) return OkStatus();  // the receipt proves the queue exists
  // A stale receipt deletes nothing and still succeeds (SQS semantics), if
  // the queue exists.
  ASSIGN_OR_RETURN(Queue q, LoadQueue(d, name));
  (void)q;
  return OkStatus();
}

Status NatsEventBus::DoChangeVisibility(std::string_view queue, std::string_view receipt_handle,
                                        int64_t timeout_ms) {
  Impl& d = *impl_;
  ASSIGN_OR_RETURN(Queue q, LoadQueue(d, queue));
  const std::string seq = ReceiptSeq(receipt_handle);
  const std::string receipt(receipt_handle);
  return d.Update(StateKey(q.name), [&](Json& doc) -> Status {
    Json& m = Messages(doc);
    const int64_t now = d.clock->NowMillis();
    if (!m.contains(seq) || m[seq].value("r", std::string()) != receipt ||
        m[seq].value("v", int64_t{0}) <= now) {
      return FailedPreconditionError("message of receipt '" + receipt +
                                     "' is not in flight in queue '" + q.name +
                                     "' (stale receipt, deleted, or visibility expired)");
    }
    m[seq]["v"] = now + timeout_ms;
    return OkStatus();
  });
}

StatusOr<QueueInfo> NatsEventBus::DoGetQueue(std::string_view name) {
  Impl& d = *impl_;
  ASSIGN_OR_RETURN(Queue q, LoadQueue(d, name));
  RETURN_IF_ERROR(d.Sweep(q.name, q.options, 0, kSweepAll));
  ASSIGN_OR_RETURN(auto loaded, d.Load(StateKey(q.name)));
  QueueInfo info;
  info.name = q.name;
  info.options.visibility_timeout_ms = q.vis();
  info.options.retention_ms = q.retention();
  info.options.delay_ms = q.delay();
  info.options.max_receive_count = q.mrc();
  info.options.dead_letter_queue = q.dlq();
  info.created_ms = q.options.value("created_ms", int64_t{0});
  const int64_t now = d.clock->NowMillis();
  Json& m = Messages(loaded.first);
  for (const auto& [seq, e] : m.items()) {
    if (e.value("x", int64_t{0}) <= now) continue;
    if (int64_t v = e.value("v", int64_t{0}); v <= now) {
      ++info.visible;
      if (info.oldest_visible_ms == 0 || v < info.oldest_visible_ms) info.oldest_visible_ms = v;
    } else if (!e.value("r", std::string()).empty()) {
      ++info.in_flight;
    } else {
      ++info.delayed;
    }
  }
  return info;
}

Status NatsEventBus::DoMaintain() {
  Impl& d = *impl_;
  ASSIGN_OR_RETURN(Json cat, d.Catalog());
  for (const auto& [name, opts] : cat["queues"].items()) {
    // A short wait also collects server redeliveries (after AckWait) of
    // messages a crashed process fetched but never recorded.
    RETURN_IF_ERROR(d.Sweep(name, opts, 1, kSweepAll));
    RETURN_IF_ERROR(d.Update(StateKey(name), [&](Json& doc) -> Status {
      return Expire(d, Messages(doc), d.clock->NowMillis());
    }));
  }
  return OkStatus();
}

}  // namespace tandem::bus
