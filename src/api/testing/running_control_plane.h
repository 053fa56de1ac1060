// A gtest fixture with a real control plane: the real glue backends in a
// fresh temp home, serving on a free 127.0.0.1 port (base_), and an HTTP
// client, and a platform admin's token (token_; Authorized() adds it to a
// request). A test writes its own tandem.yaml (or other files) into the home
// in WriteHome, before the control plane opens. Test-only.
#pragma once

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "api/control_plane.h"
#include "common/http_client.h"
#include "gtest/gtest.h"

namespace tandem::api::testing {

class RunningControlPlaneTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const ::testing::TestInfo* info = ::testing::UnitTest::GetInstance()->current_test_info();
    home_ = std::filesystem::temp_directory_path() /
            ("tandem-" + std::string(info->test_suite_name()) + "-" + std::to_string(::getpid()) +
             "-" + info->name());
    std::filesystem::remove_all(home_);
    std::filesystem::create_directories(home_);
    WriteHome();
    ASSERT_FALSE(HasFatalFailure());
    auto config = LoadConfig(home_.string(), "", {{"TANDEM_PORT", "0"}});
    ASSERT_TRUE(config.ok()) << config.status();
    auto cp = ControlPlane::Open(*config, Clock::Real());
    ASSERT_TRUE(cp.ok()) << cp.status();
    cp_ = std::move(*cp);
    auto token = cp_->services().identity->BootstrapAdmin();
    ASSERT_TRUE(token.ok()) << token.status();
    token_ = *token;
    auto port = cp_->Start();
    ASSERT_TRUE(port.ok()) << port.status();
    base_ = "http://127.0.0.1:" + std::to_string(*port);
  }
  void TearDown() override {
    cp_.reset();
    std::filesystem::remove_all(home_);
  }

  // Called in SetUp with home_ created and empty, before the control plane
  // opens it. May ASSERT.
  virtual void WriteHome() {}

  // `req` with the admin's `Authorization: Bearer` header.
  http::ClientRequest Authorized(http::ClientRequest req) const {
    req.headers["Authorization"] = "Bearer " + token_;
    return req;
  }

  std::filesystem::path home_;
  std::string token_;
  std::unique_ptr<ControlPlane> cp_;
  std::string base_;
  http::Client client_;
};

}  // namespace tandem::api::testing
