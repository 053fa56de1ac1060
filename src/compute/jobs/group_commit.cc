#include "compute/jobs/group_commit.h"

#include <algorithm>

namespace tandem::compute::jobs {

GroupCommit::GroupCommit(sql::Database& db, size_t max_batch)
    : db_(db), max_batch_(std::max<size_t>(1, max_batch)) {}

Status GroupCommit::Run(Op op) {
  Item item{std::move(op), OkStatus(), false};
  mu_.Lock();
  queue_.push_back(&item);
  while (true) {
    // Wait while another leader commits: it may take this item in its batch.
    while (!item.done && committing_) cv_.Wait(&mu_);
    if (item.done) break;
    // Lead: the oldest ops first (this one among them unless more than
    // max_batch_ were queued ahead of it; then it waits its turn again).
    committing_ = true;
    const size_t n = std::min(queue_.size(), max_batch_);
    std::vector<Item*> batch(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(n));
    queue_.erase(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(n));
    stats_.ops += static_cast<int64_t>(n);
    stats_.transactions += 1;
    stats_.largest_batch = std::max<int64_t>(stats_.largest_batch, static_cast<int64_t>(n));
    mu_.Unlock();
    const bool retried = Commit(batch);
    mu_.Lock();
    if (retried) stats_.batches_retried += 1;
    for (Item* i : batch) i->done = true;
    committing_ = false;
    cv_.SignalAll();
  }
  Status result = std::move(item.result);
  mu_.Unlock();
  return result;
}

bool GroupCommit::Commit(const std::vector<Item*>& batch) {
  if (batch.size() == 1) {
    batch[0]->result = db_.WithTransaction(batch[0]->op);
    return false;
  }
  Status s = db_.WithTransaction([&](sql::Transaction& tx) -> Status {
    for (Item* i : batch) {
      // Each op in a savepoint: an op that fails, whatever it wrote first,
      // is rolled back alone and the batch goes on.
      RETURN_IF_ERROR(tx.Exec("SAVEPOINT tandem_group_op").status());
      i->result = i->op(tx);
      if (!i->result.ok()) {
        RETURN_IF_ERROR(tx.Exec("ROLLBACK TO SAVEPOINT tandem_group_op").status());
      }
      RETURN_IF_ERROR(tx.Exec("RELEASE SAVEPOINT tandem_group_op").status());
    }
    return OkStatus();
  });
  if (s.ok()) return false;
  // The batch's transaction failed (its commit, or a savepoint): nothing of
  // it was written. Every op again, alone.
  for (Item* i : batch) i->result = db_.WithTransaction(i->op);
  return true;
}

size_t GroupCommit::waiting() const {
  absl::MutexLock lock(&mu_);
  return queue_.size();
}

GroupCommit::Stats GroupCommit::stats() const {
  absl::MutexLock lock(&mu_);
  return stats_;
}

}  // namespace tandem::compute::jobs
