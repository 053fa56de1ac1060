// NATS JetStream event bus: connection, catalog (queues and rules in KV),
// publish and routing, event history. Queue state: nats_queue.cc.
#include "glue/bus/nats_event_bus.h"

#include <algorithm>
#include <chrono>
#include <set>

#include "absl/synchronization/mutex.h"
#include "common/ids.h"
#include "common/uri.h"
#include "glue/bus/nats_bus_internal.h"

namespace tandem::bus {
namespace {

constexpr int64_t kNsPerMs = 1'000'000;
constexpr int64_t kDuplicateWindowMs = 3'600'000;  // 1 h of Nats-Msg-Id dedup
constexpr int64_t kAckWaitMs = 300'000;            // server-side redelivery backstop
constexpr int64_t kMaxAckPending = 100'000;
constexpr int kTailScanCap = 10'000;
constexpr int kCasRetries = 100;
constexpr size_t kPatternCacheMax = 1000;
constexpr char kCatalogKey[] = "catalog";

Status QueueNotFound(std::string_view name) {
  return NotFoundError("queue '" + std::string(name) + "' not found");
}

bool ValidPrefix(std::string_view p) {
  if (p.empty() || p.size() > 32) return false;
  return std::all_of(p.begin(), p.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
  });
}

// A subject token from free text: [A-Za-z0-9_-], anything else becomes '_'.
std::string SubjectToken(std::string_view s) {
  std::string out;
  for (char c : s) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-';
    out += ok ? c : '_';
  }
  return out.empty() ? "_" : out;
}

Json QueueToJson(const QueueOptions& o, int64_t created_ms) {
  return Json{{"visibility_timeout_ms", o.visibility_timeout_ms},
              {"retention_ms", o.retention_ms},
              {"delay_ms", o.delay_ms},
              {"max_receive_count", o.max_receive_count},
              {"dead_letter_queue", o.dead_letter_queue},
              {"created_ms", created_ms}};
}

QueueInfo QueueFromJson(const std::string& name, const Json& j) {
  QueueInfo q;
  q.name = name;
  q.options.visibility_timeout_ms = j.value("visibility_timeout_ms", int64_t{0});
  q.options.retention_ms = j.value("retention_ms", int64_t{0});
  q.options.delay_ms = j.value("delay_ms", int64_t{0});
  q.options.max_receive_count = j.value("max_receive_count", 0);
  q.options.dead_letter_queue = j.value("dead_letter_queue", std::string());
  q.created_ms = j.value("created_ms", int64_t{0});
  return q;
}

// Ensures `cfg`'s stream exists (created when missing; an existing stream
// is used as it is).
Status EnsureStream(jsCtx* js, jsStreamConfig& cfg) {
  for (int attempt = 0; attempt < 3; ++attempt) {
    jsStreamInfo* si = nullptr;
    jsErrCode jerr = static_cast<jsErrCode>(0);
    natsStatus s = js_GetStreamInfo(&si, js, cfg.Name, nullptr, &jerr);
    if (s == NATS_OK) {
      jsStreamInfo_Destroy(si);
      return OkStatus();
    }
    if (s != NATS_NOT_FOUND) return NatsError(s, std::string("stream info ") + cfg.Name, jerr);
    s = js_AddStream(&si, js, &cfg, nullptr, &jerr);
    if (s == NATS_OK) {
      jsStreamInfo_Destroy(si);
      return OkStatus();
    }
    // Another process may have created it meanwhile: look again.
    if (attempt == 2) return NatsError(s, std::string("create stream ") + cfg.Name, jerr);
  }
  return OkStatus();
}

}  // namespace

Status NatsError(natsStatus s, std::string_view what, jsErrCode jerr) {
  std::string msg = "nats: " + std::string(what) + ": " + natsStatus_GetText(s);
  if (jerr != 0) msg += " (JetStream error " + std::to_string(static_cast<int>(jerr)) + ")";
  const char* last = nats_GetLastError(nullptr);
  if (last != nullptr && *last != '\0') msg += ": " + std::string(last);
  if (s == NATS_NOT_FOUND) return NotFoundError(msg);
  if (s == NATS_TIMEOUT) return DeadlineExceededError(msg);
  if (s == NATS_INVALID_ARG) return InvalidArgumentError(msg);
  return UnavailableError(msg);
}

// --- Impl ---------------------------------------------------------------------

