// Test fixture for notebooks: a fresh home with SQLite, a file store and the
// SQL bus (whose outbox records the notebooks' events).
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/ids.h"
#include "glue/bus/event_types.h"
#include "glue/bus/sql_event_bus.h"
#include "glue/sql/database.h"
#include "glue/store/object_store.h"
#include "gtest/gtest.h"

namespace tandem::compute {

class NotebookTestEnv : public ::testing::Test {
 protected:
  void SetUp() override {
    home_ = "/tmp/tandem-notebook-" + NewUlid(Clock::Real());
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
  }

  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(home_, ec);
  }

  // The notebook events recorded so far, as "<name>:<state>" in order.
  std::vector<std::string> NotebookEvents() {
    std::vector<std::string> out;
    bus::TailOptions opts;
    opts.limit = 1000;
    auto tail = bus_->Tail(opts);
    EXPECT_TRUE(tail.ok()) << tail.status();
    if (!tail.ok()) return out;
    for (const auto& e : tail->events) {
      if (e.event.detail_type != bus::events::kNotebookInstanceStateChange) continue;
      out.push_back(e.event.detail.value("name", "") + ":" + e.event.detail.value("state", ""));
    }
    return out;
  }

  std::string home_;
  std::unique_ptr<sql::Database> db_;
  std::unique_ptr<store::ObjectStore> store_;
  std::unique_ptr<bus::SqlEventBus> bus_;
};

}  // namespace tandem::compute
