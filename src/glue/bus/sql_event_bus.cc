#include "glue/bus/sql_event_bus.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <set>

#include "absl/synchronization/mutex.h"
#include "common/ids.h"
#include "glue/sql/deferred_rows.h"

namespace tandem::bus {
namespace {

using sql::Row;
using sql::Transaction;
using sql::Value;

constexpr char kComponent[] = "bus";
constexpr int64_t kPollMs = 25;  // re-check period of long polls (timers, other processes)
// PostgreSQL: the channel a trigger notifies when messages are routed; every
// bus listening on the database wakes its long polls (SqlEventBus::Init).
constexpr char kNotifyChannel[] = "tandem_bus";
constexpr int kTailScanCap = 10'000;  // rows examined per Tail call at most
constexpr size_t kPatternCacheMax = 1000;

// DDL that differs per dialect: the auto-increment sequence column.
std::string EventsTable(sql::Dialect d) {
  std::string seq = d == sql::Dialect::kPostgres ? "seq BIGSERIAL PRIMARY KEY"
                                                 : "seq INTEGER PRIMARY KEY AUTOINCREMENT";
  return "CREATE TABLE bus_events (" + seq +
         ", id TEXT NOT NULL UNIQUE, source TEXT NOT NULL, detail_type TEXT NOT NULL,"
         " body TEXT NOT NULL, published_ms BIGINT NOT NULL)";
}

constexpr char kSharedDdl[] = R"sql(
CREATE INDEX bus_events_published ON bus_events (published_ms);
CREATE TABLE bus_queues (
  name TEXT PRIMARY KEY,
  visibility_timeout_ms BIGINT NOT NULL,
  retention_ms BIGINT NOT NULL,
  delay_ms BIGINT NOT NULL,
  max_receive_count BIGINT NOT NULL,
  dead_letter_queue TEXT NOT NULL,
  created_ms BIGINT NOT NULL);
CREATE TABLE bus_rules (
  name TEXT PRIMARY KEY,
  pattern TEXT NOT NULL,
  target_queue TEXT NOT NULL,
  created_ms BIGINT NOT NULL,
  updated_ms BIGINT NOT NULL);
CREATE TABLE bus_messages (
  queue TEXT NOT NULL,
  message_id TEXT NOT NULL,
  event_seq BIGINT NOT NULL,
  visible_at BIGINT NOT NULL,
  receive_count BIGINT NOT NULL,
  receipt_handle TEXT,
  first_received_ms BIGINT,
  sent_ms BIGINT NOT NULL,
  expires_ms BIGINT NOT NULL,
  PRIMARY KEY (queue, message_id));
CREATE INDEX bus_messages_visible ON bus_messages (queue, visible_at, event_seq);
CREATE INDEX bus_messages_receipt ON bus_messages (receipt_handle);
CREATE INDEX bus_messages_expires ON bus_messages (expires_ms);
CREATE INDEX bus_messages_event ON bus_messages (event_seq)
)sql";

constexpr char kSelectQueue[] =
    "SELECT name, visibility_timeout_ms, retention_ms, delay_ms, max_receive_count,"
    " dead_letter_queue, created_ms FROM bus_queues WHERE name = ?";

Status QueueNotFound(std::string_view name) {
  return NotFoundError("queue '" + std::string(name) + "' not found");
}

StatusOr<Event> ParseEventBody(const std::string& body) {
  auto j = ParseJson(body);
  if (!j.ok())
    return DataLossError("stored event is not valid JSON: " + std::string(j.status().message()));
  return Event::FromJson(*j);
}

QueueInfo QueueFromRow(const Row& r) {
  QueueInfo q;
  q.name = r.Text(0);
  q.options.visibility_timeout_ms = r.Int(1);
  q.options.retention_ms = r.Int(2);
  q.options.delay_ms = r.Int(3);
  q.options.max_receive_count = static_cast<int>(r.Int(4));
  q.options.dead_letter_queue = r.Text(5);
  q.created_ms = r.Int(6);
  return q;
}

}  // namespace

