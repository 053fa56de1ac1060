// Internal to the NATS event bus (nats_event_bus.cc, nats_queue.cc): the
// connection, the JetStream context and the helpers both files use. Not a
// public header: it includes <nats/nats.h>.
#pragma once

#include <nats/nats.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "common/json.h"
#include "common/status.h"
#include "glue/bus/nats_event_bus.h"
#include "glue/bus/pattern.h"

namespace tandem::bus {

// natsStatus (+ JetStream error code) -> Status naming `what`.
Status NatsError(natsStatus s, std::string_view what, jsErrCode jerr = static_cast<jsErrCode>(0));

// A pull subscription bound to a queue's durable consumer; fetches on one
// subscription are serialized by `mu`.
struct PullSub {
  absl::Mutex mu;
  natsSubscription* sub = nullptr;
  ~PullSub() {
    if (sub != nullptr) natsSubscription_Destroy(sub);
  }
};

struct NatsEventBus::Impl {
  Clock* clock = nullptr;
  std::string url;             // nats://host:port
  std::string prefix;          // e.g. TANDEM
  std::string subject_prefix;  // e.g. tandem
  std::string events_stream;   // <prefix>_EVENTS
  std::string queues_stream;   // <prefix>_QUEUES
  std::string bucket;          // <prefix>_CATALOG
  natsConnection* nc = nullptr;
  jsCtx* js = nullptr;
  kvStore* kv = nullptr;

  absl::Mutex mu;
  absl::CondVar cv;
  uint64_t generation ABSL_GUARDED_BY(mu) = 0;
  std::map<std::string, Pattern> patterns ABSL_GUARDED_BY(mu);
  std::map<std::string, std::shared_ptr<PullSub>> subs ABSL_GUARDED_BY(mu);
  std::map<uint64_t, std::string> bodies ABSL_GUARDED_BY(mu);  // queue-stream seq -> payload

  ~Impl();

  std::string QueueSubject(std::string_view queue) const {
    return subject_prefix + ".queue." + std::string(queue);
  }

  // Reads KV `key` (null JSON when absent) and its revision (0 if absent).
  StatusOr<std::pair<Json, uint64_t>> Load(const std::string& key);
  // Compare-and-set loop: loads `key`, applies `fn` (which may change the
  // document; returning an error aborts) and writes it back if unchanged
  // meanwhile, retrying on conflicts. `fn` may run several times.
  Status Update(const std::string& key, const std::function<Status(Json&)>& fn);

  StatusOr<Json> Catalog();  // {"queues": {...}, "rules": {...}}
  StatusOr<Pattern> CachedPattern(const Json& pattern);
  StatusOr<std::shared_ptr<PullSub>> Sub(const std::string& queue);
  void DropSub(const std::string& queue);

  // Publishes `payload` to `subject` with headers; returns the stream seq
  // and whether it was a duplicate of `msg_id`.
  StatusOr<std::pair<uint64_t, bool>> JsPublish(const std::string& subject,
                                                const std::string& payload,
                                                const std::string& msg_id,
                                                const std::map<std::string, std::string>& headers);
  // Acknowledges (removes) a queue message through its ack subject.
  Status Ack(const std::string& ack_subject);

  // Long-poll plumbing (wakes waiters of this process on publish).
  uint64_t Generation();
  void WaitForPublish(uint64_t seen, int64_t ms);
  void NotifyPublish();

  // --- queue state (nats_queue.cc) ---
  // Moves up to `limit` new messages from the queue's consumer into its KV
  // state, waiting up to `wait_ms` for the first one. Receive sweeps only
  // what it can hand out, so the state stays small (in flight + a batch);
  // GetQueue and Maintain sweep everything.
  Status Sweep(const std::string& queue, const Json& qinfo, int64_t wait_ms, int limit);
};

}  // namespace tandem::bus
