#include "serving/engine/batcher.h"

#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "serving/testing/test_util.h"

namespace tandem::serving::engine {
namespace {

using testing::SumPredictor;

TEST(BatcherTest, ValidatesOptions) {
  EXPECT_TRUE(ValidateBatchOptions({}).ok());
  EXPECT_TRUE(ValidateBatchOptions({0, 0, 1, 0}).ok());  // automatic
  EXPECT_FALSE(ValidateBatchOptions({-1, 0, 1, 1}).ok());
  EXPECT_FALSE(ValidateBatchOptions({65537, 0, 1, 1}).ok());
  EXPECT_FALSE(ValidateBatchOptions({8, -1, 1, 1}).ok());
  EXPECT_FALSE(ValidateBatchOptions({8, 0, 0, 1}).ok());
  EXPECT_FALSE(ValidateBatchOptions({8, 0, 1, -1}).ok());
  EXPECT_FALSE(ValidateBatchOptions({8, 0, 1, 65}).ok());
}

// Automatic batching: on where the flavor says it pays (with its
// concurrency), off where it does not; explicit settings win.
TEST(BatcherTest, AutomaticOptionsFollowThePredictor) {
  testing::SumPredictor native(2), pool(2);
  pool.concurrency = 3;
  BatchOptions o = ResolveBatchOptions({}, native);
  EXPECT_EQ(o.max_batch_size, 1);
  EXPECT_EQ(o.workers, 1);
  EXPECT_EQ(o.max_queue_delay_us, 0);
  o = ResolveBatchOptions({}, pool);
  EXPECT_EQ(o.max_batch_size, kAutoMaxBatchSize);
  EXPECT_EQ(o.workers, 3);
  EXPECT_EQ(o.max_queue_delay_us, 0);
  o = ResolveBatchOptions({1, 0, 16, 0}, pool);
  EXPECT_EQ(o.max_batch_size, 1);
  o = ResolveBatchOptions({8, 100, 16, 2}, native);
  EXPECT_EQ(o.max_batch_size, 8);
  EXPECT_EQ(o.workers, 2);
  EXPECT_EQ(o.max_queue_delay_us, 100);
  EXPECT_FALSE(Batcher("m", native, {}, nullptr, Clock::Real()).batching());
  EXPECT_TRUE(Batcher("m", pool, {}, nullptr, Clock::Real()).batching());
}

// With batching on and no queue delay, a request that finds a free slot is
// scored at once on its own thread: no hand-off, no wait for company.
TEST(BatcherTest, LoneRequestRunsAtOnceOnTheCaller) {
  testing::SumPredictor p(2);
  p.concurrency = 1;
  std::thread::id scored_on;
  p.hook = [&](size_t) { scored_on = std::this_thread::get_id(); };
  ModelMetrics m;
  Batcher b("m", p, {}, &m, Clock::Real());
  ASSERT_TRUE(b.batching());
  float rows[2] = {1, 2}, out = 0;
  BatchTiming t;
  ASSERT_TRUE(b.Predict(rows, 1, 2, &out, &t).ok());
  EXPECT_EQ(out, 3);
  EXPECT_EQ(scored_on, std::this_thread::get_id());
  EXPECT_EQ(t.batch_rows, 1u);
  EXPECT_EQ(b.queue_depth(), 0u);
}

// Requests that arrive while the only slot is busy wait, then go together
// as the next batch (run by one of them), each getting its own scores.
TEST(BatcherTest, RequestsQueuedWhileBusyFormTheNextBatch) {
  testing::SumPredictor p(1);
  p.concurrency = 1;
  std::mutex mu;
  std::condition_variable cv;
  bool release = false;
  std::vector<size_t> batch_rows;
  p.hook = [&](size_t n) {
    std::unique_lock<std::mutex> lock(mu);
    batch_rows.push_back(n);
    cv.notify_all();
    cv.wait(lock, [&] { return release; });
  };
  Batcher b("m", p, {}, nullptr, Clock::Real());
  float in[4] = {1, 2, 3, 4}, out[4] = {0, 0, 0, 0};
  std::thread first([&] { EXPECT_TRUE(b.Predict(&in[0], 1, 1, &out[0]).ok()); });
  {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return !batch_rows.empty(); });
  }
  std::vector<std::thread> queued;
  for (int i = 1; i < 4; ++i) {
    queued.emplace_back([&, i] { EXPECT_TRUE(b.Predict(&in[i], 1, 1, &out[i]).ok()); });
  }
  while (b.queue_depth() < 3) std::this_thread::yield();
  {
    std::lock_guard<std::mutex> lock(mu);
    release = true;
  }
  cv.notify_all();
  first.join();
  for (auto& t : queued) t.join();
  EXPECT_EQ(batch_rows, (std::vector<size_t>{1, 3}));
  EXPECT_EQ(out[0], 1);
  EXPECT_EQ(out[1], 2);
  EXPECT_EQ(out[2], 3);
  EXPECT_EQ(out[3], 4);
}

