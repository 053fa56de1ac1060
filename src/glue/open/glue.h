// The glue opened from the configuration, in one place for every process that
// needs it (the control plane, serving replicas): the database, the object
// store, the event bus, the model registry (its events going through the
// bus's transactional outbox) and the image store (config.images_uri; its
// events published on the bus).
//
// Thread-safety: the members are thread-safe themselves (see their headers).
#pragma once

#include <memory>

#include "common/clock.h"
#include "common/config.h"
#include "common/status.h"
#include "glue/bus/event_bus.h"
#include "glue/images/image_store.h"
#include "glue/registry/model_registry.h"
#include "glue/sql/database.h"
#include "glue/store/object_store.h"

namespace tandem::glue {

// Declared in dependency order, so members are destroyed registry first and
// database last.
struct Glue {
  std::unique_ptr<sql::Database> db;
  std::unique_ptr<store::ObjectStore> store;
  std::unique_ptr<bus::EventBus> bus;
  bus::Outbox* outbox = nullptr;  // owned by `bus`
  std::unique_ptr<registry::ModelRegistry> registry;
  std::unique_ptr<images::ImageStore> images;  // uses store and bus
};

// Opens config.database_uri, config.store_uri, the bus and config.images_uri. The outbox is
// always the database (a registry change and its event commit in one
// transaction); a separate bus URI (nats://) gets the events through an
// outbox relay (glue/bus/outbox_relay.h). `clock` must outlive the result.
StatusOr<Glue> OpenGlue(const Config& config, Clock& clock);

}  // namespace tandem::glue
