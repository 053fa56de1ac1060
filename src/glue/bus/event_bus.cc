#include "glue/bus/event_bus.h"

#include "common/uri.h"
#include "glue/bus/nats_event_bus.h"
#include "glue/bus/sql_event_bus.h"
#include "glue/sql/database.h"

namespace tandem::bus {

Status ValidateName(std::string_view what, std::string_view name) {
  bool ok = !name.empty() && name.size() <= 80;
  for (char c : name) {
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
          c == '-')) {
      ok = false;
    }
  }
  if (ok) return OkStatus();
  return InvalidArgumentError("invalid " + std::string(what) + " name '" + std::string(name) +
                              "': must match [A-Za-z0-9_-]{1,80}");
}

Status ValidateQueueOptions(std::string_view name, const QueueOptions& o) {
  auto bad = [&](const std::string& what) {
    return InvalidArgumentError("queue '" + std::string(name) + "': " + what);
  };
  if (o.visibility_timeout_ms < 0 || o.visibility_timeout_ms > kMaxVisibilityTimeoutMs) {
    return bad("visibility_timeout_ms must be within 0..43200000 (12 h)");
  }
  if (o.retention_ms < kMinRetentionMs || o.retention_ms > kMaxRetentionMs) {
    return bad("retention_ms must be within 60000 (60 s)..1209600000 (14 days)");
  }
  if (o.delay_ms < 0 || o.delay_ms > kMaxDelayMs) return bad("delay_ms must be within 0..900000");
  if (o.max_receive_count < 0 || o.max_receive_count > 1000) {
    return bad("max_receive_count must be within 0..1000");
  }
  if ((o.max_receive_count > 0) != !o.dead_letter_queue.empty()) {
    return bad("max_receive_count > 0 and dead_letter_queue must be set together");
  }
  if (!o.dead_letter_queue.empty()) {
    RETURN_IF_ERROR(ValidateName("dead-letter queue", o.dead_letter_queue));
    if (o.dead_letter_queue == name) return bad("a queue cannot be its own dead-letter queue");
  }
  return OkStatus();
}

Status ValidateEvent(const Event& e) {
  if (e.source.empty()) return InvalidArgumentError("event field 'source' must not be empty");
  if (e.detail_type.empty()) {
    return InvalidArgumentError("event field 'detail-type' must not be empty");
  }
  if (!e.detail.is_object()) return InvalidArgumentError("event field 'detail' must be an object");
  return OkStatus();
}

namespace {

// Receipts are "<message>.<token>" on every backend.
Status ValidateReceipt(std::string_view receipt) {
  if (receipt.empty() || receipt.find('.') == std::string_view::npos) {
    return InvalidArgumentError("malformed receipt handle '" + std::string(receipt) + "'");
  }
  return OkStatus();
}

Status ValidateWaitMs(int64_t wait_ms) {
  if (wait_ms < 0 || wait_ms > kMaxWaitMs) {
    return InvalidArgumentError("wait_ms must be within 0..20000");
  }
  return OkStatus();
}

}  // namespace

StatusOr<std::unique_ptr<EventBus>> EventBus::Open(std::string_view uri,
                                                   const EventBusOptions& options) {
  Clock& clock = options.clock != nullptr ? *options.clock : Clock::Real();
  StatusOr<Uri> parsed = ParseUri(uri);
  if (!parsed.ok()) {
    return InvalidArgumentError("event bus " + std::string(parsed.status().message()) +
                                " (expected sqlite:///abs/path.db, postgres:// or nats://)");
  }
  const std::string& scheme = parsed->scheme;
  if (scheme == "sqlite" || scheme == "postgres" || scheme == "postgresql") {
    auto db = sql::Database::Open(uri);
    if (!db.ok()) return Annotate(db.status(), "event bus");
    ASSIGN_OR_RETURN(std::unique_ptr<SqlEventBus> bus, SqlEventBus::Open(std::move(*db), clock));
    return std::unique_ptr<EventBus>(std::move(bus));
  }
  if (scheme == "nats") {
    ASSIGN_OR_RETURN(std::unique_ptr<NatsEventBus> bus, NatsEventBus::Open(uri, clock));
    return std::unique_ptr<EventBus>(std::move(bus));
  }
  return InvalidArgumentError("unsupported event bus URI scheme '" + scheme + "' in '" +
                              std::string(uri) + "' (expected sqlite://, postgres:// or nats://)");
}

