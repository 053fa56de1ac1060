#include "compute/jobs/loop_leases.h"

#include "compute/jobs/store.h"
#include "glue/sql/locks.h"

namespace tandem::compute::jobs {

using sql::Row;
using sql::Transaction;

StatusOr<std::unique_ptr<LoopLeases>> LoopLeases::Open(sql::Database& db, Clock& clock,
                                                       std::string owner, int64_t lease_ms,
                                                       int64_t liveness_check_ms) {
  if (owner.empty()) return InvalidArgumentError("loop leases need an owner");
  if (lease_ms <= 0) return InvalidArgumentError("loop leases need lease_ms > 0");
  RETURN_IF_ERROR(db.Migrate(
      "compute_loop_leases",
      {{1, "loop_leases",
        "CREATE TABLE compute_loop_leases (kind TEXT NOT NULL, name TEXT NOT NULL, "
        "owner TEXT NOT NULL, lease_expires_micros BIGINT NOT NULL, PRIMARY KEY (kind, name))"}}));
  return std::unique_ptr<LoopLeases>(
      new LoopLeases(db, clock, std::move(owner), lease_ms, liveness_check_ms));
}

bool LoopLeases::Dead(const std::string& owner) {
  if (liveness_check_ms_ <= 0) return false;
  const int64_t now = clock_.MonotonicMicros();
  {
    absl::MutexLock lock(&mu_);
    auto it = liveness_.find(owner);
    if (it != liveness_.end() && now - it->second.second < liveness_check_ms_ * 1000) {
      return it->second.first;
    }
  }
  bool registered = false;
  Status st = db_.Read([&](Transaction& tx) -> Status {
    ASSIGN_OR_RETURN(auto rows,
                     tx.Query("SELECT owner FROM compute_owners WHERE owner = ?", {owner}));
    registered = !rows.empty();
    return OkStatus();
  });
  bool dead = false;
  if (st.ok() && registered) {
    auto held = sql::LockHeld(db_, OwnerLockKey(owner));
    dead = held.ok() && held->has_value() && !**held;
  }
  absl::MutexLock lock(&mu_);
  liveness_[owner] = {dead, now};
  return dead;
}

StatusOr<bool> LoopLeases::Hold(const std::string& kind, const std::string& name) {
  const auto key = std::make_pair(kind, name);
  const int64_t now = clock_.NowMicros();
  {
    absl::MutexLock lock(&mu_);
    auto it = held_.find(key);
    // Ours, and less than a third of the lease has passed since we wrote it.
    if (it != held_.end() && now < it->second - lease_ms_ * 1000 * 2 / 3) return true;
  }
  std::string holder;
  int64_t expires = 0;
  bool found = false;
  RETURN_IF_ERROR(db_.Read([&](Transaction& tx) -> Status {
    ASSIGN_OR_RETURN(auto rows, tx.Query("SELECT owner, lease_expires_micros FROM "
                                         "compute_loop_leases WHERE kind = ? AND name = ?",
                                         {kind, name}));
    found = !rows.empty();
    if (found) {
      holder = rows[0].Text(0);
      expires = rows[0].Int(1);
    }
    return OkStatus();
  }));
  if (found && holder != owner_ && expires > now && !Dead(holder)) {
    absl::MutexLock lock(&mu_);
    held_.erase(key);
    return false;
  }
  const int64_t until = now + lease_ms_ * 1000;
  int64_t changed = 0;
  Status st = db_.WithTransaction([&](Transaction& tx) -> Status {
    if (!found) {
      // Of two control planes inserting, one fails on the key: it lost.
      auto inserted = tx.Exec(
          "INSERT INTO compute_loop_leases (kind, name, owner, lease_expires_micros) "
          "VALUES (?, ?, ?, ?)",
          {kind, name, owner_, until});
      if (!inserted.ok()) return inserted.status();
      changed = *inserted;
      return OkStatus();
    }
    // Compare-and-set on what was read: of two taking over, one wins.
    ASSIGN_OR_RETURN(changed, tx.Exec("UPDATE compute_loop_leases SET owner = ?, "
                                      "lease_expires_micros = ? WHERE kind = ? AND name = ? AND "
                                      "owner = ? AND lease_expires_micros = ?",
                                      {owner_, until, kind, name, holder, expires}));
    return OkStatus();
  });
  if (!st.ok() && st.code() != StatusCode::kAlreadyExists) return st;
  absl::MutexLock lock(&mu_);
  if (st.ok() && changed == 1) {
    held_[key] = until;
    return true;
  }
  held_.erase(key);
  return false;
}

Status LoopLeases::Assign(const std::string& kind, const std::string& name) {
  const int64_t until = clock_.NowMicros() + lease_ms_ * 1000;
  RETURN_IF_ERROR(db_.WithTransaction([&](Transaction& tx) -> Status {
    ASSIGN_OR_RETURN(int64_t n, tx.Exec("UPDATE compute_loop_leases SET owner = ?, "
                                        "lease_expires_micros = ? WHERE kind = ? AND name = ?",
                                        {owner_, until, kind, name}));
    if (n == 1) return OkStatus();
    return tx
        .Exec(
            "INSERT INTO compute_loop_leases (kind, name, owner, lease_expires_micros) "
            "VALUES (?, ?, ?, ?)",
            {kind, name, owner_, until})
        .status();
  }));
  absl::MutexLock lock(&mu_);
  held_[{kind, name}] = until;
  return OkStatus();
}

StatusOr<std::pair<std::string, int64_t>> LoopLeases::Holder(const std::string& kind,
                                                             const std::string& name) {
  std::pair<std::string, int64_t> out;
  RETURN_IF_ERROR(db_.Read([&](Transaction& tx) -> Status {
    ASSIGN_OR_RETURN(auto rows, tx.Query("SELECT owner, lease_expires_micros FROM "
                                         "compute_loop_leases WHERE kind = ? AND name = ?",
                                         {kind, name}));
    out = rows.empty() ? std::make_pair(std::string(), int64_t{0})
                       : std::make_pair(rows[0].Text(0), rows[0].Int(1));
    return OkStatus();
  }));
  return out;
}

}  // namespace tandem::compute::jobs
