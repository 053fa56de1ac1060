#include "glue/bus/event_bus.h"

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

StatusOr<std::unique_ptr<EventBus>> EventBus::Open(std::string_view uri,
                                                   const EventBusOptions& options) {
  Clock& clock = options.clock != nullptr ? *options.clock : Clock::Real();
  size_t sep = uri.find("://");
  if (sep == std::string_view::npos) {
    return InvalidArgumentError("event bus URI '" + std::string(uri) +
                                "' has no scheme (expected sqlite:///abs/path.db)");
  }
  std::string scheme(uri.substr(0, sep));
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
