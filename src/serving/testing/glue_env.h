// Test fixture base for serving tests that follow the registry: a temp dir
// holding SQLite, the SQL bus (its outbox records registry events), the model
// registry and a file object store, and helpers to register model packages.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "common/json.h"
#include "glue/bus/sql_event_bus.h"
#include "glue/registry/model_registry.h"
#include "glue/sql/database.h"
#include "glue/store/object_store.h"
#include "gtest/gtest.h"
#include "serving/testing/test_util.h"

namespace tandem::serving::testing {

// Polls `cond` until it holds or `seconds` pass (a generous deadline for a
// condition, not a fixed sleep); returns its last value.
template <typename F>
bool WaitFor(F cond, int seconds = 60) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  while (std::chrono::steady_clock::now() < deadline) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return cond();
}

class GlueTestEnv : public ::testing::Test {
 protected:
  void SetUp() override;

  // Registers the package at `path` (a directory is packed first) as a new
  // version of `model`, tagged artifact_name when given; returns its number.
  int64_t Register(const std::string& path, const std::string& artifact_name = "",
                   const std::string& model = "fraud");
  // Points `alias` of `model` at `version`.
  void Alias(const std::string& alias, int64_t version, const std::string& model = "fraud");
  // The details of the events of `detail_type` published so far, in order.
  std::vector<Json> Events(std::string_view detail_type);

  TempDir dir_;
  std::unique_ptr<sql::Database> db_;
  std::unique_ptr<bus::SqlEventBus> bus_;
  std::unique_ptr<registry::ModelRegistry> registry_;
  std::unique_ptr<store::ObjectStore> store_;
};

}  // namespace tandem::serving::testing