NatsEventBus::Impl::~Impl() {
  {
    absl::MutexLock lock(&mu);
    subs.clear();
  }
  if (kv != nullptr) kvStore_Destroy(kv);
  if (js != nullptr) jsCtx_Destroy(js);
  if (nc != nullptr) natsConnection_Destroy(nc);
}

StatusOr<std::pair<Json, uint64_t>> NatsEventBus::Impl::Load(const std::string& key) {
  kvEntry* e = nullptr;
  natsStatus s = kvStore_Get(&e, kv, key.c_str());
  if (s == NATS_NOT_FOUND) return std::make_pair(Json(), uint64_t{0});
  if (s != NATS_OK) return NatsError(s, "read " + bucket + "/" + key);
  std::string text(static_cast<const char*>(kvEntry_Value(e)), kvEntry_ValueLen(e));
  uint64_t rev = kvEntry_Revision(e);
  kvEntry_Destroy(e);
  if (text.empty()) return std::make_pair(Json(), rev);
  auto j = ParseJson(text);
  if (!j.ok())
    return DataLossError("corrupt " + bucket + "/" + key + ": " +
                         std::string(j.status().message()));
  return std::make_pair(std::move(*j), rev);
}

Status NatsEventBus::Impl::Update(const std::string& key, const std::function<Status(Json&)>& fn) {
  natsStatus last = NATS_OK;
  for (int attempt = 0; attempt < kCasRetries; ++attempt) {
    ASSIGN_OR_RETURN(auto loaded, Load(key));
    Json doc = std::move(loaded.first);
    const Json before = doc;
    RETURN_IF_ERROR(fn(doc));
    if (doc == before) return OkStatus();
    const std::string text = doc.dump();
    uint64_t rev = 0;
    if (loaded.second == 0) {
      last = kvStore_Create(&rev, kv, key.c_str(), text.data(), static_cast<int>(text.size()));
    } else {
      last = kvStore_Update(&rev, kv, key.c_str(), text.data(), static_cast<int>(text.size()),
                            loaded.second);
    }
    if (last == NATS_OK) return OkStatus();
    if (last != NATS_ERR) return NatsError(last, "write " + bucket + "/" + key);
    // NATS_ERR: wrong last revision (another writer won); reload and retry.
  }
  return AbortedError("nats: " + bucket + "/" + key + " kept changing under " +
                      std::to_string(kCasRetries) + " attempts to update it");
}

StatusOr<Json> NatsEventBus::Impl::Catalog() {
  ASSIGN_OR_RETURN(auto loaded, Load(kCatalogKey));
  Json c = std::move(loaded.first);
  if (!c.is_object()) c = Json::object();
  if (!c.contains("queues")) c["queues"] = Json::object();
  if (!c.contains("rules")) c["rules"] = Json::object();
  return c;
}

StatusOr<Pattern> NatsEventBus::Impl::CachedPattern(const Json& pattern) {
  const std::string text = pattern.dump();
  {
    absl::MutexLock lock(&mu);
    auto it = patterns.find(text);
    if (it != patterns.end()) return it->second;
  }
  ASSIGN_OR_RETURN(Pattern p, Pattern::Parse(pattern));
  absl::MutexLock lock(&mu);
  if (patterns.size() >= kPatternCacheMax) patterns.clear();
  patterns.emplace(text, p);
  return p;
}

StatusOr<std::shared_ptr<PullSub>> NatsEventBus::Impl::Sub(const std::string& queue) {
  {
    absl::MutexLock lock(&mu);
    auto it = subs.find(queue);
    if (it != subs.end()) return it->second;
  }
  auto ps = std::make_shared<PullSub>();
  jsOptions jo;
  jsOptions_Init(&jo);
  jsSubOptions so;
  jsSubOptions_Init(&so);
  so.Stream = queues_stream.c_str();
  so.Consumer = queue.c_str();
  jsErrCode jerr = static_cast<jsErrCode>(0);
  natsStatus s =
      js_PullSubscribe(&ps->sub, js, QueueSubject(queue).c_str(), queue.c_str(), &jo, &so, &jerr);
  if (s != NATS_OK) {
    ps->sub = nullptr;
    return NatsError(s, "bind to the consumer of queue '" + queue + "'", jerr);
  }
  absl::MutexLock lock(&mu);
  auto [it, inserted] = subs.emplace(queue, ps);
  return it->second;
}

void NatsEventBus::Impl::DropSub(const std::string& queue) {
  absl::MutexLock lock(&mu);
  subs.erase(queue);
}

