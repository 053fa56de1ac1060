// Test fixture: an IdentityStore on a fresh database of the parameter's SQL
// backend (SQLite always, PostgreSQL when the ctest fixture started it), in
// a temporary directory named after the test, on a FakeClock.
#pragma once

#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>

#include "api/auth/identity_store.h"
#include "glue/sql/testing/postgres_test_db.h"
#include "gtest/gtest.h"

namespace tandem::api::auth::testing {

class IdentityStoreEnv : public ::testing::TestWithParam<sql::testing::Backend> {
 protected:
  // Opens db_ and store_ (with `options`); call from SetUp.
  void OpenStore(const std::string& dir_prefix, const IdentityStore::Options& options = {}) {
    dir_ = std::filesystem::temp_directory_path() /
           (dir_prefix + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    auto uri = GetParam().make(dir_.string());
    ASSERT_TRUE(uri.ok()) << uri.status();
    auto db = sql::Database::Open(*uri);
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = std::move(*db);
    auto store = IdentityStore::Open(*db_, clock_, options);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
  }
  void TearDown() override {
    store_.reset();
    db_.reset();
    std::filesystem::remove_all(dir_);
  }

  std::filesystem::path dir_;
  FakeClock clock_;
  std::unique_ptr<sql::Database> db_;
  std::unique_ptr<IdentityStore> store_;
};

}  // namespace tandem::api::auth::testing
