#include "glue/bus/outbox_relay.h"

#include <chrono>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "common/log.h"
#include "glue/bus/sql_event_bus.h"

namespace tandem::bus {

OutboxRelay::OutboxRelay(sql::Database& db, EventBus& target, OutboxRelayOptions options)
    : db_(db), target_(target), options_(options) {}

OutboxRelay::~OutboxRelay() { Stop(); }

StatusOr<int> OutboxRelay::RelayOnce() {
  std::vector<sql::Row> rows;
  RETURN_IF_ERROR(db_.Read([&](sql::Transaction& tx) -> Status {
    ASSIGN_OR_RETURN(rows, tx.Query("SELECT seq, body FROM bus_events ORDER BY seq LIMIT ?",
                                    {int64_t{options_.batch}}));
    return OkStatus();
  }));
  std::vector<int64_t> done;
  Status failed = OkStatus();
  for (const sql::Row& r : rows) {
    auto j = ParseJson(r.Text(1));
    if (!j.ok()) {
      failed = DataLossError("outbox row " + std::to_string(r.Int(0)) + " is not valid JSON");
      break;
    }
    auto event = Event::FromJson(*j);
    if (!event.ok()) {
      failed = Annotate(event.status(), "outbox row " + std::to_string(r.Int(0)));
      break;
    }
    auto pub = target_.Publish(*event);
    if (!pub.ok() && pub.status().code() != StatusCode::kAlreadyExists) {
      failed = Annotate(pub.status(), "relaying outbox event '" + event->id + "'");
      break;
    }
    done.push_back(r.Int(0));
  }
  if (!done.empty()) {
    RETURN_IF_ERROR(db_.WithTransaction([&](sql::Transaction& tx) -> Status {
      for (int64_t seq : done) {
        RETURN_IF_ERROR(tx.Exec("DELETE FROM bus_events WHERE seq = ?", {seq}).status());
      }
      return OkStatus();
    }));
  }
  if (!failed.ok()) return failed;
  return static_cast<int>(done.size());
}

StatusOr<OutboxBacklog> OutboxRelay::Backlog() {
  OutboxBacklog out;
  RETURN_IF_ERROR(db_.Read([&](sql::Transaction& tx) -> Status {
    ASSIGN_OR_RETURN(sql::Row r, tx.QueryOne("SELECT COUNT(*), MIN(published_ms) FROM bus_events"));
    out.pending = r.Int(0);
    out.oldest_published_ms = r.Int(1);
    return OkStatus();
  }));
  return out;
}

void OutboxRelay::Start() {
  absl::MutexLock lock(&mu_);
  if (thread_.joinable()) return;
  stop_ = false;
  thread_ = std::thread([this] { Loop(); });
}

void OutboxRelay::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  cv_.SignalAll();
  if (thread_.joinable()) thread_.join();
}

void OutboxRelay::Wake() {
  {
    absl::MutexLock lock(&mu_);
    woken_ = true;
  }
  cv_.SignalAll();
}

void OutboxRelay::Loop() {
  std::string last_error;
  while (true) {
    auto n = RelayOnce();
    std::string error = n.ok() ? "" : std::string(n.status().message());
    if (!error.empty() && error != last_error) {
      LogWarn("outbox relay failed; retrying", {{"error", error}});  // once per distinct error
    }
    last_error = error;
    absl::MutexLock lock(&mu_);
    if (stop_) return;
    if (n.ok() && *n >= options_.batch) continue;  // more rows waiting
    const absl::Time until = absl::Now() + absl::Milliseconds(options_.poll_ms);
    while (!stop_ && !woken_ && !cv_.WaitWithDeadline(&mu_, until)) {
    }
    woken_ = false;
    if (stop_) return;
  }
}

namespace {

// Delegates to the target bus; the outbox is the SQL one, relayed.
class RelayedEventBus final : public EventBus, public Outbox {
 public:
  RelayedEventBus(std::unique_ptr<SqlEventBus> sql, std::unique_ptr<EventBus> target,
                  OutboxRelayOptions options, sql::Database& db)
      : sql_(std::move(sql)), target_(std::move(target)), relay_(db, *target_, options) {
    relay_.Start();
  }
  ~RelayedEventBus() override { relay_.Stop(); }

  Status Append(sql::Transaction& tx, const Event& event) override {
    RETURN_IF_ERROR(sql_->Append(tx, event));
    relay_.Wake();  // harmless before the commit: the relay only sees committed rows
    return OkStatus();
  }
  Outbox* outbox() override { return this; }
  StatusOr<OutboxBacklog> Backlog() override { return relay_.Backlog(); }

 protected:
  StatusOr<SequencedEvent> DoPublish(const Event& event) override {
    return target_->Publish(event);
  }
  Status DoPutRule(std::string_view name, const Json& pattern,
                   std::string_view target_queue) override {
    return target_->PutRule(name, pattern, target_queue);
  }
  Status DoDeleteRule(std::string_view name) override { return target_->DeleteRule(name); }
  StatusOr<std::vector<Rule>> DoListRules() override { return target_->ListRules(); }
  Status DoCreateQueue(std::string_view name, const QueueOptions& options) override {
    return target_->CreateQueue(name, options);
  }
  Status DoDeleteQueue(std::string_view name) override { return target_->DeleteQueue(name); }
  StatusOr<QueueInfo> DoGetQueue(std::string_view name) override { return target_->GetQueue(name); }
  StatusOr<std::vector<QueueInfo>> DoListQueues() override { return target_->ListQueues(); }
  StatusOr<std::vector<Message>> DoReceive(std::string_view queue,
                                           const ReceiveOptions& options) override {
    return target_->Receive(queue, options);
  }
  Status DoDeleteMessage(std::string_view queue, std::string_view receipt) override {
    return target_->DeleteMessage(queue, receipt);
  }
  Status DoChangeVisibility(std::string_view queue, std::string_view receipt,
                            int64_t timeout_ms) override {
    return target_->ChangeVisibility(queue, receipt, timeout_ms);
  }
  StatusOr<TailResult> DoTail(const TailOptions& options) override {
    return target_->Tail(options);
  }
  Status DoMaintain() override { return target_->Maintain(); }

 private:
  std::unique_ptr<SqlEventBus> sql_;
  std::unique_ptr<EventBus> target_;
  OutboxRelay relay_;
};

}  // namespace

StatusOr<std::unique_ptr<EventBus>> OpenRelayedBus(sql::Database& db,
                                                   std::unique_ptr<EventBus> target, Clock& clock,
                                                   OutboxRelayOptions options) {
  if (target == nullptr) return InvalidArgumentError("relayed bus: no target bus");
  ASSIGN_OR_RETURN(std::unique_ptr<SqlEventBus> sql, SqlEventBus::Attach(db, clock));
  return std::unique_ptr<EventBus>(
      new RelayedEventBus(std::move(sql), std::move(target), options, db));
}

}  // namespace tandem::bus