StatusOr<std::pair<uint64_t, bool>> NatsEventBus::Impl::JsPublish(
    const std::string& subject, const std::string& payload, const std::string& msg_id,
    const std::map<std::string, std::string>& headers) {
  natsMsg* msg = nullptr;
  natsStatus s = natsMsg_Create(&msg, subject.c_str(), nullptr, payload.data(),
                                static_cast<int>(payload.size()));
  if (s != NATS_OK) return NatsError(s, "create message");
  for (const auto& [k, v] : headers) {
    if (s == NATS_OK) s = natsMsgHeader_Set(msg, k.c_str(), v.c_str());
  }
  if (s != NATS_OK) {
    natsMsg_Destroy(msg);
    return NatsError(s, "set message headers");
  }
  jsPubOptions po;
  jsPubOptions_Init(&po);
  po.MsgId = msg_id.c_str();
  jsPubAck* pa = nullptr;
  jsErrCode jerr = static_cast<jsErrCode>(0);
  s = js_PublishMsg(&pa, js, msg, &po, &jerr);
  natsMsg_Destroy(msg);
  if (s != NATS_OK) return NatsError(s, "publish to " + subject, jerr);
  std::pair<uint64_t, bool> out{pa->Sequence, pa->Duplicate};
  jsPubAck_Destroy(pa);
  return out;
}