TEST(BatcherTest, DirectPathRunsOnTheCaller) {
  testing::SumPredictor p(3);
  ModelMetrics m;
  Batcher b("m", p, {1, 0, 16, 1}, &m, Clock::Real());
  float rows[6] = {1, 2, 3, 4, 5, NAN};
  float out[2];
  BatchTiming t;
  ASSERT_TRUE(b.Predict(rows, 2, 3, out, &t).ok());
  EXPECT_EQ(out[0], 6);
  EXPECT_EQ(out[1], 9);
  EXPECT_EQ(t.batch_rows, 2u);
  EXPECT_EQ(m.batches.load(), 1u);
}

// Many threads, each with its own rows: every caller gets exactly its own
// scores back, and requests really were batched together.
class ConcurrentBatcherTest : public ::testing::TestWithParam<BatchOptions> {};

TEST_P(ConcurrentBatcherTest, ConcurrentCallersGetTheirOwnResults) {
  testing::SumPredictor p(4);
  // Scoring takes a while (yields, no sleep), so callers find the slots busy.
  p.hook = [](size_t) {
    for (int i = 0; i < 20; ++i) std::this_thread::yield();
  };
  ModelMetrics m;
  Batcher b("m", p, GetParam(), &m, Clock::Real());
  constexpr int kThreads = 16, kPerThread = 200;
  std::atomic<int> wrong{0}, failed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        size_t n = 1 + (i % 3);
        std::vector<float> rows(n * 4);
        for (size_t r = 0; r < n; ++r) {
          for (int c = 0; c < 4; ++c) rows[r * 4 + c] = static_cast<float>(t * 1000 + i + r);
        }
        std::vector<float> out(n, -1);
        // Some callers send fewer columns (the rest count as missing).
        size_t cols = (i % 5 == 0) ? 2 : 4;
        std::vector<float> narrow;
        const float* src = rows.data();
        if (cols == 2) {
          for (size_t r = 0; r < n; ++r)
            narrow.insert(narrow.end(), {rows[r * 4], rows[r * 4 + 1]});
          src = narrow.data();
        }
        if (!b.Predict(src, n, cols, out.data()).ok()) {
          failed++;
          continue;
        }
        for (size_t r = 0; r < n; ++r) {
          if (out[r] != static_cast<float>(cols) * static_cast<float>(t * 1000 + i + r)) wrong++;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failed.load(), 0);
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_EQ(b.running_batches(), 0);  // every slot came back
  EXPECT_EQ(b.queue_depth(), 0u);
  // Fewer Predict calls than requests: batching happened.
  EXPECT_LT(p.calls.load(), kThreads * kPerThread);
  EXPECT_GT(m.batch_rows.count(), 0u);
}

// A fixed wait with 2 slots; no wait with 3 slots (slots handed from caller
// to caller under contention).
INSTANTIATE_TEST_SUITE_P(Options, ConcurrentBatcherTest,
                         ::testing::Values(BatchOptions{16, 2000, 1024, 2},
                                           BatchOptions{8, 0, 1024, 3}));

TEST(BatcherTest, FullQueueIsResourceExhaustedAndOthersStillFinish) {
  testing::SumPredictor p(1);
  std::mutex mu;
  std::condition_variable cv;
  bool release = false;
  std::atomic<int> entered{0};
  p.hook = [&](size_t) {
    entered++;
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return release; });
  };
  Batcher b("m", p, {2, 0, 2, 1}, nullptr, Clock::Real());
  float one = 1, out[4];
  // The first request occupies the only worker (blocked in Predict).
  std::thread first([&] { EXPECT_TRUE(b.Predict(&one, 1, 1, &out[0]).ok()); });
  while (entered.load() == 0) std::this_thread::yield();
  // Two more fill the queue (size 2)...
  std::vector<std::thread> queued;
  for (int i = 0; i < 2; ++i) {
    queued.emplace_back([&, i] { EXPECT_TRUE(b.Predict(&one, 1, 1, &out[1 + i]).ok()); });
  }
  // ... so the next one is refused until they drain.
  while (b.queue_depth() < 2) std::this_thread::yield();
  Status s = b.Predict(&one, 1, 1, &out[3]);
  EXPECT_EQ(s.code(), StatusCode::kResourceExhausted) << s;
  EXPECT_NE(std::string(s.message()).find("queue is full"), std::string::npos);
  {
    std::lock_guard<std::mutex> lock(mu);
    release = true;
  }
  cv.notify_all();
  first.join();
  for (auto& t : queued) t.join();
  EXPECT_EQ(out[1], 1);
  EXPECT_EQ(out[2], 1);
}

TEST(BatcherTest, PredictErrorsReachEveryCallerOfTheBatch) {
  testing::SumPredictor p(1);
  Batcher b("m", p, {8, 1000, 64, 1}, nullptr, Clock::Real());
  float rows[2] = {1, 2}, out[2];
  // Two columns for a one-feature model: the predictor refuses the batch.
  Status s = b.Predict(rows, 1, 2, out);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s;
}

}  // namespace
}  // namespace tandem::serving::engine
