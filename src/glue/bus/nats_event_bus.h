// The NATS JetStream backend of the event bus (docs/backends/nats.md):
//
//   nats://127.0.0.1:4222[?prefix=TANDEM]
//
// Layout, all names derived from the prefix (default TANDEM; tests use a
// unique one each):
//   stream  TANDEM_EVENTS   subjects tandem.events.<source>   the event log:
//           Publish = a JetStream publish (Nats-Msg-Id = event id), Tail reads
//           it by stream sequence, which is the event's seq.
//   stream  TANDEM_QUEUES   subjects tandem.queue.<queue>     (work-queue
//           retention) one message per routed event copy; each queue is a
//           durable pull consumer <queue> with explicit ack and AckWait = the
//           queue's visibility timeout; DeleteMessage acks (removes) it.
//   stream  TANDEM_DELAYED  subjects tandem.delayed.<queue>   copies for
//           queues with a delivery delay wait here until due.
//   KV      TANDEM_CATALOG  key "catalog": queues and rules (one document,
//           updated with compare-and-set, cached and watched by every bus).
//
// Rules are EventBridge patterns (pattern.h); NATS subjects cannot express
// them, so the publisher routes: it matches the rules once per event against
// its cached catalog and publishes the event and one copy per matching queue
// together (Nats-Msg-Id "<event id>/<queue>" on copies, so a retried publish
// never duplicates a copy), returning once JetStream acknowledged all.
//
// Receiving uses JetStream's delivery semantics (nats_queue.cc): the receive
// count is the delivery count, ChangeVisibility is +WPI / -NAK with a delay,
// a delivery past max_receive_count moves to the dead-letter queue. Times
// (visibility, delay, retention) are read from the injected clock; see
// docs/backends/nats.md for the two deviations that remain.
//
// Thread-safety: every method is thread-safe; any number of processes may
// open the same bus.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "common/clock.h"
#include "glue/bus/event_bus.h"

namespace tandem::bus {

class NatsEventBus final : public EventBus {
 public:
  // Connects to `uri` (nats://host:port[?prefix=NAME]) and creates the
  // streams and the KV bucket when missing. `clock` must outlive the bus.
  static StatusOr<std::unique_ptr<NatsEventBus>> Open(std::string_view uri, Clock& clock);
  ~NatsEventBus() override;

  // The names in use (for tests, tools and docs).
  const std::string& events_stream() const;
  const std::string& queues_stream() const;

  struct Impl;  // nats_bus_internal.h (the only place that sees nats.h)

 protected:
  // EventBus. DoPublish: a duplicate event id (within the stream's duplicate
  // window, 1 h) -> AlreadyExists; the event's routed copies are
  // (re)published first, so retrying a publish that failed half-way
  // completes it.
  StatusOr<SequencedEvent> DoPublish(const Event& event) override;
  Status DoPutRule(std::string_view name, const Json& pattern,
                   std::string_view target_queue) override;
  Status DoDeleteRule(std::string_view name) override;
  StatusOr<std::vector<Rule>> DoListRules() override;
  Status DoCreateQueue(std::string_view name, const QueueOptions& options) override;
  Status DoDeleteQueue(std::string_view name) override;
  StatusOr<QueueInfo> DoGetQueue(std::string_view name) override;
  StatusOr<std::vector<QueueInfo>> DoListQueues() override;
  StatusOr<std::vector<Message>> DoReceive(std::string_view queue,
                                           const ReceiveOptions& options) override;
  Status DoDeleteMessage(std::string_view queue, std::string_view receipt_handle) override;
  Status DoChangeVisibility(std::string_view queue, std::string_view receipt_handle,
                            int64_t timeout_ms) override;
  StatusOr<TailResult> DoTail(const TailOptions& options) override;
  Status DoMaintain() override;

 private:
  explicit NatsEventBus(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace tandem::bus
