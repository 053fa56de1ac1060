// NATS event bus: the wire helpers. Every operation borrows a private inbox
// subscription, sends all its requests (JetStream publishes, acks with a
// reply, a pull request) at once and then collects the replies, so a publish
// with its routed copies or a batch of acks costs one round trip.
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "glue/bus/nats_bus_internal.h"

namespace tandem::bus {
namespace {

constexpr size_t kMaxPooledInboxes = 64;

// The "Status" header of a JetStream status message ("404", "408", ...), or
// "" for a user message.
std::string StatusOf(natsMsg* m) {
  if (natsMsg_GetDataLength(m) > 0) return "";
  const char* v = nullptr;
  if (natsMsgHeader_Get(m, "Status", &v) != NATS_OK || v == nullptr) return "";
  return std::string(v, strnlen(v, 3));
}

std::string DescriptionOf(natsMsg* m) {
  const char* v = nullptr;
  if (natsMsgHeader_Get(m, "Description", &v) != NATS_OK || v == nullptr) return "";
  return v;
}

}  // namespace

StatusOr<std::unique_ptr<Inbox>> NatsEventBus::Impl::TakeInbox() {
  {
    absl::MutexLock lock(&mu);
    if (!inboxes.empty()) {
      auto in = std::move(inboxes.back());
      inboxes.pop_back();
      return in;
    }
  }
  auto in = std::make_unique<Inbox>();
  natsInbox* name = nullptr;
  natsStatus s = natsInbox_Create(&name);
  if (s != NATS_OK) return NatsError(s, "create inbox");
  in->prefix = std::string(name) + ".";
  natsInbox_Destroy(name);
  s = natsConnection_SubscribeSync(&in->sub, nc, (in->prefix + "*").c_str());
  if (s != NATS_OK) {
    in->sub = nullptr;
    return NatsError(s, "subscribe to inbox");
  }
  // A pull may deliver many messages before we read them.
  natsSubscription_SetPendingLimits(in->sub, -1, -1);
  return in;
}

void NatsEventBus::Impl::GiveBack(std::unique_ptr<Inbox> inbox) {
  absl::MutexLock lock(&mu);
  if (inboxes.size() < kMaxPooledInboxes) inboxes.push_back(std::move(inbox));
}

Status ReadPubAck(const std::string& status, std::string_view data, const std::string& subject,
                  PubAck* out) {
  if (status == "503") return UnavailableError("nats: no stream takes subject " + subject);
  // {"stream":"X","seq":N[,"duplicate":true]} read without a JSON parser;
  // anything else (an error) is parsed.
  const size_t at = data.find("\"seq\":");
  if (at != std::string_view::npos && data.find("\"error\"") == std::string_view::npos) {
    uint64_t seq = 0;
    size_t i = at + 6;
    while (i < data.size() && data[i] == ' ') ++i;
    const size_t digits = i;
    for (; i < data.size() && data[i] >= '0' && data[i] <= '9'; ++i) {
      seq = seq * 10 + static_cast<uint64_t>(data[i] - '0');
    }
    if (i > digits) {
      out->seq = seq;
      out->duplicate = false;
      if (size_t d = data.find("\"duplicate\""); d != std::string_view::npos) {
        d += 11;
        while (d < data.size() && (data[d] == ' ' || data[d] == ':')) ++d;
        out->duplicate = data.substr(d, 4) == "true";
      }
      return OkStatus();
    }
  }
  auto j = ParseJson(std::string(data));
  if (!j.ok() || !j->is_object()) {
    return DataLossError("nats: malformed publish acknowledgement for " + subject);
  }
  if (j->contains("error")) {
    const Json& e = (*j)["error"];
    return UnavailableError("nats: publish to " + subject + ": " +
                            e.value("description", std::string("error")) + " (JetStream error " +
                            std::to_string(e.value("err_code", 0)) + ")");
  }
  if (!j->contains("seq")) {
    return DataLossError("nats: malformed publish acknowledgement for " + subject);
  }
  out->seq = j->value("seq", uint64_t{0});
  out->duplicate = j->value("duplicate", false);
  return OkStatus();
}

StatusOr<bool> PullEnded(const std::string& status, const std::string& description,
                         const std::string& consumer) {
  if (status == "100") return false;                   // heartbeat
  if (status == "404" || status == "408") return true;  // no (more) messages / expired
  if (status == "503") return NotFoundError("nats: consumer '" + consumer + "' not found");
  if (description.find("not found") != std::string::npos) {
    return NotFoundError("nats: consumer '" + consumer + "': " + description);
  }
  return UnavailableError("nats: pull from consumer '" + consumer + "': " + status + " " +
                          description);
}

WireMsg ToWire(natsMsg* m) {
  WireMsg w;
  w.subject = natsMsg_GetSubject(m);
  if (const char* r = natsMsg_GetReply(m); r != nullptr) w.reply = r;
  w.data.assign(natsMsg_GetData(m), static_cast<size_t>(natsMsg_GetDataLength(m)));
  const char** keys = nullptr;
  int n = 0;
  if (natsMsgHeader_Keys(m, &keys, &n) == NATS_OK) {
    for (int i = 0; i < n; ++i) {
      const char** values = nullptr;
      int vn = 0;
      if (natsMsgHeader_Values(m, keys[i], &values, &vn) != NATS_OK) continue;
      for (int k = 0; k < vn; ++k) w.headers.emplace_back(keys[i], values[k]);
      free(values);
    }
    free(keys);
  }
  return w;
}

StatusOr<std::unique_ptr<DirectConn>> NatsEventBus::Impl::TakeConn() {
  {
    absl::MutexLock lock(&mu);
    while (!conns.empty()) {
      auto c = std::move(conns.back());
      conns.pop_back();
      // The server drops a client that left its PINGs unanswered for
      // minutes; one idle that long is replaced rather than trusted.
      if (std::chrono::steady_clock::now() - c->last_used() < std::chrono::seconds(30)) return c;
    }
  }
  return DirectConn::Dial(direct_host, direct_port, kReplyTimeoutMs);
}

void NatsEventBus::Impl::GiveBack(std::unique_ptr<DirectConn> conn) {
  if (!conn->healthy()) return;
  absl::MutexLock lock(&mu);
  if (conns.size() < kMaxPooledInboxes) conns.push_back(std::move(conn));
}

StatusOr<std::vector<PubAck>> NatsEventBus::Impl::PublishAll(const std::vector<OutMsg>& msgs) {
  if (direct) return DirectPublishAll(msgs);
  ASSIGN_OR_RETURN(std::unique_ptr<Inbox> in, TakeInbox());
  const uint64_t base = in->next;
  in->next += msgs.size();
  for (size_t i = 0; i < msgs.size(); ++i) {
    const OutMsg& o = msgs[i];
    const std::string reply = in->prefix + std::to_string(base + i);
    natsMsg* m = nullptr;
    natsStatus s = natsMsg_Create(&m, o.subject.c_str(), reply.c_str(), o.payload.data(),
                                  static_cast<int>(o.payload.size()));
    for (const auto& [k, v] : o.headers) {
      if (s == NATS_OK) s = natsMsgHeader_Set(m, k.c_str(), v.c_str());
    }
    if (s == NATS_OK) s = natsConnection_PublishMsg(nc, m);
    natsMsg_Destroy(m);
    if (s != NATS_OK) return NatsError(s, "publish to " + o.subject);
  }
  std::vector<PubAck> out(msgs.size());
  std::vector<bool> got(msgs.size(), false);
  size_t have = 0;
  while (have < msgs.size()) {
    natsMsg* raw = nullptr;
    natsStatus s = natsSubscription_NextMsg(&raw, in->sub, kReplyTimeoutMs);
    if (s != NATS_OK) return NatsError(s, "wait for the JetStream publish acknowledgements");
    MsgPtr m(raw);
    const char* subj = natsMsg_GetSubject(raw);
    const std::string tail = std::string(subj).substr(std::min(in->prefix.size(), strlen(subj)));
    uint64_t idx = 0;
    try {
      idx = std::stoull(tail);
    } catch (const std::exception&) {
      continue;
    }
    if (idx < base || idx >= base + msgs.size() || got[idx - base]) continue;  // stale
    const size_t i = idx - base;
    got[i] = true;
    ++have;
    RETURN_IF_ERROR(ReadPubAck(StatusOf(raw),
                               std::string_view(natsMsg_GetData(raw),
                                                static_cast<size_t>(natsMsg_GetDataLength(raw))),
                               msgs[i].subject, &out[i]));
  }
  GiveBack(std::move(in));
  return out;
}

Status NatsEventBus::Impl::AckAll(const std::vector<std::pair<std::string, std::string>>& acks) {
  if (acks.empty()) return OkStatus();
  if (direct) return DirectAckAll(acks);
  ASSIGN_OR_RETURN(std::unique_ptr<Inbox> in, TakeInbox());
  const uint64_t base = in->next;
  in->next += acks.size();
  for (size_t i = 0; i < acks.size(); ++i) {
    const std::string reply = in->prefix + std::to_string(base + i);
    natsStatus s = natsConnection_PublishRequest(nc, acks[i].first.c_str(), reply.c_str(),
                                                 acks[i].second.data(),
                                                 static_cast<int>(acks[i].second.size()));
    if (s != NATS_OK) return NatsError(s, "acknowledge " + acks[i].first);
  }
  std::vector<bool> got(acks.size(), false);
  size_t have = 0;
  Status gone = OkStatus();
  while (have < acks.size()) {
    natsMsg* raw = nullptr;
    natsStatus s = natsSubscription_NextMsg(&raw, in->sub, kReplyTimeoutMs);
    if (s != NATS_OK) return NatsError(s, "wait for acknowledgement replies");
    MsgPtr m(raw);
    const char* subj = natsMsg_GetSubject(raw);
    uint64_t idx = 0;
    try {
      idx = std::stoull(std::string(subj).substr(std::min(in->prefix.size(), strlen(subj))));
    } catch (const std::exception&) {
      continue;
    }
    if (idx < base || idx >= base + acks.size() || got[idx - base]) continue;
    got[idx - base] = true;
    ++have;
    if (StatusOf(raw) == "503" && gone.ok()) {
      gone = NotFoundError("nats: nobody takes acknowledgements on " + acks[idx - base].first +
                           " (consumer deleted?)");
    }
  }
  GiveBack(std::move(in));
  return gone;
}

Status NatsEventBus::Impl::AckLater(const std::string& ack_prefix, const std::string& ack_subject) {
  absl::MutexLock lock(&ack_mu);  // keeps "last" the last one sent
  natsStatus s = natsConnection_PublishString(ack_nc, ack_subject.c_str(), "+ACK");
  if (s != NATS_OK) return NatsError(s, "acknowledge " + ack_subject);
  unconfirmed[ack_prefix] = ack_subject;
  return OkStatus();
}

Status NatsEventBus::Impl::Confirm() {
  std::vector<std::string> last;
  {
    absl::MutexLock lock(&ack_mu);
    for (const auto& [prefix, subject] : unconfirmed) last.push_back(subject);
    unconfirmed.clear();
  }
  // Acking again is a no-op on the server, and its reply (on the same
  // connection, so after the earlier acks) comes once every earlier ack of
  // that consumer was processed. A consumer deleted meanwhile (its queue
  // deleted by another process) has nothing left to confirm.
  for (const std::string& subject : last) {
    natsMsg* reply = nullptr;
    natsStatus s =
        natsConnection_RequestString(&reply, ack_nc, subject.c_str(), "+ACK", kReplyTimeoutMs);
    if (reply != nullptr) natsMsg_Destroy(reply);
    if (s != NATS_OK && s != NATS_NO_RESPONDERS) return NatsError(s, "confirm acks on " + subject);
  }
  return OkStatus();
}

StatusOr<std::vector<WireMsg>> NatsEventBus::Impl::Pull(const std::string& stream,
                                                        const std::string& consumer, int batch,
                                                        int64_t expires_ms) {
  if (direct) return DirectPull(stream, consumer, batch, expires_ms);
  ASSIGN_OR_RETURN(std::unique_ptr<Inbox> in, TakeInbox());
  const std::string reply = in->prefix + std::to_string(in->next++);
  // no_wait: answered at once when nothing is pending; with expires the
  // request is a one-shot that ends as soon as it delivered anything.
  Json req{{"batch", batch}, {"no_wait", true}};
  if (expires_ms > 0) req["expires"] = expires_ms * kNsPerMs;
  const std::string body = req.dump();
  const std::string subj = "$JS.API.CONSUMER.MSG.NEXT." + stream + "." + consumer;
  natsStatus s = natsConnection_PublishRequest(nc, subj.c_str(), reply.c_str(), body.data(),
                                               static_cast<int>(body.size()));
  if (s != NATS_OK) return NatsError(s, "pull from " + consumer);
  std::vector<WireMsg> out;
  // A pull the server neither answers nor ends (it counted pending messages
  // another pull then took, or a redelivery due at the ack wait went
  // elsewhere) is given up: a no-wait one after a second, one with expires a
  // few seconds after it should have ended. The caller pulls again.
  const int64_t wait = PullGiveUpMs(expires_ms);
  while (static_cast<int>(out.size()) < batch) {
    natsMsg* raw = nullptr;
    s = natsSubscription_NextMsg(&raw, in->sub, wait);
    if (s != NATS_OK) {
      // The request's end never came: drop this inbox (the server forgets a
      // request without interest; what it delivered there is redelivered
      // after the ack wait) and return what we have.
      if (!out.empty() || s == NATS_TIMEOUT) return out;
      return NatsError(s, "pull from the consumer of '" + consumer + "'");
    }
    MsgPtr m(raw);
    const std::string st = StatusOf(raw);
    if (st.empty()) {
      out.push_back(ToWire(raw));
      continue;
    }
    if (std::string(natsMsg_GetSubject(raw)) != reply) continue;  // an earlier request's end
    ASSIGN_OR_RETURN(bool ended, PullEnded(st, DescriptionOf(raw), consumer));
    if (ended) break;
  }
  GiveBack(std::move(in));
  return out;
}

}  // namespace tandem::bus
