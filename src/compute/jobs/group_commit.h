// Group commit of the job store's small writes (state transitions, claims,
// inserts): each caller hands over one write (an op on a Transaction) and
// waits for its result. A caller that arrives while no commit is running
// becomes the leader: it runs every op queued so far, in arrival order, in one
// transaction, then wakes their callers. With one caller at a time that is one
// transaction per op, as without batching; when several jobs start or end at
// once, the per-transaction cost (BEGIN/COMMIT, the writer lock and its
// hand-off between threads, the WAL frames of the pages the writes share) is
// paid once per batch.
//
// Each op of a batch runs in its own savepoint: an op that fails (a state
// check, a constraint, anything) is rolled back alone, that error is its
// caller's result, and the batch goes on. When the batch's transaction itself
// fails (its commit, e.g. a deferred constraint; a savepoint), nothing of it
// is written and every op of the batch is run again alone, in its own
// transaction: one failing op or a failed commit loses no other op's write,
// and each caller gets its own op's result. So an op must be re-runnable (the
// database also retries conflicts), as every WithTransaction callback.
//
// Thread-safety: Run may be called from any number of threads.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "common/status.h"
#include "glue/sql/database.h"

namespace tandem::compute::jobs {

class GroupCommit {
 public:
  using Op = std::function<Status(sql::Transaction&)>;

  struct Stats {
    int64_t ops = 0;              // ops run
    int64_t transactions = 0;     // batch transactions attempted (a retry alone not counted)
    int64_t largest_batch = 0;    // ops in the largest batch
    int64_t batches_retried = 0;  // batch transactions that failed (their ops then ran alone)
  };

  // `db` must outlive this. At most `max_batch` ops share one transaction.
  explicit GroupCommit(sql::Database& db, size_t max_batch = 64);

  // Runs `op` in a transaction, possibly with other callers' ops; returns its
  // result once that transaction has committed (or failed).
  Status Run(Op op);

  Stats stats() const;
  // Ops queued behind a running commit (observability and tests).
  size_t waiting() const;

 private:
  struct Item {
    Op op;
    Status result;
    bool done = false;
  };
  // Runs `batch` (without mu_); true when its transaction failed and its
  // ops were run again alone.
  bool Commit(const std::vector<Item*>& batch);

  sql::Database& db_;
  const size_t max_batch_;
  mutable absl::Mutex mu_;
  absl::CondVar cv_;
  std::vector<Item*> queue_ ABSL_GUARDED_BY(mu_);
  bool committing_ ABSL_GUARDED_BY(mu_) = false;
  Stats stats_ ABSL_GUARDED_BY(mu_);
};

}  // namespace tandem::compute::jobs
