// GroupCommit: every item runs exactly once, in arrival order per key,
// batches of one key never overlap (or at most max_in_flight of them do),
// items that arrive while a batch runs are taken together by the next one,
// the start hook sees the batches in the order they are formed, and keys do
// not wait for each other.
#include "glue/sql/group_commit.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace tandem::sql {
namespace {

struct Item {
  int id = 0;
  int runs = 0;
};

TEST(GroupCommitTest, ItemsArrivingDuringABatchAreRunTogetherInOrderExactlyOnce) {
  constexpr int kLate = 12;
  GroupCommit<Item> gc(64);
  std::mutex mu;
  std::vector<std::vector<int>> batches;
  std::atomic<int> in_flight{0};
  std::atomic<bool> overlapped{false};
  std::atomic<bool> release_first{false};
  auto run = [&](const std::string& key, const std::vector<Item*>& batch) {
    EXPECT_EQ(key, "m");
    if (in_flight.fetch_add(1) != 0) overlapped = true;
    bool first;
    {
      std::lock_guard<std::mutex> lock(mu);
      first = batches.empty();
      batches.emplace_back();
      for (Item* it : batch) {
        batches.back().push_back(it->id);
        ++it->runs;
      }
    }
    // The first batch holds on until every late item has queued behind it.
    while (first && !release_first.load()) std::this_thread::yield();
    in_flight.fetch_sub(1);
  };
  Item first_item{0};
  std::thread leader([&] { gc.Submit("m", &first_item, run); });
  while (true) {
    std::lock_guard<std::mutex> lock(mu);
    if (!batches.empty()) break;
  }
  std::vector<Item> late(kLate);
  std::vector<std::thread> threads;
  for (int i = 0; i < kLate; ++i) {
    late[i].id = i + 1;
    threads.emplace_back([&, i] { gc.Submit("m", &late[i], run); });
    while (gc.waiting("m") < static_cast<size_t>(i + 1)) std::this_thread::yield();
  }
  release_first = true;
  leader.join();
  for (auto& t : threads) t.join();
  EXPECT_FALSE(overlapped.load());
  ASSERT_EQ(batches.size(), 2u);
  EXPECT_EQ(batches[0], std::vector<int>({0}));
  std::vector<int> expected;
  for (int i = 1; i <= kLate; ++i) expected.push_back(i);
  EXPECT_EQ(batches[1], expected) << "the late items, in arrival order, in one batch";
  EXPECT_EQ(first_item.runs, 1);
  for (const Item& it : late) EXPECT_EQ(it.runs, 1) << it.id;
  EXPECT_EQ(gc.waiting("m"), 0u);
}

TEST(GroupCommitTest, BatchesAreBoundedAndEveryItemRunsOnceUnderContention) {
  constexpr int kThreads = 8, kPerThread = 200;
  GroupCommit<Item> gc(3);
  std::mutex mu;
  std::map<std::string, std::vector<int>> order;
  std::atomic<int> in_flight_a{0};
  std::atomic<bool> bad{false};
  auto run = [&](const std::string& key, const std::vector<Item*>& batch) {
    if (batch.empty() || batch.size() > 3) bad = true;
    if (key == "a" && in_flight_a.fetch_add(1) != 0) bad = true;
    {
      std::lock_guard<std::mutex> lock(mu);
      for (Item* it : batch) {
        ++it->runs;
        order[key].push_back(it->id);
      }
    }
    if (key == "a") in_flight_a.fetch_sub(1);
  };
  std::vector<std::vector<Item>> items(kThreads, std::vector<Item>(kPerThread));
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        items[t][i].id = t * kPerThread + i;
        gc.Submit(t % 2 == 0 ? "a" : "b", &items[t][i], run);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_FALSE(bad.load());
  for (const auto& per : items) {
    for (const Item& it : per) EXPECT_EQ(it.runs, 1) << it.id;
  }
  EXPECT_EQ(order["a"].size() + order["b"].size(), static_cast<size_t>(kThreads * kPerThread));
  // Per thread, its items ran in the order it submitted them.
  for (const auto& [key, ids] : order) {
    std::map<int, int> last;  // thread -> last id seen
    for (int id : ids) {
      int t = id / kPerThread;
      auto it = last.find(t);
      if (it != last.end()) {
        EXPECT_LT(it->second, id);
      }
      last[t] = id;
    }
  }
  EXPECT_EQ(gc.waiting("a"), 0u);
  EXPECT_EQ(gc.waiting("b"), 0u);
}

// Records the batches a start hook sees (in formation order) and how many
// batches run at once (Enter/Leave around a run).
struct Recorder {
  std::mutex mu;
  std::vector<std::vector<int>> started;
  std::atomic<int> in_flight{0}, most{0};
  GroupCommit<Item>::Start Start() {
    return [this](const std::string&, const std::vector<Item*>& batch) {
      std::lock_guard<std::mutex> lock(mu);
      started.emplace_back();
      for (Item* it : batch) started.back().push_back(it->id);
    };
  }
  void Enter() {
    int now = in_flight.fetch_add(1) + 1;
    for (int m = most.load(); now > m && !most.compare_exchange_weak(m, now);) {
    }
  }
  void Leave() { in_flight.fetch_sub(1); }
};

// Two batches of one key in flight: the second starts while the first is
// still running (once the first lets it), a third waits for one of them; the start hook sees every
// batch, in formation order, before it runs; each caller returns only once
// its own batch has been run.
TEST(GroupCommitTest, TwoBatchesInFlightOverlapButNoMore) {
  GroupCommit<Item> gc(64, /*max_in_flight=*/2);
  Recorder rec;
  std::mutex& mu = rec.mu;
  std::vector<std::vector<int>>& started = rec.started;  // by the start hook, in order
  std::vector<int> ran;                                  // item ids as their batch ran
  std::atomic<int>&in_flight = rec.in_flight, &most = rec.most;
  std::atomic<bool> release{false};
  auto start = rec.Start();
  auto run = [&](const std::string& key, const std::vector<Item*>& batch) {
    rec.Enter();
    gc.LetNextStart(key, batch[0]);  // at once: overlap as much as allowed
    {
      std::lock_guard<std::mutex> lock(mu);
      for (Item* it : batch) ++it->runs;
    }
    // The first two batches hold on until the rest has queued.
    bool hold;
    {
      std::lock_guard<std::mutex> lock(mu);
      hold = batch[0]->id < 2;
    }
    while (hold && !release.load()) std::this_thread::yield();
    {
      std::lock_guard<std::mutex> lock(mu);
      for (Item* it : batch) ran.push_back(it->id);
    }
    rec.Leave();
  };
  std::vector<Item> items(8);
  std::vector<std::atomic<bool>> returned(8);
  std::vector<std::thread> threads;
  auto submit = [&](int i) {
    items[i].id = i;
    threads.emplace_back([&, i] {
      gc.Submit("m", &items[i], run, start);
      // Its own batch has run by now.
      std::lock_guard<std::mutex> lock(mu);
      EXPECT_NE(std::find(ran.begin(), ran.end(), i), ran.end()) << i;
      returned[i] = true;
    });
  };
  submit(0);
  while (in_flight.load() < 1) std::this_thread::yield();
  submit(1);  // starts at once: one batch in flight, two allowed
  while (in_flight.load() < 2) std::this_thread::yield();
  for (int i = 2; i < 8; ++i) {
    submit(i);
    while (gc.waiting("m") < static_cast<size_t>(i - 1)) std::this_thread::yield();
  }
  EXPECT_EQ(in_flight.load(), 2) << "a third batch started while two were in flight";
  EXPECT_FALSE(returned[0].load());
  EXPECT_FALSE(returned[1].load());
  release = true;
  for (auto& t : threads) t.join();
  EXPECT_EQ(most.load(), 2);
  ASSERT_GE(started.size(), 3u);
  EXPECT_EQ(started[0], std::vector<int>({0}));
  EXPECT_EQ(started[1], std::vector<int>({1}));
  EXPECT_EQ(started[2], std::vector<int>({2, 3, 4, 5, 6, 7}))
      << "the items that queued meanwhile, in arrival order, in one batch";
  EXPECT_EQ(started.size(), 3u);
  for (const Item& it : items) EXPECT_EQ(it.runs, 1) << it.id;
  EXPECT_EQ(gc.waiting("m"), 0u);
}

// With two in flight, the next batch is formed only once the running one
// lets it (LetNextStart) or ends: the items arriving before that wait and
// then go together, in arrival order, in one batch that overlaps the first.
TEST(GroupCommitTest, TheNextBatchFormsOnlyOnceTheRunningOneLetsIt) {
  GroupCommit<Item> gc(64, /*max_in_flight=*/2);
  Recorder rec;
  std::vector<std::vector<int>>& started = rec.started;
  std::atomic<int>&in_flight = rec.in_flight, &most = rec.most;
  std::atomic<bool> let_next{false}, release{false};
  auto start = rec.Start();
  auto run = [&](const std::string& key, const std::vector<Item*>& batch) {
    rec.Enter();
    for (Item* it : batch) ++it->runs;
    if (batch[0]->id == 0) {
      while (!let_next.load()) std::this_thread::yield();
      gc.LetNextStart(key, batch[0]);
      gc.LetNextStart(key, batch[0]);  // twice: harmless
      while (!release.load()) std::this_thread::yield();
    }
    rec.Leave();
  };
  std::vector<Item> items(5);
  std::vector<std::thread> threads;
  for (int i = 0; i < 5; ++i) items[i].id = i;
  threads.emplace_back([&] { gc.Submit("m", &items[0], run, start); });
  while (in_flight.load() < 1) std::this_thread::yield();
  for (int i = 1; i < 5; ++i) {
    threads.emplace_back([&, i] { gc.Submit("m", &items[i], run, start); });
    while (gc.waiting("m") < static_cast<size_t>(i)) std::this_thread::yield();
  }
  // Two may be in flight, but the running batch has not let the next form.
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(in_flight.load(), 1);
  EXPECT_EQ(gc.waiting("m"), 4u);
  let_next = true;
  // The next batch runs while the first still holds on (10 s at most).
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (most.load() < 2 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::yield();
  }
  release = true;
  for (auto& t : threads) t.join();
  EXPECT_EQ(most.load(), 2) << "the next batch ran while the first was still running";
  ASSERT_EQ(started.size(), 2u);
  EXPECT_EQ(started[0], std::vector<int>({0}));
  EXPECT_EQ(started[1], std::vector<int>({1, 2, 3, 4}));
  for (const Item& it : items) EXPECT_EQ(it.runs, 1) << it.id;
}

}  // namespace
}  // namespace tandem::sql
