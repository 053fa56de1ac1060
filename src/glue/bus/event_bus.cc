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

}  // namespace tandem::bus
