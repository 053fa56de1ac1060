// A test fixture for what trains a model (trainer_test, runtime_compat_test):
// a fresh directory for the model, named after the test (removed before and
// after), and a temporary file for the trainer's log.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <string>

namespace tandem::train_xgboost {

class TrainerDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = (std::filesystem::temp_directory_path() /
            ("train_xgboost_" + std::to_string(::getpid()) + "_" +
             ::testing::UnitTest::GetInstance()->current_test_info()->test_suite_name() + "_" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name()))
               .string();
    std::filesystem::remove_all(dir_);
    log_ = std::tmpfile();
  }
  void TearDown() override {
    std::fclose(log_);
    std::filesystem::remove_all(dir_);
  }
  // Everything the trainer logged so far.
  std::string Log() {
    std::fflush(log_);
    std::rewind(log_);
    std::string s;
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof(buf), log_)) > 0) s.append(buf, n);
    return s;
  }

  std::string dir_;
  std::FILE* log_ = nullptr;
};

}  // namespace tandem::train_xgboost