Status NatsEventBus::Impl::Ack(const std::string& ack_subject) {
  natsStatus s = natsConnection_PublishString(nc, ack_subject.c_str(), "+ACK");
  if (s == NATS_OK) s = natsConnection_FlushTimeout(nc, 10'000);
  if (s != NATS_OK) return NatsError(s, "ack " + ack_subject);
  return OkStatus();
}

uint64_t NatsEventBus::Impl::Generation() {
  absl::MutexLock lock(&mu);
  return generation;
}

void NatsEventBus::Impl::WaitForPublish(uint64_t seen, int64_t ms) {
  absl::MutexLock lock(&mu);
  const absl::Time until = absl::Now() + absl::Milliseconds(ms);
  while (generation == seen && !cv.WaitWithDeadline(&mu, until)) {
  }
}

void NatsEventBus::Impl::NotifyPublish() {
  {
    absl::MutexLock lock(&mu);
    ++generation;
  }
  cv.SignalAll();
}

// --- open ---------------------------------------------------------------------

NatsEventBus::NatsEventBus(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
NatsEventBus::~NatsEventBus() = default;

const std::string& NatsEventBus::events_stream() const { return impl_->events_stream; }
const std::string& NatsEventBus::queues_stream() const { return impl_->queues_stream; }

StatusOr<std::unique_ptr<NatsEventBus>> NatsEventBus::Open(std::string_view uri, Clock& clock) {
  StatusOr<Uri> parsed = ParseUri(uri);
  if (!parsed.ok() || parsed->scheme != "nats") {
    return InvalidArgumentError("NATS event bus URI '" + std::string(uri) +
                                "' must start with nats://");
  }
  auto impl = std::make_unique<Impl>();
  impl->clock = &clock;
  std::string prefix = "TANDEM";
  for (const auto& [key, value] : parsed->query) {
    if (key != "prefix") {
      return InvalidArgumentError("NATS event bus URI '" + std::string(uri) +
                                  "': unknown parameter '" + key + "' (known: prefix)");
    }
    prefix = value;
  }
  std::string_view rest = uri.substr(0, uri.find('?'));
  if (!ValidPrefix(prefix)) {
    return InvalidArgumentError("NATS event bus URI '" + std::string(uri) + "': prefix '" + prefix +
                                "' must match [A-Za-z0-9_]{1,32}");
  }
  impl->url = std::string(rest);
  impl->prefix = prefix;
  for (char c : prefix) {
    impl->subject_prefix += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  impl->events_stream = prefix + "_EVENTS";
  impl->queues_stream = prefix + "_QUEUES";
  impl->bucket = prefix + "_CATALOG";

  natsOptions* opts = nullptr;
  natsStatus s = natsOptions_Create(&opts);
  if (s == NATS_OK) s = natsOptions_SetURL(opts, impl->url.c_str());
  if (s == NATS_OK) s = natsOptions_SetName(opts, "tandem-bus");
  if (s == NATS_OK) s = natsOptions_SetMaxReconnect(opts, -1);  // keep retrying
  if (s == NATS_OK) s = natsConnection_Connect(&impl->nc, opts);
  natsOptions_Destroy(opts);
  if (s != NATS_OK) {
    impl->nc = nullptr;
    return NatsError(s, "connect to " + impl->url);
  }
  jsOptions jo;
  jsOptions_Init(&jo);
  jo.Wait = 10'000;
  s = natsConnection_JetStream(&impl->js, impl->nc, &jo);
  if (s != NATS_OK) return NatsError(s, "JetStream context");

  const std::string events_subjects = impl->subject_prefix + ".events.>";
  const std::string queue_subjects = impl->subject_prefix + ".queue.>";
  const char* ev_subj[] = {events_subjects.c_str()};
  const char* q_subj[] = {queue_subjects.c_str()};
  jsStreamConfig ev;
  jsStreamConfig_Init(&ev);
  ev.Name = impl->events_stream.c_str();
  ev.Subjects = ev_subj;
  ev.SubjectsLen = 1;
  ev.Storage = js_FileStorage;
  ev.Retention = js_LimitsPolicy;
  ev.MaxAge = kMaxRetentionMs * kNsPerMs;
  ev.Duplicates = kDuplicateWindowMs * kNsPerMs;
  RETURN_IF_ERROR(EnsureStream(impl->js, ev));
  jsStreamConfig qs;
  jsStreamConfig_Init(&qs);
  qs.Name = impl->queues_stream.c_str();
  qs.Subjects = q_subj;
  qs.SubjectsLen = 1;
  qs.Storage = js_FileStorage;
  qs.Retention = js_WorkQueuePolicy;
  qs.MaxAge = kMaxRetentionMs * kNsPerMs;
  qs.Duplicates = kDuplicateWindowMs * kNsPerMs;
  RETURN_IF_ERROR(EnsureStream(impl->js, qs));

  for (int attempt = 0; attempt < 3 && impl->kv == nullptr; ++attempt) {
    s = js_KeyValue(&impl->kv, impl->js, impl->bucket.c_str());
    if (s == NATS_OK) break;
    impl->kv = nullptr;
    if (s != NATS_NOT_FOUND) return NatsError(s, "open KV bucket " + impl->bucket);
    kvConfig kc;
    kvConfig_Init(&kc);
    kc.Bucket = impl->bucket.c_str();
    kc.History = 1;
    kc.StorageType = js_FileStorage;
    s = js_CreateKeyValue(&impl->kv, impl->js, &kc);
    if (s == NATS_OK) break;
    impl->kv = nullptr;
    if (attempt == 2) return NatsError(s, "create KV bucket " + impl->bucket);
  }
  return std::unique_ptr<NatsEventBus>(new NatsEventBus(std::move(impl)));
}

// --- publish ------------------------------------------------------------------

StatusOr<SequencedEvent> NatsEventBus::DoPublish(const Event& in) {
  Impl& d = *impl_;
  SequencedEvent out;
  out.event = in;
  Event& e = out.event;
  const int64_t now = d.clock->NowMillis();
  if (e.id.empty()) e.id = NewUuidV7(*d.clock);
  if (e.time.empty()) e.time = FormatRfc3339(d.clock->NowMicros());
  const Json j = e.ToJson();
  const std::string body = j.dump();
  ASSIGN_OR_RETURN(auto pub, d.JsPublish(d.subject_prefix + ".events." + SubjectToken(e.source),
                                         body, e.id, {}));
  out.seq = static_cast<int64_t>(pub.first);

  // Route: one copy per queue with a matching rule (rules in name order).
  ASSIGN_OR_RETURN(Json cat, d.Catalog());
  std::set<std::string> routed;
  for (const auto& [name, rule] : cat["rules"].items()) {
    const std::string queue = rule.value("target_queue", std::string());
    if (routed.count(queue) > 0 || !cat["queues"].contains(queue)) continue;
    ASSIGN_OR_RETURN(Pattern p, d.CachedPattern(rule["pattern"]));
    if (!p.Matches(j)) continue;
    routed.insert(queue);
    ASSIGN_OR_RETURN(auto copy, d.JsPublish(d.QueueSubject(queue), body, e.id + "/" + queue,
                                            {{"Tandem-Message-Id", NewUuidV7(*d.clock)},
                                             {"Tandem-Sent-Ms", std::to_string(now)},
                                             {"Tandem-Event-Seq", std::to_string(out.seq)}}));
    (void)copy;
  }
  d.NotifyPublish();
  if (pub.second) return AlreadyExistsError("event id '" + e.id + "' was already published");
  return out;
}

// --- rules --------------------------------------------------------------------

Status NatsEventBus::DoPutRule(std::string_view name, const Json& pattern,
                               std::string_view target_queue) {
  const std::string n(name), target(target_queue);
  return impl_->Update(kCatalogKey, [&](Json& cat) -> Status {
    if (!cat.is_object() || !cat.contains("queues") || !cat["queues"].contains(target)) {
      return NotFoundError("rule '" + n + "': target queue '" + target + "' not found");
    }
    cat["rules"][n] = Json{{"pattern", pattern}, {"target_queue", target}};
    return OkStatus();
  });
}

Status NatsEventBus::DoDeleteRule(std::string_view name) {
  const std::string n(name);
  return impl_->Update(kCatalogKey, [&](Json& cat) -> Status {
    if (!cat.is_object() || !cat.contains("rules") || !cat["rules"].contains(n)) {
      return NotFoundError("rule '" + n + "' not found");
    }
    cat["rules"].erase(n);
    return OkStatus();
  });
}

StatusOr<std::vector<Rule>> NatsEventBus::DoListRules() {
  ASSIGN_OR_RETURN(Json cat, impl_->Catalog());
  std::vector<Rule> out;
  for (const auto& [name, r] : cat["rules"].items()) {
    out.push_back(Rule{name, r["pattern"], r.value("target_queue", std::string())});
  }
  return out;
}

// --- queues -------------------------------------------------------------------

Status NatsEventBus::DoCreateQueue(std::string_view name, const QueueOptions& options) {
  Impl& d = *impl_;
  const std::string n(name);
  ASSIGN_OR_RETURN(Json cat, d.Catalog());
  if (cat["queues"].contains(n)) {
    if (QueueFromJson(n, cat["queues"][n]).options == options) return OkStatus();
    return AlreadyExistsError("queue '" + n + "' already exists with different options");
  }
  if (!options.dead_letter_queue.empty() && !cat["queues"].contains(options.dead_letter_queue)) {
    return NotFoundError("queue '" + n + "': dead-letter queue '" + options.dead_letter_queue +
                         "' not found");
  }
  // The durable consumer first (idempotent), then the catalog entry.
  const std::string subject = d.QueueSubject(n);
  jsConsumerConfig cc;
  jsConsumerConfig_Init(&cc);
  cc.Durable = n.c_str();
  cc.FilterSubject = subject.c_str();
  cc.AckPolicy = js_AckExplicit;
  cc.AckWait = kAckWaitMs * kNsPerMs;
  cc.MaxDeliver = -1;
  cc.MaxAckPending = kMaxAckPending;
  cc.DeliverPolicy = js_DeliverAll;
  jsConsumerInfo* ci = nullptr;
  jsErrCode jerr = static_cast<jsErrCode>(0);
  natsStatus s = js_AddConsumer(&ci, d.js, d.queues_stream.c_str(), &cc, nullptr, &jerr);
  if (s != NATS_OK) return NatsError(s, "create the consumer of queue '" + n + "'", jerr);
  jsConsumerInfo_Destroy(ci);
  const int64_t now = d.clock->NowMillis();
  return d.Update(kCatalogKey, [&](Json& c) -> Status {
    if (!c.is_object()) c = Json{{"queues", Json::object()}, {"rules", Json::object()}};
    if (c["queues"].contains(n)) {
      if (QueueFromJson(n, c["queues"][n]).options == options) return OkStatus();
      return AlreadyExistsError("queue '" + n + "' already exists with different options");
    }
    if (!options.dead_letter_queue.empty() && !c["queues"].contains(options.dead_letter_queue)) {
      return NotFoundError("queue '" + n + "': dead-letter queue '" + options.dead_letter_queue +
                           "' not found");
    }
    c["queues"][n] = QueueToJson(options, now);
    return OkStatus();
  });
}

Status NatsEventBus::DoDeleteQueue(std::string_view name) {
  Impl& d = *impl_;
  const std::string n(name);
  RETURN_IF_ERROR(d.Update(kCatalogKey, [&](Json& cat) -> Status {
    if (!cat.is_object() || !cat.contains("queues") || !cat["queues"].contains(n)) {
      return QueueNotFound(n);
    }
    std::string rules, users;
    for (const auto& [rn, r] : cat["rules"].items()) {
      if (r.value("target_queue", std::string()) == n) rules += (rules.empty() ? "" : ", ") + rn;
    }
    if (!rules.empty()) {
      return FailedPreconditionError("queue '" + n + "' is the target of rules: " + rules);
    }
    for (const auto& [qn, q] : cat["queues"].items()) {
      if (q.value("dead_letter_queue", std::string()) == n) {
        users += (users.empty() ? "" : ", ") + qn;
      }
    }
    if (!users.empty()) {
      return FailedPreconditionError("queue '" + n + "' is the dead-letter queue of: " + users);
    }
    cat["queues"].erase(n);
    return OkStatus();
  }));
  d.DropSub(n);
  jsErrCode jerr = static_cast<jsErrCode>(0);
  natsStatus s = js_DeleteConsumer(d.js, d.queues_stream.c_str(), n.c_str(), nullptr, &jerr);
  if (s != NATS_OK && s != NATS_NOT_FOUND) {
    return NatsError(s, "delete the consumer of queue '" + n + "'", jerr);
  }
  const std::string subject = d.QueueSubject(n);
  jsOptions po;
  jsOptions_Init(&po);
  po.Stream.Purge.Subject = subject.c_str();
  s = js_PurgeStream(d.js, d.queues_stream.c_str(), &po, &jerr);
  if (s != NATS_OK) return NatsError(s, "purge the messages of queue '" + n + "'", jerr);
  s = kvStore_Purge(d.kv, ("q." + n).c_str(), nullptr);
  if (s != NATS_OK && s != NATS_NOT_FOUND)
    return NatsError(s, "purge the state of queue '" + n + "'");
  return OkStatus();
}

StatusOr<std::vector<QueueInfo>> NatsEventBus::DoListQueues() {
  ASSIGN_OR_RETURN(Json cat, impl_->Catalog());
  std::vector<QueueInfo> out;
  for (const auto& [name, q] : cat["queues"].items()) {
    ASSIGN_OR_RETURN(QueueInfo info, GetQueue(name));
    out.push_back(std::move(info));
  }
  return out;
}

// --- history ------------------------------------------------------------------

StatusOr<TailResult> NatsEventBus::DoTail(const TailOptions& options) {
  Impl& d = *impl_;
  TailResult out;
  out.last_seq = options.after_seq;
  const int64_t deadline = d.clock->MonotonicMillis() + options.wait_ms;
  int scanned = 0;
  while (true) {
    const uint64_t seen = d.Generation();
    jsStreamInfo* si = nullptr;
    jsErrCode jerr = static_cast<jsErrCode>(0);
    natsStatus s = js_GetStreamInfo(&si, d.js, d.events_stream.c_str(), nullptr, &jerr);
    if (s != NATS_OK) return NatsError(s, "stream info " + d.events_stream, jerr);
    const int64_t first = static_cast<int64_t>(si->State.FirstSeq);
    const int64_t last = static_cast<int64_t>(si->State.LastSeq);
    jsStreamInfo_Destroy(si);
    for (int64_t seq = std::max(out.last_seq + 1, first);
         seq <= last && static_cast<int>(out.events.size()) < options.limit &&
         scanned < kTailScanCap;
         ++seq) {
      ++scanned;
      natsMsg* msg = nullptr;
      s = js_GetMsg(&msg, d.js, d.events_stream.c_str(), static_cast<uint64_t>(seq), nullptr,
                    &jerr);
      out.last_seq = seq;
      if (s == NATS_NOT_FOUND) continue;  // deleted or aged out
      if (s != NATS_OK) return NatsError(s, "read event " + std::to_string(seq), jerr);
      std::string body(natsMsg_GetData(msg), natsMsg_GetDataLength(msg));
      natsMsg_Destroy(msg);
      auto j = ParseJson(body);
      if (!j.ok()) return DataLossError("event " + std::to_string(seq) + " is not valid JSON");
      if (options.pattern && !options.pattern->Matches(*j)) continue;
      ASSIGN_OR_RETURN(Event e, Event::FromJson(*j));
      out.events.push_back(SequencedEvent{seq, std::move(e)});
    }
    if (!out.events.empty() || scanned >= kTailScanCap || d.clock->MonotonicMillis() >= deadline) {
      return out;
    }
    d.WaitForPublish(seen, 25);
  }
}

}  // namespace tandem::bus
