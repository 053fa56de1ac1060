// Internal to the NATS event bus (nats_event_bus.cc, nats_wire.cc,
// nats_queue.cc): the connection, the JetStream context, the catalog cache,
// the pipelined wire helpers and this process's leases. Not a public header:
// it includes <nats/nats.h>.
#pragma once

#include <nats/nats.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "common/json.h"
#include "common/status.h"
#include "glue/bus/nats_direct.h"
#include "glue/bus/nats_event_bus.h"
#include "glue/bus/pattern.h"

namespace tandem::bus {

inline constexpr int64_t kNsPerMs = 1'000'000;
// A queue's consumer has AckWait = its visibility timeout, at least this
// (shorter or per-receive timeouts are set per message with Nak + delay).
inline constexpr int64_t kMinAckWaitMs = 1000;
inline int64_t AckWaitMsFor(int64_t visibility_timeout_ms) {
  return visibility_timeout_ms > kMinAckWaitMs ? visibility_timeout_ms : kMinAckWaitMs;
}

inline constexpr int64_t kReplyTimeoutMs = 10'000;  // a reply the server owes us
// A pull the server neither answers nor ends is given up: a no-wait one
// after a second, one with expires a few seconds after it should have ended.
inline int64_t PullGiveUpMs(int64_t expires_ms) {
  return expires_ms > 0 ? expires_ms + 3000 : 1000;
}

// A JetStream publish acknowledgement (status: the reply's status, "503" when
// no stream takes the subject) -> seq/duplicate, or the error it carries.
struct PubAck;
Status ReadPubAck(const std::string& status, std::string_view data, const std::string& subject,
                  PubAck* out);
// A status message ending (true), continuing (false, heartbeat) or failing
// a pull request.
StatusOr<bool> PullEnded(const std::string& status, const std::string& description,
                         const std::string& consumer);
// A libnats message as a WireMsg (the libnats fallback of the hot paths).
WireMsg ToWire(natsMsg* m);

// natsStatus (+ JetStream error code) -> Status naming `what`.
Status NatsError(natsStatus s, std::string_view what, jsErrCode jerr = static_cast<jsErrCode>(0));

// The catalog ("catalog" in the KV bucket) as this process last saw it, with
// the rules compiled once per revision so Publish matches without a round
// trip. Replaced whole (readers keep the snapshot they took).
struct CatalogSnapshot {
  uint64_t revision = 0;
  Json doc;                                            // {"queues": {...}, "rules": {...}}
  std::map<std::string, QueueInfo> queues;             // options and created_ms
  std::vector<std::pair<Pattern, std::string>> rules;  // in rule-name order -> queue
};

// A private inbox subscription ("<inbox>.*") owned by one operation at a
// time; replies to pipelined requests come back on "<inbox>.<n>".
struct Inbox {
  natsSubscription* sub = nullptr;
  std::string prefix;  // "<inbox>."
  uint64_t next = 0;
  ~Inbox() {
    if (sub != nullptr) natsSubscription_Destroy(sub);
  }
};

struct MsgDeleter {
  void operator()(natsMsg* m) const { natsMsg_Destroy(m); }
};
using MsgPtr = std::unique_ptr<natsMsg, MsgDeleter>;

// A JetStream publish: subject, payload, headers (Nats-Msg-Id among them).
struct OutMsg {
  std::string subject;
  std::string payload;
  std::vector<std::pair<std::string, std::string>> headers;
};

struct PubAck {
  uint64_t seq = 0;
  bool duplicate = false;
};

// What this process knows about a message it handed out (or, for the
// delayed stage, holds back): the delivery it owns and until when.
struct Lease {
  uint64_t delivery = 0;    // JetStream delivery count of the owned delivery
  std::string ack_tail;     // "<delivered>.<stream seq>.<consumer seq>.<ts>.<pending>"
  int64_t deadline_ms = 0;  // on the injected clock
  std::chrono::steady_clock::time_point server_deadline;  // when the server redelivers
  int64_t first_received_ms = 0;
};

// Leases of one queue stage (the queue's consumer or its delay consumer).
struct LeaseTable {
  std::map<uint64_t, Lease> by_seq;                    // stream seq -> lease
  std::set<std::pair<int64_t, uint64_t>> by_deadline;  // (deadline_ms, seq)
  // Messages this process deleted or released: seq -> (delivery, first
  // received ms); bounded, used for stale receipts and first_received_ms.
  std::map<uint64_t, std::pair<uint64_t, int64_t>> past;
};

struct NatsEventBus::Impl {
  Clock* clock = nullptr;
  std::string url;             // nats://host:port
  std::string prefix;          // e.g. TANDEM
  std::string subject_prefix;  // e.g. tandem
  std::string events_stream;   // <prefix>_EVENTS
  std::string queues_stream;   // <prefix>_QUEUES
  std::string delayed_stream;  // <prefix>_DELAYED
  std::string bucket;          // <prefix>_CATALOG
  natsConnection* nc = nullptr;
  // DeleteMessage's acks go out on their own connection, buffered by the
  // library's flusher (a write carries many acks; nc writes each request at
  // once because its caller waits for the reply).
  natsConnection* ack_nc = nullptr;
  jsCtx* js = nullptr;
  kvStore* kv = nullptr;
  kvWatcher* watcher = nullptr;
  std::thread watch_thread;
  std::atomic<bool> stopping{false};

