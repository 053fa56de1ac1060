#include "runtime/python_handler_pool.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <thread>

#include "runtime/testing/xgboost_test_util.h"

namespace tandem::runtime {
namespace {

using ::testing::HasSubstr;
namespace fs = std::filesystem;

using Dir = testing::TempDir;

// Scores = 2 * row sum; feature 0 steers failures: -1 raise, -2 crash,
// -3 hang, -4 report the worker's pid.
constexpr char kHandler[] = R"(
import os, signal, time
import numpy as np

def load(model_dir):
    with open(os.path.join(model_dir, "factor.txt")) as f:
        return float(f.read())

def predict(model, features):
    first = features[0, 0]
    if first == -1:
        raise ValueError("feature 0 must not be -1")
    if first == -2:
        os.kill(os.getpid(), signal.SIGKILL)
    if first == -3:
        time.sleep(600)
    if first == -4:
        return np.full(len(features), os.getpid(), dtype=np.float64)
    return model * features.sum(axis=1)
)";

PythonPoolOptions Options(int workers, int timeout_ms) {
  PythonPoolOptions o;
  o.workers = workers;
  o.timeout = std::chrono::milliseconds(timeout_ms);
  return o;
}

struct Fixture {
  Dir dir;
  std::string handler;
  Fixture() {
    dir.Write("factor.txt", "2");
    handler = dir.Write("handler.py", kHandler);
  }
};

StatusOr<std::vector<float>> Score(const PythonHandlerPool& pool, std::vector<float> rows,
                                   size_t cols) {
  std::vector<float> out;
  size_t n_out = 0;
  RETURN_IF_ERROR(pool.Predict(rows.data(), rows.size() / cols, cols, out, &n_out));
  if (n_out != 1) return InternalError("expected one score per row");
  return out;
}

// Retries a request until it succeeds (a restarting worker), generously.
StatusOr<std::vector<float>> ScoreEventually(const PythonHandlerPool& pool, std::vector<float> rows,
                                             size_t cols) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (true) {
    auto r = Score(pool, rows, cols);
    if (r.ok() || std::chrono::steady_clock::now() > deadline) return r;
  }
}

