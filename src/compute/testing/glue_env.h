// Test fixture base for compute-tier services: the glue on a fresh home —
// SQLite, a file object store, the SQL bus (its outbox records the services'
// events) and the model registry — removed again after the test.
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include "common/clock.h"
#include "common/ids.h"
#include "glue/bus/sql_event_bus.h"
#include "glue/registry/model_registry.h"
#include "glue/sql/database.h"
#include "glue/store/object_store.h"
#include "gtest/gtest.h"

namespace tandem::compute::testing {

class GlueTestEnv : public ::testing::Test {
 protected:
  // Creates home_ = `prefix` + a ULID and opens the glue in it. Call from
  // SetUp (ASSERTs: check HasFatalFailure() after it if SetUp continues).
  void OpenGlue(const std::string& prefix) {
    home_ = prefix + NewUlid(Clock::Real());
    std::filesystem::create_directories(home_);
    auto db = sql::Database::Open("sqlite://" + home_ + "/tandem.db");
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = *std::move(db);
    auto store = store::ObjectStore::Open("file://" + home_ + "/store");
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
    auto bus = bus::SqlEventBus::Attach(*db_, Clock::Real());
    ASSERT_TRUE(bus.ok()) << bus.status();
    bus_ = *std::move(bus);
    auto reg = registry::ModelRegistry::Open(*db_, *bus_->outbox(), Clock::Real());
    ASSERT_TRUE(reg.ok()) << reg.status();
    registry_ = *std::move(reg);
  }

  void RemoveHome() {
    std::error_code ec;
    if (!home_.empty()) std::filesystem::remove_all(home_, ec);
  }

  std::string home_;
  std::unique_ptr<sql::Database> db_;
  std::unique_ptr<store::ObjectStore> store_;
  std::unique_ptr<bus::SqlEventBus> bus_;
  std::unique_ptr<registry::ModelRegistry> registry_;
};

}  // namespace tandem::compute::testing
