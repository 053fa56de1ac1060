#include "glue/open/glue.h"

#include "glue/bus/sql_event_bus.h"

namespace tandem::glue {

StatusOr<Glue> OpenGlue(const Config& config, Clock& clock) {
  Glue g;
  ASSIGN_OR_RETURN(g.db, sql::Database::Open(config.database_uri));
  ASSIGN_OR_RETURN(g.store, store::ObjectStore::Open(config.store_uri));
  if (config.bus_uri != config.database_uri) {
    return UnimplementedError("bus '" + config.bus_uri + "' differs from database '" +
                              config.database_uri +
                              "': a separate bus needs the outbox relay, which is not built yet; "
                              "leave `bus` unset to share the database");
  }
  ASSIGN_OR_RETURN(std::unique_ptr<bus::SqlEventBus> bus, bus::SqlEventBus::Attach(*g.db, clock));
  g.outbox = bus->outbox();
  g.bus = std::move(bus);
  ASSIGN_OR_RETURN(g.registry, registry::ModelRegistry::Open(*g.db, *g.outbox, clock));
  return g;
}

}  // namespace tandem::glue
