// Test fixture base for compute-tier services: the glue on a fresh home —
// SQLite, a file object store, the SQL bus (its outbox records the services'
// events) and the model registry — removed again after the test.
#pragma once

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/ids.h"
#include "common/json.h"
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

  // The details of the events of `detail_type` the outbox recorded so far, in
  // publish order.
  std::vector<Json> EventDetails(std::string_view detail_type) {
    std::vector<Json> out;
    bus::TailOptions opts;
    opts.limit = 1000;
    auto tail = bus_->Tail(opts);
    EXPECT_TRUE(tail.ok()) << tail.status();
    if (!tail.ok()) return out;
    for (const auto& e : tail->events) {
      if (e.event.detail_type == detail_type) out.push_back(e.event.detail);
    }
    return out;
  }

  // Writes `text` to `path` as an executable file (rwxr-xr-x).
  static void WriteExecutable(const std::string& path, const std::string& text) {
    std::ofstream(path) << text;
    std::filesystem::permissions(
        path, std::filesystem::perms::owner_all | std::filesystem::perms::group_read |
                  std::filesystem::perms::group_exec | std::filesystem::perms::others_read |
                  std::filesystem::perms::others_exec);
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
