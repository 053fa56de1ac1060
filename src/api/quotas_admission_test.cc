// Quota admission is atomic per team (quotas.h): many concurrent submissions
// of one team against a real control plane never admit more than the quota.
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

#include "api/control_plane.h"
#include "api/testing/running_control_plane.h"
#include "common/http_client.h"
#include "compute/jobs/service.h"
#include "glue/store/archive.h"

namespace tandem::api {
namespace {

namespace fs = std::filesystem;

class QuotasAdmissionTest : public testing::RunningControlPlaneTest {
 protected:
  void WriteHome() override {
    fs::create_directories(home_ / "src");
    // One CPU for the substrate, three for the team: the jobs stay Pending or
    // Running (they sleep), so each admitted one keeps counting.
    std::ofstream(home_ / "tandem.yaml") << "compute: {cpus: 1}\n"
                                            "quotas:\n  default: {job_cpus: 3, notebooks: 1}\n";
    std::ofstream(home_ / "src" / "run.sh") << "#!/bin/sh\nsleep 30\n";
    fs::permissions(home_ / "src" / "run.sh", fs::perms::owner_all);
    ASSERT_TRUE(store::PackDirectory((home_ / "src").string(), (home_ / "src.tar.gz").string()).ok());
  }
  void SetUp() override {
    RunningControlPlaneTest::SetUp();
    ASSERT_FALSE(HasFatalFailure());
    http::ClientRequest put;
    put.method = "PUT";
    put.url = base_ + "/api/v1/artifacts/jobs/uploads/qa/source.tar.gz";
    put.body_file = (home_ / "src.tar.gz").string();
    auto res = client_.Do(Authorized(put));
    ASSERT_TRUE(res.ok() && res->status / 100 == 2) << (res.ok() ? res->body : res.status().ToString());
  }
  void TearDown() override {
    for (const std::string& id : admitted_) {
      http::ClientRequest stop;
      stop.method = "POST";
      stop.url = base_ + "/api/v1/jobs/" + id + "/stop";
      (void)client_.Do(Authorized(stop));
    }
    RunningControlPlaneTest::TearDown();
  }

  // Fires `n` POSTs of `body` to `path` at once; returns their statuses.
  std::vector<int> Concurrently(int n, const std::string& path, const std::string& body_prefix) {
    std::vector<int> codes(n, 0);
    std::vector<std::string> ids(n);
    std::atomic<int> ready{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < n; ++i) {
      threads.emplace_back([&, i] {
        http::Client c;
        http::ClientRequest req;
        req.method = "POST";
        req.url = base_ + path;
        req.headers["content-type"] = "application/json";
        req.body = body_prefix + std::to_string(i) + "\"}";
        ready.fetch_add(1);
        while (ready.load() < n) std::this_thread::yield();
        auto res = c.Do(Authorized(req));
        if (!res.ok()) return;
        codes[i] = res->status;
        if (res->status == 201) {
          auto j = ParseJson(res->body);
          if (j.ok() && j->contains("id")) ids[i] = (*j)["id"].get<std::string>();
        }
      });
    }
    for (auto& t : threads) t.join();
    for (const auto& id : ids) {
      if (!id.empty()) admitted_.push_back(id);
    }
    return codes;
  }

  std::vector<std::string> admitted_;
};

TEST_F(QuotasAdmissionTest, ConcurrentJobSubmissionsNeverExceedTheQuota) {
  constexpr int kRequests = 24;
  std::vector<int> codes = Concurrently(
      kRequests, "/api/v1/jobs",
      R"({"entry_point": "run.sh", "source_dir": "jobs/uploads/qa/source.tar.gz",)"
      R"( "resources": {"cpus": 1}, "name": "burst-)");
  int created = 0, refused = 0;
  for (int c : codes) {
    created += c == 201;
    refused += c == 429;
  }
  EXPECT_EQ(created, 3) << "the quota is 3 CPUs of 1-CPU jobs";
  EXPECT_EQ(refused, kRequests - 3);
  // The job store agrees: exactly three of the team's jobs hold CPUs.
  compute::jobs::JobFilter f;
  f.team = "default";
  f.max_results = 100;
  auto page = cp_->services().jobs->List(f);
  ASSERT_TRUE(page.ok()) << page.status();
  EXPECT_EQ(page->jobs.size(), 3u);
  double cpus = 0;
  for (const auto& j : page->jobs) cpus += j.spec.resources.cpus;
  EXPECT_LE(cpus, 3.0);
}

}  // namespace
}  // namespace tandem::api
