#include "glue/open/glue.h"

#include "glue/bus/outbox_relay.h"
#include "glue/bus/sql_event_bus.h"

namespace tandem::glue {

StatusOr<Glue> OpenGlue(const Config& config, Clock& clock) {
  Glue g;
  ASSIGN_OR_RETURN(g.db, sql::Database::Open(config.database_uri));
  ASSIGN_OR_RETURN(g.store, store::ObjectStore::Open(config.store_uri));
  if (config.bus_uri != config.database_uri) {
    // A separate bus (e.g. nats://): events still go to the SQL outbox in the
    // transaction of the change, and an outbox relay forwards them.
    auto target = bus::EventBus::Open(config.bus_uri, bus::EventBusOptions{.clock = &clock});
    if (!target.ok()) return Annotate(target.status(), "bus '" + config.bus_uri + "'");
    ASSIGN_OR_RETURN(g.bus, bus::OpenRelayedBus(*g.db, std::move(*target), clock));
    g.outbox = g.bus->outbox();
  } else {
    ASSIGN_OR_RETURN(std::unique_ptr<bus::SqlEventBus> bus, bus::SqlEventBus::Attach(*g.db, clock));
    g.outbox = bus->outbox();
    g.bus = std::move(bus);
  }
  ASSIGN_OR_RETURN(g.registry, registry::ModelRegistry::Open(*g.db, *g.outbox, clock));
  auto images = images::ImageStore::Open(config.images_uri, g.store.get(), g.bus.get(), &clock);
  if (!images.ok()) return Annotate(images.status(), "images '" + config.images_uri + "'");
  g.images = *std::move(images);
  return g;
}

}  // namespace tandem::glue
