// The outbox relay: when the event bus is not the database (e.g. NATS
// JetStream), components still append their events to the SQL outbox (the
// bus_events table of a SqlEventBus attached to their database) inside the
// transaction that changes their data, and the relay forwards the committed
// events to the bus in outbox order:
//
//   1. read the oldest outbox rows (committed only),
//   2. publish each to the target bus with its original id; the target
//      deduplicates by id (JetStream Nats-Msg-Id, within its duplicate
//      window), so a row published again after a crash is AlreadyExists,
//      which counts as relayed,
//   3. delete the relayed rows.
//
// A crash between 2 and 3 republishes those rows on restart, deduplicated by
// the target, so the bus gets every committed event once and no rolled-back
// event at all. Several relays on one database are safe (they may publish a
// row twice; the target drops the copy). Rows are deleted, not marked, so a
// row whose sequence number commits late (PostgreSQL) is still relayed.
//
// Thread-safety: RelayOnce may be called from any thread; Start/Stop from
// the owner.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "common/status.h"
#include "glue/bus/event_bus.h"
#include "glue/bus/outbox.h"
#include "glue/sql/database.h"

namespace tandem::bus {

struct OutboxRelayOptions {
  int batch = 100;        // rows per round
  int64_t poll_ms = 100;  // background re-check period (real time) when idle
};

class OutboxRelay {
 public:
  // `db` holds the outbox (bus tables migrated, e.g. by SqlEventBus::Attach);
  // `db` and `target` must outlive the relay.
  OutboxRelay(sql::Database& db, EventBus& target, OutboxRelayOptions options = {});
  ~OutboxRelay();  // stops the background thread
  OutboxRelay(const OutboxRelay&) = delete;
  OutboxRelay& operator=(const OutboxRelay&) = delete;

  // Relays up to options.batch rows; returns how many were relayed. On a
  // publish error the rows relayed before it are still deleted and the
  // error is returned (the failed row stays for the next round).
  StatusOr<int> RelayOnce();
  // The rows not relayed yet and the oldest one's publish time.
  StatusOr<OutboxBacklog> Backlog();

  // Relays in a background thread until Stop (errors are logged and
  // retried after poll_ms). Wake() makes it look at once (after a commit).
  void Start();
  void Stop();
  void Wake();

 private:
  void Loop();

  sql::Database& db_;
  EventBus& target_;
  OutboxRelayOptions options_;
  absl::Mutex mu_;
  absl::CondVar cv_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  bool woken_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;  // started under mu_, joined by Stop
};

// An EventBus that publishes, routes and delivers through `target` but whose
// outbox() is the SQL outbox on `db`, relayed to `target` by a background
// OutboxRelay. This is what OpenGlue builds when `bus` is not the database.
// `db` and `clock` must outlive the result.
StatusOr<std::unique_ptr<EventBus>> OpenRelayedBus(sql::Database& db,
                                                   std::unique_ptr<EventBus> target, Clock& clock,
                                                   OutboxRelayOptions options = {});

}  // namespace tandem::bus
