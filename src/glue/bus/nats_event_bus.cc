// NATS JetStream event bus: connection, catalog (queues and rules in KV,
// cached and watched), publish and routing, queue lifecycle, event history.
// Receiving: nats_queue.cc; pipelined requests: nats_wire.cc.
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

constexpr int64_t kDuplicateWindowMs = 3'600'000;  // 1 h of Nats-Msg-Id dedup
constexpr int64_t kDelayedAckWaitMs = 30'000;      // delay stage: promoter crash backstop
constexpr int64_t kMaxAckPending = 100'000;
constexpr int kTailScanCap = 10'000;
constexpr int kCasRetries = 100;
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
      const bool direct = si->Config != nullptr && si->Config->AllowDirect;
      if (!direct && si->Config != nullptr) {
        // Queue counts read message headers with direct gets.
        si->Config->AllowDirect = true;
        jsStreamInfo* upd = nullptr;
        s = js_UpdateStream(&upd, js, si->Config, nullptr, &jerr);
        if (upd != nullptr) jsStreamInfo_Destroy(upd);
      }
      jsStreamInfo_Destroy(si);
      if (s != NATS_OK) return NatsError(s, std::string("allow direct gets on ") + cfg.Name, jerr);
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

// Ensures the file-backed stream `name` over `subjects` with `retention`
// exists (EnsureStream): messages kept at most the retention window,
// duplicates detected within kDuplicateWindowMs, direct gets allowed.
Status EnsureFileStream(jsCtx* js, const std::string& name, const std::string& subjects,
                        jsRetentionPolicy retention) {
  const char* subject_list[] = {subjects.c_str()};
  jsStreamConfig cfg;
  jsStreamConfig_Init(&cfg);
  cfg.Name = name.c_str();
  cfg.Subjects = subject_list;
  cfg.SubjectsLen = 1;
  cfg.Storage = js_FileStorage;
  cfg.Retention = retention;
  cfg.MaxAge = kMaxRetentionMs * kNsPerMs;
  cfg.Duplicates = kDuplicateWindowMs * kNsPerMs;
  cfg.AllowDirect = true;
  return EnsureStream(js, cfg);
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

namespace {

// Creates (or brings to `cc`) a durable consumer.
Status EnsureConsumer(jsCtx* js, const std::string& stream, jsConsumerConfig& cc,
                      const std::string& what) {
  jsConsumerInfo* ci = nullptr;
  jsErrCode jerr = static_cast<jsErrCode>(0);
  natsStatus s = js_AddConsumer(&ci, js, stream.c_str(), &cc, nullptr, &jerr);
  if (s != NATS_OK) {
    // An existing consumer with other settings (a queue deleted and made
    // again, or created by an older layout): update it.
    s = js_UpdateConsumer(&ci, js, stream.c_str(), &cc, nullptr, &jerr);
  }
  if (s != NATS_OK) return NatsError(s, "create the consumer of " + what, jerr);
  jsConsumerInfo_Destroy(ci);
  return OkStatus();
}

// The durable consumers of queue `n` (its delay stage too when it has a
// delay). The consumer's AckWait is the queue's visibility timeout:
// JetStream itself redelivers a message whose receiver neither deleted nor
// extended it.
Status EnsureQueueConsumers(NatsEventBus::Impl& d, const std::string& n,
                            const QueueOptions& options) {
  const std::string subject = d.QueueSubject(n);
  jsConsumerConfig cc;
  jsConsumerConfig_Init(&cc);
  cc.Durable = n.c_str();
  cc.FilterSubject = subject.c_str();
  cc.AckPolicy = js_AckExplicit;
  cc.AckWait = AckWaitMsFor(options.visibility_timeout_ms) * kNsPerMs;
  cc.MaxDeliver = -1;  // the receive count is checked on NumDelivered (DLQ move)
  cc.MaxAckPending = kMaxAckPending;
  cc.DeliverPolicy = js_DeliverAll;
  RETURN_IF_ERROR(EnsureConsumer(d.js, d.queues_stream, cc, "queue '" + n + "'"));
  if (options.delay_ms > 0) {
    const std::string dsubject = d.DelayedSubject(n);
    jsConsumerConfig dc = cc;
    dc.FilterSubject = dsubject.c_str();
    dc.AckWait = kDelayedAckWaitMs * kNsPerMs;
    RETURN_IF_ERROR(
        EnsureConsumer(d.js, d.delayed_stream, dc, "the delay stage of queue '" + n + "'"));
  }
  return OkStatus();
}

// Queues created by an older layout (AckWait 5 min, no delay stage) get
// their consumers brought to this one.
Status UpgradeQueueConsumers(NatsEventBus::Impl& d) {
  auto cat = d.Catalog();
  for (const auto& [name, q] : cat->queues) {
    jsConsumerInfo* ci = nullptr;
    jsErrCode jerr = static_cast<jsErrCode>(0);
    natsStatus s =
        js_GetConsumerInfo(&ci, d.js, d.queues_stream.c_str(), name.c_str(), nullptr, &jerr);
    bool current = false;
    if (s == NATS_OK) {
      current = ci->Config != nullptr &&
                ci->Config->AckWait == AckWaitMsFor(q.options.visibility_timeout_ms) * kNsPerMs;
      jsConsumerInfo_Destroy(ci);
    }
    if (!current) RETURN_IF_ERROR(EnsureQueueConsumers(d, name, q.options));
  }
  return OkStatus();
}

}  // namespace

// --- Impl ---------------------------------------------------------------------

NatsEventBus::Impl::~Impl() {
  if (ack_nc != nullptr) (void)Confirm();  // deletes reach the server before we go
  stopping = true;
  if (watcher != nullptr) kvWatcher_Stop(watcher);
  if (watch_thread.joinable()) watch_thread.join();
  if (watcher != nullptr) kvWatcher_Destroy(watcher);
  {
    absl::MutexLock lock(&mu);
    inboxes.clear();
  }
  if (kv != nullptr) kvStore_Destroy(kv);
  if (js != nullptr) jsCtx_Destroy(js);
  if (ack_nc != nullptr) natsConnection_Destroy(ack_nc);
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

Status NatsEventBus::Impl::UpdateCatalog(const std::function<Status(Json&)>& fn) {
  natsStatus last = NATS_OK;
  for (int attempt = 0; attempt < kCasRetries; ++attempt) {
    ASSIGN_OR_RETURN(auto loaded, Load(kCatalogKey));
    Json doc = std::move(loaded.first);
    const Json before = doc;
    RETURN_IF_ERROR(fn(doc));
    if (doc == before) {
      if (loaded.second != 0) Install(loaded.second, doc);
      return OkStatus();
    }
    const std::string text = doc.dump();
    uint64_t rev = 0;
    if (loaded.second == 0) {
      last = kvStore_Create(&rev, kv, kCatalogKey, text.data(), static_cast<int>(text.size()));
    } else {
      last = kvStore_Update(&rev, kv, kCatalogKey, text.data(), static_cast<int>(text.size()),
                            loaded.second);
    }
    if (last == NATS_OK) {
      Install(rev, doc);
      return OkStatus();
    }
    if (last != NATS_ERR) return NatsError(last, "write " + bucket + "/" + kCatalogKey);
    // NATS_ERR: wrong last revision (another writer won); reload and retry.
  }
  return AbortedError("nats: " + bucket + "/" + kCatalogKey + " kept changing under " +
                      std::to_string(kCasRetries) + " attempts to update it");
}

void NatsEventBus::Impl::Install(uint64_t revision, const Json& doc) {
  {
    absl::MutexLock lock(&mu);
    if (catalog != nullptr && catalog->revision >= revision) return;
  }
  auto snap = std::make_shared<CatalogSnapshot>();
  snap->revision = revision;
  snap->doc = doc.is_object() ? doc : Json::object();
  if (!snap->doc.contains("queues")) snap->doc["queues"] = Json::object();
  if (!snap->doc.contains("rules")) snap->doc["rules"] = Json::object();
  for (const auto& [name, q] : snap->doc["queues"].items()) {
    snap->queues.emplace(name, QueueFromJson(name, q));
  }
  for (const auto& [name, rule] : snap->doc["rules"].items()) {
    const std::string queue = rule.value("target_queue", std::string());
    auto p = Pattern::Parse(rule["pattern"]);
    if (!p.ok() || snap->queues.count(queue) == 0) continue;  // checked on PutRule
    snap->rules.emplace_back(std::move(*p), queue);
  }
  absl::MutexLock lock(&mu);
  if (catalog == nullptr || catalog->revision < revision) catalog = std::move(snap);
}

std::shared_ptr<const CatalogSnapshot> NatsEventBus::Impl::Catalog() {
  absl::MutexLock lock(&mu);
  return catalog;
}

StatusOr<QueueInfo> NatsEventBus::Impl::FindQueue(std::string_view name) {
  auto cat = Catalog();
  auto it = cat->queues.find(std::string(name));
  if (it == cat->queues.end()) return QueueNotFound(name);
  return it->second;
}

void NatsEventBus::Impl::WatchCatalog() {
  while (!stopping) {
    kvEntry* e = nullptr;
    natsStatus s = kvWatcher_Next(&e, watcher, 1000);
    if (stopping) {
      if (e != nullptr) kvEntry_Destroy(e);
      return;
    }
    if (s == NATS_TIMEOUT) continue;
    if (s != NATS_OK) {
      // Stopped or the connection is closing; look again in a while.
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      continue;
    }
    if (e == nullptr) continue;  // "initial values done" marker
    const uint64_t rev = kvEntry_Revision(e);
    Json doc = Json::object();
    if (kvEntry_Operation(e) == kvOp_Put && kvEntry_ValueLen(e) > 0) {
      auto j =
          ParseJson(std::string(static_cast<const char*>(kvEntry_Value(e)), kvEntry_ValueLen(e)));
      if (j.ok()) doc = std::move(*j);
    }
    kvEntry_Destroy(e);
    Install(rev, doc);
  }
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
  bool allow_direct = true;  // client=direct (default) | libnats
  for (const auto& [key, value] : parsed->query) {
    if (key == "prefix") {
      prefix = value;
    } else if (key == "client" && (value == "direct" || value == "libnats")) {
      allow_direct = value == "direct";
    } else if (key == "client") {
      return InvalidArgumentError("NATS event bus URI '" + std::string(uri) + "': client '" +
                                  value + "' must be direct or libnats");
    } else {
      return InvalidArgumentError("NATS event bus URI '" + std::string(uri) +
                                  "': unknown parameter '" + key + "' (known: prefix, client)");
    }
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
  impl->delayed_stream = prefix + "_DELAYED";
  impl->bucket = prefix + "_CATALOG";

  // libnats spins up to 2000 times on a contended lock before sleeping; on a
  // machine with more runnable threads than cores that spinning is pure
  // waste. Only the first call in a process counts (later ones fail, ignored).
  (void)nats_Open(0);
  natsOptions* opts = nullptr;
  natsStatus s = natsOptions_Create(&opts);
  if (s == NATS_OK) s = natsOptions_SetURL(opts, impl->url.c_str());
  if (s == NATS_OK) s = natsOptions_SetName(opts, "tandem-bus");
  if (s == NATS_OK) s = natsOptions_SetMaxReconnect(opts, -1);  // keep retrying
  // Write each request to the socket at once (no hop through the flusher
  // thread): a publish or receive waits for its reply anyway.
  if (s == NATS_OK) s = natsOptions_SetSendAsap(opts, true);
  if (s == NATS_OK) s = natsConnection_Connect(&impl->nc, opts);
  if (s != NATS_OK) {
    natsOptions_Destroy(opts);
    impl->nc = nullptr;
    return NatsError(s, "connect to " + impl->url);
  }
  s = natsOptions_SetSendAsap(opts, false);
  if (s == NATS_OK) s = natsOptions_SetName(opts, "tandem-bus-acks");
  if (s == NATS_OK) s = natsConnection_Connect(&impl->ack_nc, opts);
  natsOptions_Destroy(opts);
  if (s != NATS_OK) {
    impl->ack_nc = nullptr;
    return NatsError(s, "connect to " + impl->url);
  }
  // The hot paths on connections the calling thread drives itself
  // (nats_direct.h), unless the server wants TLS or credentials or the URI
  // asks for libnats throughout (client=libnats).
  if (allow_direct && parsed->authority.find('@') == std::string::npos) {
    const std::string& auth = parsed->authority;
    const size_t colon = auth.rfind(':');
    impl->direct_host = colon == std::string::npos ? auth : auth.substr(0, colon);
    impl->direct_port = 4222;
    if (colon != std::string::npos) {
      try {
        impl->direct_port = std::stoi(auth.substr(colon + 1));
      } catch (const std::exception&) {
        impl->direct_port = 0;
      }
    }
    if (impl->direct_host.size() > 2 && impl->direct_host.front() == '[') {
      impl->direct_host = impl->direct_host.substr(1, impl->direct_host.size() - 2);
    }
    auto conn = impl->direct_port > 0
                    ? DirectConn::Dial(impl->direct_host, impl->direct_port, 10'000)
                    : StatusOr<std::unique_ptr<DirectConn>>(InvalidArgumentError("port"));
    if (conn.ok()) {
      impl->direct = true;
      impl->GiveBack(std::move(*conn));
    }
  }
  jsOptions jo;
  jsOptions_Init(&jo);
  jo.Wait = 10'000;
  s = natsConnection_JetStream(&impl->js, impl->nc, &jo);
  if (s != NATS_OK) return NatsError(s, "JetStream context");

  // The event log (kept for the retention), the queues (a message leaves
  // once acknowledged) and the messages of delayed queues until due.
  RETURN_IF_ERROR(EnsureFileStream(impl->js, impl->events_stream,
                                   impl->subject_prefix + ".events.>", js_LimitsPolicy));
  RETURN_IF_ERROR(EnsureFileStream(impl->js, impl->queues_stream, impl->subject_prefix + ".queue.>",
                                   js_WorkQueuePolicy));
  RETURN_IF_ERROR(EnsureFileStream(impl->js, impl->delayed_stream,
                                   impl->subject_prefix + ".delayed.>", js_WorkQueuePolicy));

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
  // The catalog: read once, then kept current by a watcher (other
  // processes' rule and queue changes arrive within a round trip).
  ASSIGN_OR_RETURN(auto loaded, impl->Load(kCatalogKey));
  impl->Install(std::max<uint64_t>(loaded.second, 0), loaded.first);
  {
    absl::MutexLock lock(&impl->mu);
    if (impl->catalog == nullptr) {
      auto empty = std::make_shared<CatalogSnapshot>();
      empty->doc = Json{{"queues", Json::object()}, {"rules", Json::object()}};
      impl->catalog = std::move(empty);
    }
  }
  s = kvStore_Watch(&impl->watcher, impl->kv, kCatalogKey, nullptr);
  if (s != NATS_OK) {
    impl->watcher = nullptr;
    return NatsError(s, "watch " + impl->bucket + "/" + kCatalogKey);
  }
  RETURN_IF_ERROR(UpgradeQueueConsumers(*impl));
  Impl* raw = impl.get();
  impl->watch_thread = std::thread([raw] { raw->WatchCatalog(); });
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
  // The event and its routed copies (rules matched once, here, on the cached
  // catalog; a queue gets one copy however many of its rules match) go out
  // together and are acknowledged by JetStream before Publish returns.
  std::vector<OutMsg> msgs;
  msgs.push_back(OutMsg{
      d.subject_prefix + ".events." + SubjectToken(e.source), body, {{"Nats-Msg-Id", e.id}}});
  auto cat = d.Catalog();
  std::set<std::string> routed;
  for (const auto& rule : cat->rules) {
    const std::string& queue = rule.second;
    if (routed.count(queue) > 0 || !rule.first.Matches(j)) continue;
    routed.insert(queue);
    const bool delayed = cat->queues.at(queue).options.delay_ms > 0;
    msgs.push_back(OutMsg{delayed ? d.DelayedSubject(queue) : d.QueueSubject(queue),
                          body,
                          {{"Nats-Msg-Id", e.id + "/" + queue},
                           {"Tandem-Message-Id", NewUuidV7(*d.clock)},
                           {"Tandem-Sent-Ms", std::to_string(now)}}});
  }
  ASSIGN_OR_RETURN(std::vector<PubAck> acks, d.PublishAll(msgs));
  out.seq = static_cast<int64_t>(acks[0].seq);
  d.NotifyPublish();
  if (acks[0].duplicate) {
    return AlreadyExistsError("event id '" + e.id + "' was already published");
  }
  return out;
}

// --- rules --------------------------------------------------------------------

Status NatsEventBus::DoPutRule(std::string_view name, const Json& pattern,
                               std::string_view target_queue) {
  const std::string n(name), target(target_queue);
  return impl_->UpdateCatalog([&](Json& cat) -> Status {
    if (!cat.is_object() || !cat.contains("queues") || !cat["queues"].contains(target)) {
      return NotFoundError("rule '" + n + "': target queue '" + target + "' not found");
    }
    cat["rules"][n] = Json{{"pattern", pattern}, {"target_queue", target}};
    return OkStatus();
  });
}

Status NatsEventBus::DoDeleteRule(std::string_view name) {
  const std::string n(name);
  return impl_->UpdateCatalog([&](Json& cat) -> Status {
    if (!cat.is_object() || !cat.contains("rules") || !cat["rules"].contains(n)) {
      return NotFoundError("rule '" + n + "' not found");
    }
    cat["rules"].erase(n);
    return OkStatus();
  });
}

StatusOr<std::vector<Rule>> NatsEventBus::DoListRules() {
  auto cat = impl_->Catalog();
  std::vector<Rule> out;
  for (const auto& [name, r] : cat->doc["rules"].items()) {
    out.push_back(Rule{name, r["pattern"], r.value("target_queue", std::string())});
  }
  return out;
}

// --- queues -------------------------------------------------------------------

Status NatsEventBus::DoCreateQueue(std::string_view name, const QueueOptions& options) {
  Impl& d = *impl_;
  const std::string n(name);
  {
    // Cheap checks on the cached catalog; repeated under compare-and-set.
    auto cat = d.Catalog();
    auto it = cat->queues.find(n);
    if (it != cat->queues.end()) {
      if (it->second.options == options) return OkStatus();
      return AlreadyExistsError("queue '" + n + "' already exists with different options");
    }
    if (!options.dead_letter_queue.empty() && cat->queues.count(options.dead_letter_queue) == 0) {
      return NotFoundError("queue '" + n + "': dead-letter queue '" + options.dead_letter_queue +
                           "' not found");
    }
  }
  // The durable consumers first (idempotent), then the catalog entry.
  RETURN_IF_ERROR(EnsureQueueConsumers(d, n, options));
  const int64_t now = d.clock->NowMillis();
  return d.UpdateCatalog([&](Json& c) -> Status {
    if (!c.is_object()) c = Json{{"queues", Json::object()}, {"rules", Json::object()}};
    if (!c.contains("queues")) c["queues"] = Json::object();
    if (!c.contains("rules")) c["rules"] = Json::object();
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
  RETURN_IF_ERROR(d.UpdateCatalog([&](Json& cat) -> Status {
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
  {
    absl::MutexLock lock(&d.lease_mu);
    d.leases.erase(LeaseKey(n, false));
    d.leases.erase(LeaseKey(n, true));
  }
  {
    absl::MutexLock lock(&d.ack_mu);
    d.unconfirmed.erase(d.AckPrefix(d.queues_stream, n));
  }
  for (const auto& [stream, subject] : {std::make_pair(d.queues_stream, d.QueueSubject(n)),
                                        std::make_pair(d.delayed_stream, d.DelayedSubject(n))}) {
    jsErrCode jerr = static_cast<jsErrCode>(0);
    natsStatus s = js_DeleteConsumer(d.js, stream.c_str(), n.c_str(), nullptr, &jerr);
    if (s != NATS_OK && s != NATS_NOT_FOUND) {
      return NatsError(s, "delete the consumer of queue '" + n + "'", jerr);
    }
    jsOptions po;
    jsOptions_Init(&po);
    po.Stream.Purge.Subject = subject.c_str();
    s = js_PurgeStream(d.js, stream.c_str(), &po, &jerr);
    if (s != NATS_OK) return NatsError(s, "purge the messages of queue '" + n + "'", jerr);
  }
  return OkStatus();
}

StatusOr<std::vector<QueueInfo>> NatsEventBus::DoListQueues() {
  auto cat = impl_->Catalog();
  std::vector<QueueInfo> out;
  for (const auto& [name, q] : cat->queues) {
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
