// The event bus: EventBridge-style rules route published events into durable
// SQS-style queues. Backends are chosen by URI scheme:
//   sqlite:///abs/path.db   SQL tables (events, rules, queues, messages)
//   postgres://...          the same SQL on PostgreSQL (sql_event_bus.h)
//   nats://host:port        NATS JetStream (nats_event_bus.h)
//
// Semantics (documented differences from AWS are marked "ours"):
// - Publish records the event (publish order = Tail sequence) and, for every
//   queue with at least one matching rule, one message. Ours: a queue gets an
//   event once even if several of its rules match (EventBridge would deliver
//   once per rule).
// - Queues are standard SQS queues: at-least-once, best-effort order, a
//   visibility timeout per receive, a dead-letter queue after
//   max_receive_count receives (a message is moved when a receive would
//   exceed it, keeping its receive count), retention from the send time.
// - CreateQueue is idempotent like SQS: creating an existing queue with
//   identical options succeeds; different options -> AlreadyExists.
// - DeleteMessage with a stale receipt (the message was received again since,
//   or already deleted) succeeds without deleting, as SQS documents; only a
//   malformed receipt is an error. ChangeVisibility with a stale receipt or on
//   a message that is no longer in flight -> FailedPrecondition.
// - Names of queues and rules: [A-Za-z0-9_-]{1,80}, else InvalidArgument.
//
// Thread-safety: every method is thread-safe; several processes may open the
// same sqlite:// bus at once.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/json.h"
#include "common/status.h"
#include "glue/bus/event.h"
#include "glue/bus/outbox.h"
#include "glue/bus/pattern.h"

namespace tandem::bus {

inline constexpr int64_t kMaxVisibilityTimeoutMs = 12LL * 3600 * 1000;  // 12 h
inline constexpr int64_t kMinRetentionMs = 60'000;                      // 60 s
inline constexpr int64_t kMaxRetentionMs = 14LL * 24 * 3600 * 1000;     // 14 days
inline constexpr int64_t kMaxDelayMs = 900'000;                         // 15 min
inline constexpr int64_t kMaxWaitMs = 20'000;                           // long poll
inline constexpr int kMaxReceiveMessages = 10;

struct QueueOptions {
  int64_t visibility_timeout_ms = 30'000;         // 0 .. 12 h
  int64_t retention_ms = 4LL * 24 * 3600 * 1000;  // 60 s .. 14 days
  int64_t delay_ms = 0;                           // 0 .. 15 min, on new messages
  int max_receive_count = 0;                      // 0 = no dead-letter queue
  std::string dead_letter_queue{};                // required iff max_receive_count > 0
  bool operator==(const QueueOptions&) const = default;
};

struct QueueInfo {
  std::string name{};
  QueueOptions options{};
  int64_t created_ms = 0;
  // Approximate counts at the time of the call (expired messages excluded).
  int64_t visible = 0;    // receivable now
  int64_t in_flight = 0;  // received, not deleted, visibility timeout running
  int64_t delayed = 0;    // not yet received, delay running
  // When the longest-waiting receivable message became receivable (epoch
  // ms; 0 if none): now minus this is the queue's oldest-message age.
  int64_t oldest_visible_ms = 0;
};

struct Rule {
  std::string name;
  Json pattern;
  std::string target_queue;
};

struct Message {
  std::string message_id;
  std::string receipt_handle;  // needed to delete or change visibility
  int receive_count = 0;       // including this receive
  int64_t first_received_ms = 0;
  int64_t sent_ms = 0;
  Event event;
};

struct ReceiveOptions {
  int max_messages = 1;                            // 1 .. 10
  int64_t wait_ms = 0;                             // long poll: 0 .. 20000
  std::optional<int64_t> visibility_timeout_ms{};  // overrides the queue's
};

struct SequencedEvent {
  int64_t seq = 0;  // strictly increasing in publish order
  Event event;
};

struct TailOptions {
  int64_t after_seq = 0;             // return events with seq > after_seq
  int limit = 100;                   // 1 .. 1000
  std::optional<Pattern> pattern{};  // only matching events
  int64_t wait_ms = 0;               // wait up to this long for a (matching) event: 0 .. 20000
};

struct TailResult {
  std::vector<SequencedEvent> events;
  // The last sequence number examined (>= every returned seq): pass it as the
  // next after_seq so filtered-out events are not scanned again.
  int64_t last_seq = 0;
};

struct EventBusOptions {
  Clock* clock = nullptr;  // nullptr = Clock::Real(); must outlive the bus
};

class EventBus {
 public:
  virtual ~EventBus() = default;