TEST(PythonHandlerPool, ScoresBatchesFromManyThreads) {
  Fixture f;
  auto pool = PythonHandlerPool::Start(f.handler, f.dir.path(), Options(2, 30'000));
  ASSERT_TRUE(pool.ok()) << pool.status();
  EXPECT_EQ((*pool)->stats().live, 2);
  EXPECT_TRUE((*pool)->test_data().inputs.empty());
  std::vector<std::thread> threads;
  std::atomic<int> good{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 25; ++i) {
        auto r = Score(**pool, {float(t), float(i), 1.5f, 2, 3, 4}, 3);
        if (r.ok() && (*r)[0] == 2 * (t + i + 1.5f) && (*r)[1] == 18) ++good;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(good.load(), 100);
}

TEST(PythonHandlerPool, HandlerExceptionIsNamedAndPoolKeepsWorking) {
  Fixture f;
  auto pool = PythonHandlerPool::Start(f.handler, f.dir.path(), Options(1, 30'000));
  ASSERT_TRUE(pool.ok()) << pool.status();
  auto bad = Score(**pool, {-1, 0}, 2);
  EXPECT_EQ(bad.status().code(), StatusCode::kInternal);
  EXPECT_THAT(std::string(bad.status().message()),
              HasSubstr("ValueError: feature 0 must not be -1"));
  auto good = Score(**pool, {1, 2}, 2);
  ASSERT_TRUE(good.ok()) << good.status();
  EXPECT_EQ((*good)[0], 6);
  EXPECT_EQ((*pool)->stats().restarts, 0);
}

TEST(PythonHandlerPool, CrashedWorkerIsReportedAndRestarted) {
  Fixture f;
  auto pool = PythonHandlerPool::Start(f.handler, f.dir.path(), Options(1, 60'000));
  ASSERT_TRUE(pool.ok()) << pool.status();
  auto crash = Score(**pool, {-2, 0}, 2);
  EXPECT_EQ(crash.status().code(), StatusCode::kInternal);
  EXPECT_THAT(std::string(crash.status().message()), HasSubstr("killed by signal 9 (SIGKILL)"));
  auto good = ScoreEventually(**pool, {1, 1}, 2);
  ASSERT_TRUE(good.ok()) << good.status();
  EXPECT_EQ((*good)[0], 4);
  EXPECT_EQ((*pool)->stats().restarts, 1);
}

TEST(PythonHandlerPool, SlowRequestIsDeadlineExceededAndWorkerReplaced) {
  Fixture f;
  auto pool = PythonHandlerPool::Start(f.handler, f.dir.path(), Options(1, 1'500));
  ASSERT_TRUE(pool.ok()) << pool.status();
  auto slow = Score(**pool, {-3, 0}, 2);
  EXPECT_EQ(slow.status().code(), StatusCode::kDeadlineExceeded);
  EXPECT_THAT(std::string(slow.status().message()), HasSubstr("did not answer within 1500 ms"));
  EXPECT_EQ((*pool)->stats().timeouts, 1);
  auto good = ScoreEventually(**pool, {2, 0}, 2);
  ASSERT_TRUE(good.ok()) << good.status();
  EXPECT_EQ((*good)[0], 4);
}

// The request timeout follows the pool's clock: a FakeClock moved past it
// ends a hung request without any real time passing for the timeout itself.
TEST(PythonHandlerPool, FakeClockDrivesTheRequestTimeout) {
  Fixture f;
  FakeClock clock;
  PythonPoolOptions o = Options(1, 3'600'000);  // an hour of the fake clock
  o.clock = &clock;
  auto pool = PythonHandlerPool::Start(f.handler, f.dir.path(), o);
  ASSERT_TRUE(pool.ok()) << pool.status();
  auto slow = std::async(std::launch::async, [&] { return Score(**pool, {-3, 0}, 2); });
  while (slow.wait_for(std::chrono::milliseconds(20)) != std::future_status::ready) {
    clock.Advance(int64_t{600} * 1'000'000);  // ten minutes per turn
  }
  auto r = slow.get();
  EXPECT_EQ(r.status().code(), StatusCode::kDeadlineExceeded) << r.status();
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("did not answer within 3600000 ms"));
  EXPECT_EQ((*pool)->stats().timeouts, 1);
  auto good = ScoreEventually(**pool, {2, 0}, 2);
  ASSERT_TRUE(good.ok()) << good.status();
  EXPECT_EQ((*good)[0], 4);
}

TEST(PythonHandlerPool, IdleWorkerKilledFromOutsideIsReplaced) {
  Fixture f;
  auto pool = PythonHandlerPool::Start(f.handler, f.dir.path(), Options(1, 60'000));
  ASSERT_TRUE(pool.ok()) << pool.status();
  auto pid = Score(**pool, {-4}, 1);
  ASSERT_TRUE(pid.ok()) << pid.status();
  ASSERT_EQ(::kill(static_cast<pid_t>((*pid)[0]), SIGKILL), 0);
  auto again = ScoreEventually(**pool, {-4}, 1);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_NE((*again)[0], (*pid)[0]);
  EXPECT_GE((*pool)->stats().restarts, 1);
}

TEST(PythonHandlerPool, LoadFailureIsReportedWithTheException) {
  Dir dir;
  std::string handler = dir.Write("handler.py", R"(
def load(model_dir):
    raise FileNotFoundError("no model.joblib in " + model_dir)
def predict(model, features):
    return features
)");
  auto pool = PythonHandlerPool::Start(handler, dir.path(), Options(2, 1000));
  EXPECT_EQ(pool.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(pool.status().message()),
              HasSubstr("loading the handler failed: FileNotFoundError: no model.joblib"));
}

TEST(PythonHandlerPool, HandlerWithoutPredictIsRefused) {
  Dir dir;
  std::string handler = dir.Write("handler.py", "def load(d):\n    return 1\n");
  auto pool = PythonHandlerPool::Start(handler, dir.path(), Options(1, 1000));
  EXPECT_EQ(pool.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(pool.status().message()), HasSubstr("defines no function predict()"));
}

TEST(PythonHandlerPool, MissingInterpreterIsFailedPrecondition) {
  Fixture f;
  PythonPoolOptions o = Options(1, 1000);
  o.interpreter = "/nonexistent/python3";
  auto pool = PythonHandlerPool::Start(f.handler, f.dir.path(), o);
  EXPECT_EQ(pool.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(pool.status().message()), HasSubstr("/nonexistent/python3"));
}

TEST(PythonHandlerPool, ReportsTestDataAndWidth) {
  Dir dir;
  std::string handler = dir.Write("handler.py", R"(
class M:
    n_features_in_ = 3
def load(d):
    return M()
def predict(model, features):
    return features[:, :2]
def test_data():
    return [[1, 2, None]], [[1, 2]]
)");
  auto pool = PythonHandlerPool::Start(handler, dir.path(), Options(1, 10'000));
  ASSERT_TRUE(pool.ok()) << pool.status();
  EXPECT_EQ((*pool)->reported_features(), 3);
  ASSERT_EQ((*pool)->test_data().inputs.size(), 1u);
  EXPECT_TRUE(std::isnan((*pool)->test_data().inputs[0][2]));
  EXPECT_EQ((*pool)->test_data().outputs[0], (std::vector<float>{1, 2}));
}

}  // namespace
}  // namespace tandem::runtime