StatusOr<SequencedEvent> EventBus::Publish(const Event& event) {
  RETURN_IF_ERROR(ValidateEvent(event));
  return DoPublish(event);
}

Status EventBus::PutRule(std::string_view name, const Json& pattern,
                         std::string_view target_queue) {
  RETURN_IF_ERROR(ValidateName("rule", name));
  RETURN_IF_ERROR(ValidateName("queue", target_queue));
  auto parsed = Pattern::Parse(pattern);
  if (!parsed.ok()) return Annotate(parsed.status(), "rule '" + std::string(name) + "'");
  return DoPutRule(name, pattern, target_queue);
}

Status EventBus::DeleteRule(std::string_view name) {
  RETURN_IF_ERROR(ValidateName("rule", name));
  return DoDeleteRule(name);
}

Status EventBus::CreateQueue(std::string_view name, const QueueOptions& options) {
  RETURN_IF_ERROR(ValidateName("queue", name));
  RETURN_IF_ERROR(ValidateQueueOptions(name, options));
  return DoCreateQueue(name, options);
}

Status EventBus::DeleteQueue(std::string_view name) {
  RETURN_IF_ERROR(ValidateName("queue", name));
  return DoDeleteQueue(name);
}

StatusOr<QueueInfo> EventBus::GetQueue(std::string_view name) {
  RETURN_IF_ERROR(ValidateName("queue", name));
  return DoGetQueue(name);
}

StatusOr<std::vector<Message>> EventBus::Receive(std::string_view queue,
                                                 const ReceiveOptions& options) {
  RETURN_IF_ERROR(ValidateName("queue", queue));
  if (options.max_messages < 1 || options.max_messages > kMaxReceiveMessages) {
    return InvalidArgumentError("max_messages must be within 1..10");
  }
  RETURN_IF_ERROR(ValidateWaitMs(options.wait_ms));
  if (options.visibility_timeout_ms && (*options.visibility_timeout_ms < 0 ||
                                        *options.visibility_timeout_ms > kMaxVisibilityTimeoutMs)) {
    return InvalidArgumentError("visibility_timeout_ms must be within 0..43200000");
  }
  return DoReceive(queue, options);
}

Status EventBus::DeleteMessage(std::string_view queue, std::string_view receipt_handle) {
  RETURN_IF_ERROR(ValidateName("queue", queue));
  RETURN_IF_ERROR(ValidateReceipt(receipt_handle));
  return DoDeleteMessage(queue, receipt_handle);
}

Status EventBus::ChangeVisibility(std::string_view queue, std::string_view receipt_handle,
                                  int64_t timeout_ms) {
  RETURN_IF_ERROR(ValidateName("queue", queue));
  RETURN_IF_ERROR(ValidateReceipt(receipt_handle));
  if (timeout_ms < 0 || timeout_ms > kMaxVisibilityTimeoutMs) {
    return InvalidArgumentError("visibility timeout must be within 0..43200000 ms");
  }
  return DoChangeVisibility(queue, receipt_handle, timeout_ms);
}

StatusOr<TailResult> EventBus::Tail(const TailOptions& options) {
  if (options.limit < 1 || options.limit > 1000) {
    return InvalidArgumentError("tail limit must be within 1..1000");
  }
  RETURN_IF_ERROR(ValidateWaitMs(options.wait_ms));
  if (options.after_seq < 0) return InvalidArgumentError("after_seq must be >= 0");
  return DoTail(options);
}

}  // namespace tandem::bus