  // Opens a bus by URI (see the top of this file). Unknown or unsupported
  // schemes -> InvalidArgument / Unimplemented naming the scheme.
  static StatusOr<std::unique_ptr<EventBus>> Open(std::string_view uri,
                                                  const EventBusOptions& options = {});

  // The public methods check their arguments (InvalidArgument, the same for
  // every backend) and then call the backend's protected Do* method, which
  // may assume valid arguments.

  // Records `event` (assigning id and time when empty) and routes it.
  // Returns the event as recorded with its sequence number.
  StatusOr<SequencedEvent> Publish(const Event& event);

  // The transactional outbox of this bus, or nullptr when the backend cannot
  // join a caller's SQL transaction. Owned by the bus.
  virtual Outbox* outbox() { return nullptr; }

  // --- rules ---
  // Creates or replaces rule `name`. Invalid pattern -> InvalidArgument;
  // missing target queue -> NotFound.
  Status PutRule(std::string_view name, const Json& pattern, std::string_view target_queue);
  Status DeleteRule(std::string_view name);                          // NotFound if absent
  StatusOr<std::vector<Rule>> ListRules() { return DoListRules(); }  // by name

  // --- queues ---
  Status CreateQueue(std::string_view name, const QueueOptions& options = {});
  // Deletes the queue and its messages. FailedPrecondition (naming them) if
  // rules target it or another queue uses it as its dead-letter queue.
  Status DeleteQueue(std::string_view name);
  StatusOr<QueueInfo> GetQueue(std::string_view name);
  StatusOr<std::vector<QueueInfo>> ListQueues() { return DoListQueues(); }  // by name

  // --- messages ---
  // Receives up to max_messages visible messages, making them invisible for
  // the visibility timeout. With wait_ms > 0, waits until at least one
  // message is available or wait_ms elapses (then returns an empty vector).
  StatusOr<std::vector<Message>> Receive(std::string_view queue,
                                         const ReceiveOptions& options = {});
  // Acknowledges a message (see the semantics above for stale receipts).
  Status DeleteMessage(std::string_view queue, std::string_view receipt_handle);
  // Sets the remaining visibility timeout of an in-flight message from now
  // (0 makes it visible at once).
  Status ChangeVisibility(std::string_view queue, std::string_view receipt_handle,
                          int64_t timeout_ms);

  // --- event history ---
  // Events in publish order, for `tandem events tail`.
  StatusOr<TailResult> Tail(const TailOptions& options);

  // Housekeeping: purges expired messages (also done lazily on receive).
  Status Maintain() { return DoMaintain(); }

 protected:
  // The backend's work, called by the public methods above once the
  // arguments are valid (names, options and limits already checked).
  virtual StatusOr<SequencedEvent> DoPublish(const Event& event) = 0;
  virtual Status DoPutRule(std::string_view name, const Json& pattern,
                           std::string_view target_queue) = 0;
  virtual Status DoDeleteRule(std::string_view name) = 0;
  virtual StatusOr<std::vector<Rule>> DoListRules() = 0;
  virtual Status DoCreateQueue(std::string_view name, const QueueOptions& options) = 0;
  virtual Status DoDeleteQueue(std::string_view name) = 0;
  virtual StatusOr<QueueInfo> DoGetQueue(std::string_view name) = 0;
  virtual StatusOr<std::vector<QueueInfo>> DoListQueues() = 0;
  virtual StatusOr<std::vector<Message>> DoReceive(std::string_view queue,
                                                   const ReceiveOptions& options) = 0;
  virtual Status DoDeleteMessage(std::string_view queue, std::string_view receipt_handle) = 0;
  virtual Status DoChangeVisibility(std::string_view queue, std::string_view receipt_handle,
                                    int64_t timeout_ms) = 0;
  virtual StatusOr<TailResult> DoTail(const TailOptions& options) = 0;
  virtual Status DoMaintain() = 0;
};

// Queue and rule names: [A-Za-z0-9_-]{1,80}. InvalidArgument naming `what`.
Status ValidateName(std::string_view what, std::string_view name);
// Checks queue options against the SQS-like limits above (every backend);
// InvalidArgument naming the queue and the field.
Status ValidateQueueOptions(std::string_view name, const QueueOptions& options);
// An event as Publish and Outbox::Append accept it: non-empty source and
// detail-type, an object as detail. InvalidArgument naming the field.
Status ValidateEvent(const Event& event);

}  // namespace tandem::bus
