// The SQL backend of the event bus (SQLite by default; the same DML runs on
// PostgreSQL, only the DDL of the migrations differs per dialect). Tables,
// all prefixed `bus_` so they can share a database with the registry:
//   bus_events(seq, id, source, detail_type, body, published_ms)
//   bus_queues(name, options..., created_ms)
//   bus_rules(name, pattern, target_queue, ...)
//   bus_messages(queue, message_id, event_seq, visible_at, receive_count,
//                receipt_handle, first_received_ms, sent_ms, expires_ms)
// It is also the transactional Outbox: Append(tx, event) writes the event and
// its routed messages with the caller's transaction on the same database.
//
// Long polls (Receive/Tail with wait_ms) re-check every 25 ms of real time
// (another process may publish, a delay or visibility timeout may end) and
// are woken at once by publishes through this object; on PostgreSQL also by
// messages routed by any process (a trigger NOTIFYs, the bus LISTENs on a
// connection of its own). The wait deadline is measured on the injected
// Clock, so with a FakeClock a wait ends when the test advances the clock
// past it.
//
// PostgreSQL caveat: BIGSERIAL values are assigned at insert, not commit, so
// concurrent publishers can commit seq 11 before seq 10, and a Tail that
// already read 11 skips 10 (Tail is best-effort history there). Queues are
// not affected: each message is routed in the publishing transaction. The
// outbox relay deletes relayed rows instead of remembering a seq for the same
// reason (outbox_relay.h). SQLite serializes writers, so there seq order is
// commit order.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "glue/bus/event_bus.h"
#include "glue/bus/outbox.h"
#include "glue/sql/database.h"
#include "glue/sql/group_commit.h"

namespace tandem::bus {

class SqlEventBus final : public EventBus, public Outbox {
 public:
  // Takes ownership of `db` and applies the bus migrations. `clock` must
  // outlive the bus.
  static StatusOr<std::unique_ptr<SqlEventBus>> Open(std::unique_ptr<sql::Database> db,
                                                     Clock& clock);
  // Uses a database owned by the caller (e.g. the registry's, so that its
  // transactions can Append); `db` must outlive the bus.
  static StatusOr<std::unique_ptr<SqlEventBus>> Attach(sql::Database& db, Clock& clock);

  // The schema, per dialect (only the DDL differs).
  static std::vector<sql::Migration> Migrations(sql::Dialect dialect);

  // Outbox: records `event` and its messages within `tx`. Thread-safe.
  Status Append(sql::Transaction& tx, const Event& event) override;
  // One routing-rule lookup for the whole batch (one round trip fewer per
  // event on PostgreSQL); the inserts are deferred as Append's are.
  Status AppendAll(sql::Transaction& tx, const std::vector<Event>& events) override;
  // The routing-rule lookup, sent with the transaction's next statement.
  Status Prefetch(sql::Transaction& tx) override;
  // Like Append, also returning the recorded event and its sequence number.
  // `deferred` (what Append does): the inserts go with later statements
  // (Transaction::ExecDeferred), a duplicate id fails the transaction later
  // (AlreadyExists) and the returned seq is 0.
  StatusOr<SequencedEvent> AppendEvent(sql::Transaction& tx, const Event& event,
                                       bool deferred = false);
  // The same with the routing rules already read (kRulesQuery's rows).
  StatusOr<SequencedEvent> AppendEvent(sql::Transaction& tx, const Event& event, bool deferred,
                                       const std::vector<sql::Row>* rules);

  Outbox* outbox() override { return this; }

 protected:
  // EventBus
  StatusOr<SequencedEvent> DoPublish(const Event& event) override;
  Status DoPutRule(std::string_view name, const Json& pattern,
                   std::string_view target_queue) override;
  Status DoDeleteRule(std::string_view name) override;
  StatusOr<std::vector<Rule>> DoListRules() override;
  Status DoCreateQueue(std::string_view name, const QueueOptions& options) override;
  Status DoDeleteQueue(std::string_view name) override;
  StatusOr<QueueInfo> DoGetQueue(std::string_view name) override;
  StatusOr<std::vector<QueueInfo>> DoListQueues() override;
  StatusOr<std::vector<Message>> DoReceive(std::string_view queue,
                                           const ReceiveOptions& options) override;
  Status DoDeleteMessage(std::string_view queue, std::string_view receipt_handle) override;
  Status DoChangeVisibility(std::string_view queue, std::string_view receipt_handle,
                            int64_t timeout_ms) override;
  StatusOr<TailResult> DoTail(const TailOptions& options) override;
  Status DoMaintain() override;

 private:
  SqlEventBus(std::unique_ptr<sql::Database> owned, sql::Database& db, Clock& clock);
  static StatusOr<std::unique_ptr<SqlEventBus>> Init(std::unique_ptr<SqlEventBus> bus);

  StatusOr<std::vector<Message>> ReceiveOnce(const std::string& queue, int max_messages,
                                             std::optional<int64_t> visibility_ms);
  StatusOr<TailResult> TailOnce(const TailOptions& options);
  StatusOr<QueueInfo> LoadQueue(sql::Transaction& tx, const std::string& name, int64_t now_ms);
  // A parsed pattern for `text` (cached; patterns are immutable values).
  StatusOr<Pattern> CachedPattern(const std::string& text);
  // Long-poll support: a counter bumped on every publish through this bus.
  uint64_t Generation();
  void WaitForPublish(uint64_t seen);
  void NotifyPublish();
  // Routes the event `j` (id `id`, `seq`; 0: not known yet) to the queues
  // whose rules match, as deferred inserts within `tx`.
  Status Route(sql::Transaction& tx, const Json& j, const std::string& id, int64_t seq,
               int64_t now_ms, const std::vector<sql::Row>& rules);
  // The routing rules as last read on PostgreSQL, with their version
  // (bus_rules_version); AppendAll routes with them and checks the version
  // in the same round trip as its inserts.
  struct RulesCache {
    int64_t version = 0;
    std::vector<sql::Row> rules;  // kRulesQuery's columns (and the version)
  };
  // The cache if `tx` may use it (PostgreSQL, first attempt), else null.
  std::shared_ptr<const RulesCache> CachedRules(sql::Transaction& tx);
  // The rules AppendAll routes with: cached and checked, or read (and
  // cached).
  StatusOr<std::vector<sql::Row>> RulesFor(sql::Transaction& tx);
  // Group commit of publishes: one transaction per batch; a batch the
  // database refuses is published one by one.
  struct PendingPublish;
  void PublishBatch(const std::vector<PendingPublish*>& batch);
  Status PublishAll(sql::Transaction& tx, const std::vector<PendingPublish*>& batch);

  std::unique_ptr<sql::Database> owned_;
  sql::Database& db_;
  Clock& clock_;

  absl::Mutex mu_;
  absl::CondVar cv_;
  uint64_t generation_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<std::string, Pattern> patterns_ ABSL_GUARDED_BY(mu_);
  std::shared_ptr<const RulesCache> rules_cache_ ABSL_GUARDED_BY(mu_);
  sql::GroupCommit<PendingPublish> publishes_{64};
  // The database's notifications (PostgreSQL); destroyed first, so no
  // callback runs on a half-destroyed bus.
  std::unique_ptr<sql::Subscription> subscription_;
};

}  // namespace tandem::bus