std::vector<sql::Migration> SqlEventBus::Migrations(sql::Dialect dialect) {
  std::vector<sql::Migration> out = {{1, "bus tables", EventsTable(dialect) + ";\n" + kSharedDdl}};
  if (dialect == sql::Dialect::kPostgres) {
    // NOTIFY is transactional: sent at COMMIT (coalesced per transaction),
    // never for a rollback. Only routed messages notify, as that is what
    // receivers wait for (Tail keeps polling): a transaction that notifies
    // holds a database-wide lock through its commit, so registry changes
    // without a routed message do not pay for it.
    out.push_back({2, "notify receivers",
                   std::string("CREATE FUNCTION bus_notify_receivers() RETURNS trigger "
                               "LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_notify('") +
                       kNotifyChannel +
                       "', ''); RETURN NULL; END $$;\n"
                       "CREATE TRIGGER bus_messages_notify AFTER INSERT ON bus_messages "
                       "FOR EACH STATEMENT EXECUTE FUNCTION bus_notify_receivers()"});
    // The routing rules' version, bumped by every change of the rules or
    // the queues they name (statement triggers), so an outbox may route with
    // the rules it read before and check, in the same round trip as its
    // inserts, that they are still current (bus_expect_rules raises a
    // serialization failure if not: the transaction runs again, reading
    // them anew). See AppendAll.
    out.push_back({3, "routing rules version", R"sql(
CREATE TABLE bus_rules_version (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  version BIGINT NOT NULL);
INSERT INTO bus_rules_version (id, version) VALUES (1, 0);
CREATE FUNCTION bus_rules_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE bus_rules_version SET version = version + 1 WHERE id = 1;
  RETURN NULL;
END $$;
CREATE TRIGGER bus_rules_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON bus_rules
  FOR EACH STATEMENT EXECUTE FUNCTION bus_rules_changed();
CREATE TRIGGER bus_queues_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON bus_queues
  FOR EACH STATEMENT EXECUTE FUNCTION bus_rules_changed();
CREATE FUNCTION bus_expect_rules(expected BIGINT) RETURNS BIGINT LANGUAGE plpgsql AS $$
DECLARE
  current_version BIGINT;
BEGIN
  SELECT version INTO current_version FROM bus_rules_version WHERE id = 1;
  IF current_version IS DISTINCT FROM expected THEN
    RAISE EXCEPTION 'bus routing rules changed (version %, expected %)', current_version,
      expected USING ERRCODE = '40001';
  END IF;
  RETURN current_version;
END $$
)sql"});
  }
  return out;
}

SqlEventBus::SqlEventBus(std::unique_ptr<sql::Database> owned, sql::Database& db, Clock& clock)
    : owned_(std::move(owned)), db_(db), clock_(clock) {}

StatusOr<std::unique_ptr<SqlEventBus>> SqlEventBus::Init(std::unique_ptr<SqlEventBus> bus) {
  Status st = bus->db_.Migrate(kComponent, Migrations(bus->db_.dialect()));
  if (!st.ok()) return Annotate(st, "event bus migration");
  // Wake long polls as soon as another process routes a message (nullptr
  // on SQLite, whose long polls re-check every kPollMs).
  SqlEventBus* raw = bus.get();
  auto sub = bus->db_.Listen(kNotifyChannel, [raw] { raw->NotifyPublish(); });
  if (!sub.ok()) return Annotate(sub.status(), "event bus notifications");
  bus->subscription_ = std::move(*sub);
  return bus;
}

StatusOr<std::unique_ptr<SqlEventBus>> SqlEventBus::Open(std::unique_ptr<sql::Database> db,
                                                         Clock& clock) {
  sql::Database& ref = *db;
  return Init(std::unique_ptr<SqlEventBus>(new SqlEventBus(std::move(db), ref, clock)));
}

StatusOr<std::unique_ptr<SqlEventBus>> SqlEventBus::Attach(sql::Database& db, Clock& clock) {
  return Init(std::unique_ptr<SqlEventBus>(new SqlEventBus(nullptr, db, clock)));
}

// --- long-poll plumbing -------------------------------------------------------

uint64_t SqlEventBus::Generation() {
  absl::MutexLock lock(&mu_);
  return generation_;
}

void SqlEventBus::WaitForPublish(uint64_t seen) {
  absl::MutexLock lock(&mu_);
  const absl::Time until = absl::Now() + absl::Milliseconds(kPollMs);
  while (generation_ == seen && !cv_.WaitWithDeadline(&mu_, until)) {
  }
}

void SqlEventBus::NotifyPublish() {
  {
    absl::MutexLock lock(&mu_);
    ++generation_;
  }
  cv_.SignalAll();
}

StatusOr<Pattern> SqlEventBus::CachedPattern(const std::string& text) {
  {
    absl::MutexLock lock(&mu_);
    auto it = patterns_.find(text);
    if (it != patterns_.end()) return it->second;
  }
  ASSIGN_OR_RETURN(Pattern p, Pattern::ParseText(text));
  absl::MutexLock lock(&mu_);
  if (patterns_.size() >= kPatternCacheMax) patterns_.clear();
  patterns_.emplace(text, p);
  return p;
}

// --- publish / outbox -----------------------------------------------------------

namespace {
// Validates `e` and gives it an id and a time if it has none.
Status Complete(Event& e, Clock& clock) {
  RETURN_IF_ERROR(ValidateEvent(e));
  if (e.id.empty()) e.id = NewUuidV7(clock);
  if (e.time.empty()) e.time = FormatRfc3339(clock.NowMicros());
  return OkStatus();
}
}  // namespace

StatusOr<SequencedEvent> SqlEventBus::AppendEvent(Transaction& tx, const Event& in,
                                                  bool deferred) {
  return AppendEvent(tx, in, deferred, nullptr);
}

namespace {
constexpr char kRulesQuery[] =
    "SELECT r.pattern, r.target_queue, q.delay_ms, q.retention_ms"
    " FROM bus_rules r JOIN bus_queues q ON q.name = r.target_queue"
    " ORDER BY r.name";
}  // namespace

StatusOr<SequencedEvent> SqlEventBus::AppendEvent(Transaction& tx, const Event& in,
                                                  bool deferred,
                                                  const std::vector<Row>* preloaded_rules) {
  SequencedEvent out;
  out.event = in;
  Event& e = out.event;
  RETURN_IF_ERROR(Complete(e, clock_));
  const int64_t now = clock_.NowMillis();
  const Json j = e.ToJson();

  std::vector<Value> event_row = {e.id, e.source, e.detail_type, j.dump(), now};
  if (deferred) {
    // Sent with the rule lookup below (one round trip on PostgreSQL); a
    // duplicate id fails the id's unique index there (AlreadyExists).
    RETURN_IF_ERROR(tx.ExecDeferred("INSERT INTO bus_events (id, source, detail_type, body,"
                                    " published_ms) VALUES (?, ?, ?, ?, ?)",
                                    event_row));
  } else {
    // One statement: a duplicate id inserts nothing and returns no row.
    ASSIGN_OR_RETURN(auto inserted,
                     tx.Query("INSERT INTO bus_events (id, source, detail_type, body,"
                              " published_ms) VALUES (?, ?, ?, ?, ?)"
                              " ON CONFLICT (id) DO NOTHING RETURNING seq",
                              event_row));
    if (inserted.empty()) {
      return AlreadyExistsError("event id '" + e.id + "' was already published");
    }
    out.seq = inserted[0].Int(0);
  }

  std::vector<Row> loaded_rules;
  if (preloaded_rules == nullptr) {
    ASSIGN_OR_RETURN(loaded_rules, tx.Query(kRulesQuery));
  }
  RETURN_IF_ERROR(Route(tx, j, e.id, out.seq, now,
                        preloaded_rules != nullptr ? *preloaded_rules : loaded_rules));
  return out;
}

Status SqlEventBus::Route(Transaction& tx, const Json& j, const std::string& id, int64_t seq,
                          int64_t now, const std::vector<Row>& rules) {
  std::set<std::string> routed;
  for (const Row& r : rules) {
    std::string queue = r.Text(1);
    if (routed.count(queue) > 0) continue;
    ASSIGN_OR_RETURN(Pattern p, CachedPattern(r.Text(0)));
    if (!p.Matches(j)) continue;
    routed.insert(queue);
    const std::string message_id = NewUuidV7(clock_);
    // Deferred: sent with the COMMIT (or the next statement).
    if (seq == 0) {
      // The event's seq by its (unique, indexed) id: no round trip to read it.
      RETURN_IF_ERROR(tx.ExecDeferred(
          "INSERT INTO bus_messages (queue, message_id, event_seq, visible_at,"
          " receive_count, receipt_handle, first_received_ms, sent_ms, expires_ms)"
          " VALUES (?, ?, (SELECT seq FROM bus_events WHERE id = ?), ?, 0, NULL, NULL, ?, ?)",
          {queue, message_id, id, now + r.Int(2), now, now + r.Int(3)}));
      continue;
    }
    RETURN_IF_ERROR(
        tx.ExecDeferred("INSERT INTO bus_messages (queue, message_id, event_seq, visible_at,"
                        " receive_count, receipt_handle, first_received_ms, sent_ms, expires_ms)"
                        " VALUES (?, ?, ?, ?, 0, NULL, NULL, ?, ?)",
                        {queue, message_id, seq, now + r.Int(2), now, now + r.Int(3)}));
  }
  return OkStatus();
}

namespace {
// PostgreSQL: the rules with their version, in one snapshot (one row with
// NULL rule columns when there is no rule).
constexpr char kRulesWithVersionQuery[] =
    "SELECT r.pattern, r.target_queue, q.delay_ms, q.retention_ms, v.version"
    " FROM bus_rules_version v LEFT JOIN (bus_rules r JOIN bus_queues q"
    " ON q.name = r.target_queue) ON TRUE WHERE v.id = 1 ORDER BY r.name";
constexpr char kExpectRules[] = "SELECT bus_expect_rules(CAST(? AS BIGINT))";
}  // namespace

std::shared_ptr<const SqlEventBus::RulesCache> SqlEventBus::CachedRules(Transaction& tx) {
  if (tx.dialect() != sql::Dialect::kPostgres || tx.attempt() > 0) return nullptr;
  absl::MutexLock lock(&mu_);
  return rules_cache_;
}

Status SqlEventBus::Prefetch(Transaction& tx) {
  if (tx.dialect() != sql::Dialect::kPostgres) return tx.Prefetch(kRulesQuery);
  if (CachedRules(tx) != nullptr) return OkStatus();  // AppendAll checks them instead
  return tx.Prefetch(kRulesWithVersionQuery);
}

StatusOr<std::vector<Row>> SqlEventBus::RulesFor(Transaction& tx) {
  if (tx.dialect() != sql::Dialect::kPostgres) return tx.Query(kRulesQuery);
  if (std::shared_ptr<const RulesCache> cached = CachedRules(tx)) {
    // Routed by the rules read before, checked with the inserts (no round
    // trip of its own); if they changed, the whole transaction runs again
    // (Aborted: a retry, attempt() > 0) and reads them here.
    RETURN_IF_ERROR(tx.ExecDeferred(kExpectRules, {cached->version}));
    return cached->rules;
  }
  ASSIGN_OR_RETURN(std::vector<Row> rows, tx.Query(kRulesWithVersionQuery));
  auto fresh = std::make_shared<RulesCache>();
  for (Row& r : rows) {
    fresh->version = r.Int(4);
    if (!r.IsNull(0)) fresh->rules.push_back(std::move(r));
  }
  if (!rows.empty()) {
    absl::MutexLock lock(&mu_);
    rules_cache_ = fresh;  // committed rules: valid whatever becomes of tx
  }
  return fresh->rules;
}

Status SqlEventBus::AppendAll(Transaction& tx, const std::vector<Event>& events) {
  if (events.empty()) return OkStatus();
  // One lookup (it carries the statements deferred so far with it), or none.
  ASSIGN_OR_RETURN(std::vector<Row> rules, RulesFor(tx));
  // The events in multi-row inserts (few statements for the server; a
  // duplicate id fails the id's unique index, AlreadyExists), then their
  // messages, which find each event's seq by its id.
  const int64_t now = clock_.NowMillis();
  std::vector<Value> rows;
  std::vector<Event> completed(events);
  std::vector<Json> bodies;
  for (Event& e : completed) {
    RETURN_IF_ERROR(Complete(e, clock_));
    bodies.push_back(e.ToJson());
    rows.insert(rows.end(), {e.id, e.source, e.detail_type, bodies.back().dump(), now});
  }
  RETURN_IF_ERROR(sql::ExecDeferredRows(
      tx, "INSERT INTO bus_events (id, source, detail_type, body, published_ms)", 5, rows));
  for (size_t i = 0; i < completed.size(); ++i) {
    RETURN_IF_ERROR(Route(tx, bodies[i], completed[i].id, 0, now, rules));
  }
  NotifyPublish();
  return OkStatus();
}

Status SqlEventBus::Append(Transaction& tx, const Event& event) {
  ASSIGN_OR_RETURN(SequencedEvent unused, AppendEvent(tx, event, /*deferred=*/true));
  (void)unused;
  NotifyPublish();  // waiters re-check; harmless if the caller rolls back
  return OkStatus();
}

struct SqlEventBus::PendingPublish {
  Event event;  // validated, with its id and time
  SequencedEvent out;
  Status result;
};

StatusOr<SequencedEvent> SqlEventBus::DoPublish(const Event& event) {
  // Validated and named before it joins a batch: what can fail on its own
  // fails alone.
  PendingPublish p;
  p.event = event;
  RETURN_IF_ERROR(Complete(p.event, clock_));
  // Concurrent publishes of this bus share a transaction (group commit).
  publishes_.Submit("publish", &p,
                    [this](const std::string&, const std::vector<PendingPublish*>& batch) {
                      PublishBatch(batch);
                    });
  RETURN_IF_ERROR(p.result);
  NotifyPublish();
  return std::move(p.out);
}

void SqlEventBus::PublishBatch(const std::vector<PendingPublish*>& batch) {
  // Only new rows (the events, their messages), keyed as the Outbox
  // contract allows (what a registry transaction's Append does): a keyed
  // transaction (on PostgreSQL READ COMMITTED, BEGIN sent with the first
  // statement) under a key of its own, so other processes' publishes do not
  // wait for this one (a hash collision only serializes two of them).
  static std::atomic<uint64_t> batches{0};
  const std::string key = "bus/publish/" + std::to_string(batches.fetch_add(1));
  bool fn_failed = false;
  Status s = db_.WithKeyedTransaction(key, [&](Transaction& tx) -> Status {
    Status w = PublishAll(tx, batch);
    fn_failed = !w.ok();
    return w;
  });
  if (s.ok()) return;
  if (batch.size() > 1 && (fn_failed || sql::RefusedOutright(s))) {
    for (PendingPublish* p : batch) PublishBatch({p});
    return;
  }
  for (PendingPublish* p : batch) p->result = s;
}

Status SqlEventBus::PublishAll(Transaction& tx, const std::vector<PendingPublish*>& batch) {
  const int64_t now = clock_.NowMillis();
  // The events in one statement; a duplicate id inserts nothing and returns
  // no row (that publish alone fails).
  std::string sql =
      "INSERT INTO bus_events (id, source, detail_type, body, published_ms) VALUES ";
  std::vector<Value> params;
  std::vector<Json> bodies;
  for (size_t i = 0; i < batch.size(); ++i) {
    const Event& e = batch[i]->event;
    bodies.push_back(e.ToJson());
    sql += i == 0 ? "(?, ?, ?, ?, ?)" : ", (?, ?, ?, ?, ?)";
    params.insert(params.end(), {e.id, e.source, e.detail_type, bodies.back().dump(), now});
  }
  sql += " ON CONFLICT (id) DO NOTHING RETURNING seq, id";
  // The rule lookup goes with the insert (PostgreSQL): then the messages
  // and the COMMIT are the second and last round trip.
  RETURN_IF_ERROR(tx.Prefetch(kRulesQuery));
  ASSIGN_OR_RETURN(std::vector<Row> inserted, tx.Query(sql, params));
  std::map<std::string, int64_t> seq_of;
  for (const Row& r : inserted) seq_of[r.Text(1)] = r.Int(0);
  ASSIGN_OR_RETURN(std::vector<Row> rules, tx.Query(kRulesQuery));
  for (size_t i = 0; i < batch.size(); ++i) {
    PendingPublish& p = *batch[i];
    p.out = SequencedEvent{};
    p.out.event = p.event;
    auto it = seq_of.find(p.event.id);
    if (it == seq_of.end()) {  // published before, or earlier in this batch
      p.result = AlreadyExistsError("event id '" + p.event.id + "' was already published");
      continue;
    }
    p.result = OkStatus();
    p.out.seq = it->second;
    seq_of.erase(it);
    RETURN_IF_ERROR(Route(tx, bodies[i], p.event.id, p.out.seq, now, rules));
  }
  return OkStatus();
}

// --- rules -----------------------------------------------------------------------

Status SqlEventBus::DoPutRule(std::string_view name, const Json& pattern,
                              std::string_view target_queue) {
  const std::string text = pattern.dump();
  return db_.WithTransaction([&](Transaction& tx) -> Status {
    ASSIGN_OR_RETURN(auto q, tx.Query("SELECT name FROM bus_queues WHERE name = ?",
                                      {std::string(target_queue)}));
    if (q.empty()) {
      return NotFoundError("rule '" + std::string(name) + "': target queue '" +
                           std::string(target_queue) + "' not found");
    }
    const int64_t now = clock_.NowMillis();
    return tx
        .Exec(
            "INSERT INTO bus_rules (name, pattern, target_queue, created_ms, updated_ms)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET pattern = excluded.pattern,"
            " target_queue = excluded.target_queue, updated_ms = excluded.updated_ms",
            {std::string(name), text, std::string(target_queue), now, now})
        .status();
  });
}

Status SqlEventBus::DoDeleteRule(std::string_view name) {
  return db_.WithTransaction([&](Transaction& tx) -> Status {
    ASSIGN_OR_RETURN(int64_t n,
                     tx.Exec("DELETE FROM bus_rules WHERE name = ?", {std::string(name)}));
    if (n == 0) return NotFoundError("rule '" + std::string(name) + "' not found");
    return OkStatus();
  });
}

StatusOr<std::vector<Rule>> SqlEventBus::DoListRules() {
  std::vector<Rule> out;
  RETURN_IF_ERROR(db_.Read([&](Transaction& tx) -> Status {
    out.clear();
    ASSIGN_OR_RETURN(auto rows,
                     tx.Query("SELECT name, pattern, target_queue FROM bus_rules ORDER BY name"));
    for (const Row& r : rows) {
      ASSIGN_OR_RETURN(Json pattern, ParseJson(r.Text(1)));
      out.push_back(Rule{r.Text(0), std::move(pattern), r.Text(2)});
    }
    return OkStatus();
  }));
  return out;
}

// --- queues ----------------------------------------------------------------------

Status SqlEventBus::DoCreateQueue(std::string_view name, const QueueOptions& options) {
  const std::string n(name);
  return db_.WithTransaction([&](Transaction& tx) -> Status {
    ASSIGN_OR_RETURN(auto existing, tx.Query(kSelectQueue, {n}));
    if (!existing.empty()) {
      if (QueueFromRow(existing[0]).options == options) return OkStatus();  // idempotent
      return AlreadyExistsError("queue '" + n + "' already exists with different options");
    }
    if (!options.dead_letter_queue.empty()) {
      ASSIGN_OR_RETURN(auto dlq, tx.Query("SELECT name FROM bus_queues WHERE name = ?",
                                          {options.dead_letter_queue}));
      if (dlq.empty()) {
        return NotFoundError("queue '" + n + "': dead-letter queue '" + options.dead_letter_queue +
                             "' not found");
      }
    }
    return tx
        .Exec(
            "INSERT INTO bus_queues (name, visibility_timeout_ms, retention_ms, delay_ms,"
            " max_receive_count, dead_letter_queue, created_ms) VALUES (?, ?, ?, ?, ?, ?, ?)",
            {n, options.visibility_timeout_ms, options.retention_ms, options.delay_ms,
             int64_t{options.max_receive_count}, options.dead_letter_queue, clock_.NowMillis()})
        .status();
  });
}

Status SqlEventBus::DoDeleteQueue(std::string_view name) {
  const std::string n(name);
  return db_.WithTransaction([&](Transaction& tx) -> Status {
    ASSIGN_OR_RETURN(auto q, tx.Query("SELECT name FROM bus_queues WHERE name = ?", {n}));
    if (q.empty()) return QueueNotFound(n);
    ASSIGN_OR_RETURN(auto rules, tx.Query("SELECT name FROM bus_rules WHERE target_queue = ?"
                                          " ORDER BY name",
                                          {n}));
    if (!rules.empty()) {
      std::string names;
      for (const Row& r : rules) names += (names.empty() ? "" : ", ") + r.Text(0);
      return FailedPreconditionError("queue '" + n + "' is the target of rules: " + names);
    }
    ASSIGN_OR_RETURN(auto users, tx.Query("SELECT name FROM bus_queues WHERE dead_letter_queue = ?"
                                          " ORDER BY name",
                                          {n}));
    if (!users.empty()) {
      std::string names;
      for (const Row& r : users) names += (names.empty() ? "" : ", ") + r.Text(0);
      return FailedPreconditionError("queue '" + n + "' is the dead-letter queue of: " + names);
    }
    RETURN_IF_ERROR(tx.Exec("DELETE FROM bus_messages WHERE queue = ?", {n}).status());
    return tx.Exec("DELETE FROM bus_queues WHERE name = ?", {n}).status();
  });
}

StatusOr<QueueInfo> SqlEventBus::LoadQueue(Transaction& tx, const std::string& name, int64_t now) {
  ASSIGN_OR_RETURN(auto rows, tx.Query(kSelectQueue, {name}));
  if (rows.empty()) return QueueNotFound(name);
  QueueInfo q = QueueFromRow(rows[0]);
  ASSIGN_OR_RETURN(
      Row c,
      tx.QueryOne("SELECT COUNT(CASE WHEN visible_at <= ? THEN 1 END),"
                  " COUNT(CASE WHEN visible_at > ? AND receipt_handle IS NOT NULL THEN 1 END),"
                  " COUNT(CASE WHEN visible_at > ? AND receipt_handle IS NULL THEN 1 END),"
                  " MIN(CASE WHEN visible_at <= ? THEN visible_at END)"
                  " FROM bus_messages WHERE queue = ? AND expires_ms > ?",
                  {now, now, now, now, name, now}));
  q.visible = c.Int(0);
  q.in_flight = c.Int(1);
  q.delayed = c.Int(2);
  q.oldest_visible_ms = c.Int(3);  // NULL (no visible message) reads as 0
  return q;
}

StatusOr<QueueInfo> SqlEventBus::DoGetQueue(std::string_view name) {
  QueueInfo out;
  RETURN_IF_ERROR(db_.Read([&](Transaction& tx) -> Status {
    ASSIGN_OR_RETURN(out, LoadQueue(tx, std::string(name), clock_.NowMillis()));
    return OkStatus();
  }));
  return out;
}

StatusOr<std::vector<QueueInfo>> SqlEventBus::DoListQueues() {
  std::vector<QueueInfo> out;
  RETURN_IF_ERROR(db_.Read([&](Transaction& tx) -> Status {
    out.clear();
    const int64_t now = clock_.NowMillis();
    ASSIGN_OR_RETURN(auto names, tx.Query("SELECT name FROM bus_queues ORDER BY name"));
    for (const Row& r : names) {
      ASSIGN_OR_RETURN(QueueInfo q, LoadQueue(tx, r.Text(0), now));
      out.push_back(std::move(q));
    }
    return OkStatus();
  }));
  return out;
}

// --- messages ----------------------------------------------------------------------

StatusOr<std::vector<Message>> SqlEventBus::ReceiveOnce(const std::string& queue, int max_messages,
                                                        std::optional<int64_t> visibility_ms) {
  std::vector<Message> out;
  RETURN_IF_ERROR(db_.WithTransaction([&](Transaction& tx) -> Status {
    out.clear();
    const int64_t now = clock_.NowMillis();
    ASSIGN_OR_RETURN(auto qrows, tx.Query(kSelectQueue, {queue}));
    if (qrows.empty()) return QueueNotFound(queue);
    const QueueInfo q = QueueFromRow(qrows[0]);
    const int64_t vis = visibility_ms.value_or(q.options.visibility_timeout_ms);
    RETURN_IF_ERROR(
        tx.Exec("DELETE FROM bus_messages WHERE queue = ? AND expires_ms <= ?", {queue, now})
            .status());
    std::optional<int64_t> dlq_retention;
    while (static_cast<int>(out.size()) < max_messages) {
      ASSIGN_OR_RETURN(
          auto rows,
          tx.Query("SELECT m.message_id, m.receive_count, m.first_received_ms, m.sent_ms, e.body"
                   " FROM bus_messages m JOIN bus_events e ON e.seq = m.event_seq"
                   " WHERE m.queue = ? AND m.visible_at <= ?"
                   " ORDER BY m.visible_at, m.event_seq LIMIT ?",
                   {queue, now, int64_t{max_messages - static_cast<int>(out.size())}}));
      if (rows.empty()) break;
      int moved = 0;
      for (const Row& r : rows) {
        const std::string id = r.Text(0);
        const int64_t count = r.Int(1);
        if (q.options.max_receive_count > 0 && count >= q.options.max_receive_count) {
          // A receive would exceed maxReceiveCount: move to the dead-letter queue.
          if (!dlq_retention) {
            ASSIGN_OR_RETURN(auto d, tx.Query("SELECT retention_ms FROM bus_queues WHERE name = ?",
                                              {q.options.dead_letter_queue}));
            if (d.empty()) return QueueNotFound(q.options.dead_letter_queue);
            dlq_retention = d[0].Int(0);
          }
          RETURN_IF_ERROR(
              tx.Exec("UPDATE bus_messages SET queue = ?, visible_at = ?,"
                      " receipt_handle = NULL, expires_ms = ?"
                      " WHERE queue = ? AND message_id = ?",
                      {q.options.dead_letter_queue, now, r.Int(3) + *dlq_retention, queue, id})
                  .status());
          ++moved;
          continue;
        }
        Message m;
        m.message_id = id;
        m.receipt_handle = id + "." + NewUlid(clock_);
        m.receive_count = static_cast<int>(count + 1);
        m.first_received_ms = r.IsNull(2) ? now : r.Int(2);
        m.sent_ms = r.Int(3);
        ASSIGN_OR_RETURN(m.event, ParseEventBody(r.Text(4)));
        RETURN_IF_ERROR(tx.Exec("UPDATE bus_messages SET visible_at = ?,"
                                " receive_count = receive_count + 1, receipt_handle = ?,"
                                " first_received_ms = ? WHERE queue = ? AND message_id = ?",
                                {now + vis, m.receipt_handle, m.first_received_ms, queue, id})
                            .status());
        out.push_back(std::move(m));
      }
      if (moved == 0) break;
    }
    return OkStatus();
  }));
  return out;
}

StatusOr<std::vector<Message>> SqlEventBus::DoReceive(std::string_view queue,
                                                      const ReceiveOptions& options) {
  const std::string q(queue);
  const int64_t deadline = clock_.MonotonicMillis() + options.wait_ms;
  while (true) {
    const uint64_t seen = Generation();
    ASSIGN_OR_RETURN(auto msgs,
                     ReceiveOnce(q, options.max_messages, options.visibility_timeout_ms));
    if (!msgs.empty() || clock_.MonotonicMillis() >= deadline) return msgs;
    WaitForPublish(seen);
  }
}

Status SqlEventBus::DoDeleteMessage(std::string_view queue, std::string_view receipt_handle) {
  return db_.WithTransaction([&](Transaction& tx) -> Status {
    ASSIGN_OR_RETURN(auto q,
                     tx.Query("SELECT name FROM bus_queues WHERE name = ?", {std::string(queue)}));
    if (q.empty()) return QueueNotFound(queue);
    // A stale receipt deletes nothing and still succeeds (SQS semantics).
    return tx
        .Exec("DELETE FROM bus_messages WHERE queue = ? AND receipt_handle = ?",
              {std::string(queue), std::string(receipt_handle)})
        .status();
  });
}

Status SqlEventBus::DoChangeVisibility(std::string_view queue, std::string_view receipt_handle,
                                       int64_t timeout_ms) {
  return db_.WithTransaction([&](Transaction& tx) -> Status {
    ASSIGN_OR_RETURN(auto q,
                     tx.Query("SELECT name FROM bus_queues WHERE name = ?", {std::string(queue)}));
    if (q.empty()) return QueueNotFound(queue);
    const int64_t now = clock_.NowMillis();
    ASSIGN_OR_RETURN(
        int64_t n,
        tx.Exec("UPDATE bus_messages SET visible_at = ?"
                " WHERE queue = ? AND receipt_handle = ? AND visible_at > ?",
                {now + timeout_ms, std::string(queue), std::string(receipt_handle), now}));
    if (n == 0) {
      return FailedPreconditionError("message of receipt '" + std::string(receipt_handle) +
                                     "' is not in flight in queue '" + std::string(queue) +
                                     "' (stale receipt, deleted, or visibility expired)");
    }
    return OkStatus();
  });
}

// --- history -------------------------------------------------------------------------

StatusOr<TailResult> SqlEventBus::TailOnce(const TailOptions& options) {
  TailResult out;
  RETURN_IF_ERROR(db_.Read([&](Transaction& tx) -> Status {
    out = TailResult{};
    out.last_seq = options.after_seq;
    const int64_t batch = options.pattern ? 500 : options.limit;
    int scanned = 0;
    while (static_cast<int>(out.events.size()) < options.limit && scanned < kTailScanCap) {
      ASSIGN_OR_RETURN(auto rows, tx.Query("SELECT seq, body FROM bus_events WHERE seq > ?"
                                           " ORDER BY seq LIMIT ?",
                                           {out.last_seq, batch}));
      for (const Row& r : rows) {
        ++scanned;
        out.last_seq = r.Int(0);
        ASSIGN_OR_RETURN(auto j, ParseJson(r.Text(1)));
        if (options.pattern && !options.pattern->Matches(j)) continue;
        ASSIGN_OR_RETURN(Event e, Event::FromJson(j));
        out.events.push_back(SequencedEvent{r.Int(0), std::move(e)});
        if (static_cast<int>(out.events.size()) >= options.limit) break;
      }
      if (static_cast<int64_t>(rows.size()) < batch) break;
    }
    return OkStatus();
  }));
  return out;
}

StatusOr<TailResult> SqlEventBus::DoTail(const TailOptions& options) {
  TailOptions o = options;
  const int64_t deadline = clock_.MonotonicMillis() + options.wait_ms;
  while (true) {
    const uint64_t seen = Generation();
    ASSIGN_OR_RETURN(TailResult r, TailOnce(o));
    if (!r.events.empty() || clock_.MonotonicMillis() >= deadline) {
      r.last_seq = std::max(r.last_seq, options.after_seq);
      return r;
    }
    o.after_seq = r.last_seq;  // skip what was filtered out
    WaitForPublish(seen);
  }
}

Status SqlEventBus::DoMaintain() {
  return db_.WithTransaction([&](Transaction& tx) -> Status {
    const int64_t now = clock_.NowMillis();
    RETURN_IF_ERROR(tx.Exec("DELETE FROM bus_messages WHERE expires_ms <= ?", {now}).status());
    // Event history is kept as long as the longest queue retention.
    return tx
        .Exec(
            "DELETE FROM bus_events WHERE published_ms <= ? AND NOT EXISTS"
            " (SELECT 1 FROM bus_messages m WHERE m.event_seq = bus_events.seq)",
            {now - kMaxRetentionMs})
        .status();
  });
}

}  // namespace tandem::bus
