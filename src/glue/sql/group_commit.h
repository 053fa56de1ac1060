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
// are handed to it in arrival order, and batches of one key never overlap
// unless `max_in_flight` allows it (then the next batch may start before the
// previous one has finished: pipelining; each caller still returns only
// once its own batch has been run, and leads a batch only while its own
// item is still waiting). Even then the next batch is formed only once the
// running one lets it (LetNextStart, when the next one can usefully be sent:
// PostgreSQL's registry, once the server granted the running batch the
// model's lock) or has ended, so the items arriving meanwhile join it
// rather than each starting a small batch of its own.
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
  // Called with the group's lock held as a batch is formed (so in the order
  // the batches are formed, before the batch runs); must be quick.
  using Start = std::function<void(const std::string& key, const std::vector<Item*>& batch)>;

  // `max_in_flight` batches of one key may run at once (default 1: they
  // never overlap). With more, a batch may start while earlier ones of its
  // key are still running: `run` must then cope with that (PostgreSQL's
  // registry sends it and lets the server order it behind the previous one).
  explicit GroupCommit(size_t max_batch, size_t max_in_flight = 1)
      : max_batch_(max_batch < 1 ? 1 : max_batch),
        max_in_flight_(max_in_flight < 1 ? 1 : max_in_flight) {}

  // Returns once `item` has been run (by this thread or another).
  void Submit(const std::string& key, Item* item, const Run& run, const Start& start = nullptr)
      ABSL_LOCKS_EXCLUDED(mu_) {
    mu_.Lock();
    Queue& q = queues_[key];  // std::map: the node stays put while users > 0
    ++q.users;
    Entry mine{item};
    q.waiting.push_back(&mine);
    while (!mine.done) {
      if (mine.taken || q.running >= max_in_flight_ || q.holding != nullptr) {
        q.cv.Wait(&mu_);
        continue;
      }
      // Lead a batch: the oldest waiting items, this one among them unless
      // more than max_batch_ arrived before it (then it leads again).
      ++q.running;
      std::vector<Entry*> entries;
      std::vector<Item*> batch;
      while (!q.waiting.empty() && batch.size() < max_batch_) {
        Entry* e = q.waiting.front();
        q.waiting.pop_front();
        e->taken = true;
        entries.push_back(e);
        batch.push_back(e->item);
      }
      // With one batch at a time its end is what lets the next one form.
      if (max_in_flight_ > 1) q.holding = batch[0];
      if (start) start(key, batch);
      mu_.Unlock();
      run(key, batch);
      mu_.Lock();
      for (Entry* e : entries) e->done = true;
      if (q.holding == batch[0]) q.holding = nullptr;
      --q.running;
      q.cv.SignalAll();
    }
    if (--q.users == 0) queues_.erase(key);
    mu_.Unlock();
  }

  // With max_in_flight > 1: lets the next batch of `key` be formed while the
  // running batch whose first item is `head` goes on (called from its
  // `run`; nothing if that batch has let it already or has ended).
  void LetNextStart(const std::string& key, const Item* head) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    auto it = queues_.find(key);
    if (it == queues_.end() || it->second.holding != head) return;
    it->second.holding = nullptr;
    it->second.cv.SignalAll();
  }

  // Items of `key` waiting for a batch (not counting those being run).
  size_t waiting(const std::string& key) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    auto it = queues_.find(key);
    return it == queues_.end() ? 0 : it->second.waiting.size();
  }

 private:
  // One caller's item, on its stack while it is inside Submit.
  struct Entry {
    Item* item;
    bool taken = false;  // in a batch (running or run)
    bool done = false;   // its batch has been run
  };
  struct Queue {
    std::deque<Entry*> waiting;  // oldest first
    size_t running = 0;          // batches of this key being run
    // The first item of the running batch that has not let the next one
    // form yet (LetNextStart), if any: no batch is formed meanwhile.
    const Item* holding = nullptr;
    int users = 0;               // callers inside Submit for this key
    absl::CondVar cv;
  };

  const size_t max_batch_;
  const size_t max_in_flight_;
  absl::Mutex mu_;
  std::map<std::string, Queue> queues_ ABSL_GUARDED_BY(mu_);
};

}  // namespace tandem::sql
