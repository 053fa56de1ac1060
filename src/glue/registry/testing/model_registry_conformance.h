// The backend-neutral ModelRegistry test suite. A backend's test file
// instantiates it with a factory for fresh, empty databases:
//
//   INSTANTIATE_TEST_SUITE_P(Sqlite, ModelRegistryConformance,
//                            ::testing::Values(SqliteBackend()), BackendName);
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "common/clock.h"
#include "glue/bus/outbox.h"
#include "glue/registry/model_registry.h"
#include "glue/sql/database.h"

namespace tandem::registry {

// A fresh, empty database; `uri` lets another process open the same one.
struct RegistryTestEnv {
  std::unique_ptr<sql::Database> db;
  std::string uri;
  std::function<void()> cleanup;  // removes the database (after `db` is closed)
};

struct RegistryBackend {
  std::string name;
  std::function<StatusOr<RegistryTestEnv>()> make;
};

std::string BackendName(const ::testing::TestParamInfo<RegistryBackend>& info);

// An Outbox that INSERTs each event into `test_outbox_events` in the caller's
// transaction. `fail_on` makes it fail on events of that detail-type.
class TableOutbox final : public bus::Outbox {
 public:
  static Status CreateTable(sql::Database& db);
  Status Append(sql::Transaction& tx, const bus::Event& event) override;
  void FailOn(std::string detail_type) {
    std::lock_guard<std::mutex> lock(mu_);
    fail_on_ = std::move(detail_type);
  }

 private:
  std::mutex mu_;
  std::string fail_on_;  // guarded by mu_
};

class ModelRegistryConformance : public ::testing::TestWithParam<RegistryBackend> {
 protected:
  void SetUp() override;
  void TearDown() override;

  // (detail-type, detail) of every committed event, in append order.
  std::vector<std::pair<std::string, Json>> Events();
  std::vector<std::string> EventTypes();
  void ClearEvents();
  StatusOr<ModelVersion> NewVersion(const std::string& name,
                                    VersionStatus status = VersionStatus::kReady);

  RegistryTestEnv env_;
  FakeClock clock_;
  TableOutbox outbox_;
  std::unique_ptr<ModelRegistry> registry_;
};

}  // namespace tandem::registry