  absl::Mutex mu;
  absl::CondVar cv;
  uint64_t generation ABSL_GUARDED_BY(mu) = 0;
  std::shared_ptr<const CatalogSnapshot> catalog ABSL_GUARDED_BY(mu);
  std::vector<std::unique_ptr<Inbox>> inboxes ABSL_GUARDED_BY(mu);
  // The hot paths (PublishAll, AckAll, Pull) on connections driven by the
  // calling thread (nats_direct.h) when the server allows them (no TLS, no
  // credentials); otherwise on nc through libnats.
  bool direct = false;
  std::string direct_host;
  int direct_port = 0;
  std::vector<std::unique_ptr<DirectConn>> conns ABSL_GUARDED_BY(mu);

  // DeleteMessage acks without waiting; the last ack sent to each consumer
  // (acks of one consumer are processed in order) is confirmed by Confirm.
  absl::Mutex ack_mu;
  std::map<std::string, std::string> unconfirmed ABSL_GUARDED_BY(ack_mu);  // prefix -> ack

  absl::Mutex lease_mu;
  std::map<std::string, LeaseTable> leases ABSL_GUARDED_BY(lease_mu);  // by LeaseKey

  ~Impl();

  std::string QueueSubject(std::string_view queue) const {
    return subject_prefix + ".queue." + std::string(queue);
  }
  std::string DelayedSubject(std::string_view queue) const {
    return subject_prefix + ".delayed." + std::string(queue);
  }
  // "$JS.ACK.<stream>.<consumer>." — a receipt is what follows it.
  std::string AckPrefix(const std::string& stream, std::string_view queue) const {
    return "$JS.ACK." + stream + "." + std::string(queue) + ".";
  }

  // --- catalog (nats_event_bus.cc) ---
  // Reads KV `key` (null JSON when absent) and its revision (0 if absent).
  StatusOr<std::pair<Json, uint64_t>> Load(const std::string& key);
  // Compare-and-set loop on the catalog: loads it, applies `fn` (which may
  // change it; returning an error aborts) and writes it back if unchanged
  // meanwhile, retrying on conflicts. Installs the result locally.
  Status UpdateCatalog(const std::function<Status(Json&)>& fn);
  // The cached catalog (kept current by a KV watcher and by own writes).
  std::shared_ptr<const CatalogSnapshot> Catalog();
  void Install(uint64_t revision, const Json& doc);
  void WatchCatalog();
  StatusOr<QueueInfo> FindQueue(std::string_view name);  // NotFound

  // --- wire (nats_wire.cc) ---
  StatusOr<std::unique_ptr<Inbox>> TakeInbox();
  void GiveBack(std::unique_ptr<Inbox> inbox);
  // A pooled direct connection (dialled when none is idle; one idle for
  // long is replaced); given back only after an operation that completed.
  StatusOr<std::unique_ptr<DirectConn>> TakeConn();
  void GiveBack(std::unique_ptr<DirectConn> conn);
  // JetStream publishes, pipelined: all are sent, then all acks awaited.
  StatusOr<std::vector<PubAck>> PublishAll(const std::vector<OutMsg>& msgs);
  // Acknowledgements ("+ACK", "-NAK", "-NAK {...}", "+WPI") sent with a
  // reply subject, pipelined; returns once the server processed all.
  Status AckAll(const std::vector<std::pair<std::string, std::string>>& acks);
  // One pull request on `consumer` of `stream`: up to `batch` messages,
  // returning as soon as any are there, or after `expires_ms` (0: at once).
  StatusOr<std::vector<WireMsg>> Pull(const std::string& stream, const std::string& consumer,
                                      int batch, int64_t expires_ms);
  // The same three on a direct connection (nats_direct_ops.cc).
  StatusOr<std::vector<PubAck>> DirectPublishAll(const std::vector<OutMsg>& msgs);
  Status DirectAckAll(const std::vector<std::pair<std::string, std::string>>& acks);
  StatusOr<std::vector<WireMsg>> DirectPull(const std::string& stream,
                                            const std::string& consumer, int batch,
                                            int64_t expires_ms);

  // Sends "+ACK" on `ack_subject` (of consumer `ack_prefix`) without
  // waiting for the server.
  Status AckLater(const std::string& ack_prefix, const std::string& ack_subject);
  // Waits until the server processed every ack AckLater sent before.
  Status Confirm();

  // Long-poll plumbing for Tail (wakes waiters of this process on publish).
  uint64_t Generation();
  void WaitForPublish(uint64_t seen, int64_t ms);
  void NotifyPublish();
};

// Lease-table key of a queue stage.
inline std::string LeaseKey(std::string_view queue, bool delayed) {
  return std::string(queue) + (delayed ? "#delayed" : "");
}

}  // namespace tandem::bus
