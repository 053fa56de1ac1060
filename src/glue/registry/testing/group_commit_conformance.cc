// Conformance: many creations of one model at once (which the SQL registry
// group commits into shared transactions) behave as if run one by one --
// numbers 1..n exactly once, each request's own result -- including when
// some requests are invalid or need a model that does not exist yet.
#include <algorithm>
#include <atomic>
#include <mutex>
#include <numeric>
#include <thread>
#include <vector>

#include "glue/registry/testing/model_registry_conformance.h"

namespace tandem::registry {
namespace {

constexpr int kThreads = 16;

std::vector<int64_t> OneTo(int64_t n) {
  std::vector<int64_t> v(static_cast<size_t>(n));
  std::iota(v.begin(), v.end(), 1);
  return v;
}

TEST_P(ModelRegistryConformance, ConcurrentCreationsWithAnInvalidOneFailOnlyThatOne) {
  ASSERT_TRUE(NewVersion("crowd").ok());
  std::vector<std::thread> threads;
  std::mutex mu;
  std::vector<int64_t> versions;
  std::vector<Status> errors;
  Status invalid_result;
  std::atomic<bool> go{false};
  for (int t = 0; t <= kThreads; ++t) {
    threads.emplace_back([&, t] {
      CreateVersionRequest req;
      req.name = "crowd";
      req.source = "s3://models/crowd/" + std::to_string(t) + ".tar.gz";
      req.tags["thread"] = std::to_string(t);
      const bool invalid = t == kThreads / 2;
      if (invalid) req.signature = Json::array();  // must be an object
      while (!go.load()) std::this_thread::yield();
      auto v = registry_->CreateVersion(req);
      std::lock_guard<std::mutex> lock(mu);
      if (invalid) {
        invalid_result = v.status();
      } else if (v.ok()) {
        versions.push_back(v->version);
        EXPECT_EQ(v->tags.at("thread"), std::to_string(t));
        EXPECT_EQ(v->source, req.source);
      } else {
        errors.push_back(v.status());
      }
    });
  }
  go = true;
  for (auto& t : threads) t.join();
  EXPECT_EQ(invalid_result.code(), StatusCode::kInvalidArgument) << invalid_result;
  EXPECT_TRUE(errors.empty()) << errors.front();
  std::sort(versions.begin(), versions.end());
  // Version 1 was made before the crowd.
  std::vector<int64_t> expected = OneTo(kThreads + 1);
  expected.erase(expected.begin());
  EXPECT_EQ(versions, expected);
  for (int64_t v = 1; v <= kThreads + 1; ++v) {
    auto got = registry_->GetVersion("crowd", v);
    ASSERT_TRUE(got.ok()) << "version " << v << ": " << got.status();
  }
  EXPECT_EQ(registry_->GetVersion("crowd", kThreads + 2).status().code(), StatusCode::kNotFound);
  auto types = EventTypes();
  EXPECT_EQ(std::count(types.begin(), types.end(), "Model Version Created"), kThreads + 1);
}

TEST_P(ModelRegistryConformance, ConcurrentCreationsOfAMissingModelFailOnlyThoseNotCreatingIt) {
  std::vector<std::thread> threads;
  std::mutex mu;
  std::vector<int64_t> versions;
  std::vector<Status> errors;
  int created_by_creators = 0;
  std::atomic<bool> go{false};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      CreateVersionRequest req;
      req.name = "fresh";
      req.source = "s3://models/fresh/" + std::to_string(t) + ".tar.gz";
      req.create_model_if_missing = t % 2 == 1;
      req.owner_team = "fraud";
      req.status = VersionStatus::kReady;
      while (!go.load()) std::this_thread::yield();
      auto v = registry_->CreateVersion(req);
      std::lock_guard<std::mutex> lock(mu);
      if (v.ok()) {
        versions.push_back(v->version);
        if (req.create_model_if_missing) ++created_by_creators;
      } else {
        errors.push_back(v.status());
        // Only a request that may not create the model fails, and only
        // because the model did not exist yet.
        EXPECT_FALSE(req.create_model_if_missing) << v.status();
        EXPECT_EQ(v.status().code(), StatusCode::kNotFound) << v.status();
      }
    });
  }
  go = true;
  for (auto& t : threads) t.join();
  EXPECT_EQ(created_by_creators, kThreads / 2);
  EXPECT_EQ(versions.size() + errors.size(), static_cast<size_t>(kThreads));
  std::sort(versions.begin(), versions.end());
  EXPECT_EQ(versions, OneTo(static_cast<int64_t>(versions.size())));
  auto model = registry_->GetModel("fresh");
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_EQ(model->owner_team, "fraud");
  EXPECT_EQ(model->latest_version, static_cast<int64_t>(versions.size()));
  auto types = EventTypes();
  EXPECT_EQ(std::count(types.begin(), types.end(), "Model Created"), 1);
  EXPECT_EQ(std::count(types.begin(), types.end(), "Model Version Created"),
            static_cast<int64_t>(versions.size()));
}

}  // namespace
}  // namespace tandem::registry
