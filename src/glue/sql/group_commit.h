// Group commit: concurrent operations on one key (one registered model, the
// SQL event bus's publishes) run together, several in one transaction. A
// caller queues its item under the key; if no batch of that key is running, it becomes the leader: it takes
// up to `max_batch` waiting items (its own among them, in arrival order),
// runs them with `run` outside the lock, marks them done and steps down,
// waking the others (one of those still waiting leads the next batch).
// While a batch runs, new arrivals queue; so under load each transaction
// carries every creation that arrived during the previous one, and with one
// caller at a time nothing waits.
//
// `run` must give every item of the batch its own result; items of one key
// are handed to it in arrival order, and batches of one key never overlap.
//
// Thread-safety: thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "common/status.h"

namespace tandem::sql {

// Whether a batch's transaction failed because the database refused it
// outright (a statement's error: nothing committed, so its items may be run
// again one by one), as opposed to an outcome that may be unknown (a lost
// connection at COMMIT), which every item of the batch must report.
inline bool RefusedOutright(const Status& s) {
  switch (s.code()) {
    case StatusCode::kInvalidArgument:
    case StatusCode::kAlreadyExists:
    case StatusCode::kFailedPrecondition:
    case StatusCode::kNotFound:
    case StatusCode::kOutOfRange:
      return true;
    default:
      return false;
  }
}

template <typename Item>
class GroupCommit {
 public:
  using Run = std::function<void(const std::string& key, const std::vector<Item*>& batch)>;

  explicit GroupCommit(size_t max_batch) : max_batch_(max_batch < 1 ? 1 : max_batch) {}

  // Returns once `item` has been run (by this thread or another).
  void Submit(const std::string& key, Item* item, const Run& run) ABSL_LOCKS_EXCLUDED(mu_) {
    mu_.Lock();
    Queue& q = queues_[key];  // std::map: the node stays put while users > 0
    ++q.users;
    const uint64_t ticket = ++q.last_ticket;
    q.waiting.emplace_back(ticket, item);
    while (ticket > q.done_through) {
      if (q.leading) {
        q.cv.Wait(&mu_);
        continue;
      }
      // Lead a batch: the oldest waiting items, this one among them unless
      // more than max_batch_ arrived before it (then it leads again).
      q.leading = true;
      std::vector<Item*> batch;
      uint64_t last = 0;
      while (!q.waiting.empty() && batch.size() < max_batch_) {
        last = q.waiting.front().first;
        batch.push_back(q.waiting.front().second);
        q.waiting.pop_front();
      }
      mu_.Unlock();
      run(key, batch);
      mu_.Lock();
      q.done_through = last;  // tickets are taken and run in order
      q.leading = false;
      q.cv.SignalAll();
    }
    if (--q.users == 0) queues_.erase(key);
    mu_.Unlock();
  }

  // Items of `key` waiting for a batch (not counting one being run).
  size_t waiting(const std::string& key) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    auto it = queues_.find(key);
    return it == queues_.end() ? 0 : it->second.waiting.size();
  }

 private:
  struct Queue {
    std::deque<std::pair<uint64_t, Item*>> waiting;  // (ticket, item), oldest first
    uint64_t last_ticket = 0;
    uint64_t done_through = 0;  // every ticket up to this one has been run
    bool leading = false;
    int users = 0;  // callers inside Submit for this key
    absl::CondVar cv;
  };

  const size_t max_batch_;
  absl::Mutex mu_;
  std::map<std::string, Queue> queues_ ABSL_GUARDED_BY(mu_);
};

}  // namespace tandem::sql
