// NATS JetStream event bus: the queue side, on JetStream's own delivery
// semantics (docs/backends/nats.md):
// - each queue is a durable pull consumer with AckWait = its visibility
//   timeout; a receive is one pull request (up to max_messages, returning as
//   soon as any message is there), the receive count is the delivery count
//   JetStream keeps (NumDelivered) plus what a dead-lettered copy carried;
// - a receipt is the delivery's ack subject after "$JS.ACK.<stream>.<queue>.";
//   DeleteMessage acks it (waiting for the server's confirmation);
// - ChangeVisibility is +WPI (the full AckWait again) or -NAK with a delay
//   (any other value; 0 releases at once); a per-receive visibility timeout
//   other than the queue's is a -NAK with that delay sent with the receive;
// - a delivery whose count exceeds max_receive_count is published to the
//   dead-letter queue (keeping count and first receive) and acked;
// - delayed queues: messages wait in a delay stage (their own stream and
//   consumer) and are promoted into the queue when due;
// - retention: a delivery older than the queue's retention is acked and
//   dropped; Maintain purges expired messages at the head of each queue.
// Time (visibility, delay, retention) is read from the injected clock; this
// process remembers the deliveries it handed out (leases), so when that clock
// runs ahead of the server's (a test's FakeClock), an ended visibility is
// applied with a -NAK instead of waiting for the server's timer.
#include <algorithm>
#include <chrono>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "glue/bus/nats_bus_internal.h"

namespace tandem::bus {
namespace {

using SteadyClock = std::chrono::steady_clock;

// Long polls re-check the injected clock (and due delayed messages) every
// chunk, and each chunk is shortened by a random few percent: nats-server
// 2.9.10 (Debian bookworm's) drops a pull request whose expiry falls within
// about a millisecond of a redelivery it is serving — no message, no 408 —
// and counts a delivery that never left, so the receive stalls until
// PullGiveUpMs and the receive count skips one. With fixed 1000 ms chunks a
// consumer receiving again right after a receive sent pulls that expired
// exactly when the message it just got was redelivered (AckWait 1 s):
// bus_nats_test's real-clock dead-letter tests failed about 1 run in 10.
// On the real clock a long poll is one pull (below), so only its end can
// race; the chunks are for an injected clock and for delayed queues.
constexpr int64_t kPollChunkMs = 1000;
constexpr int64_t kDelayedPollChunkMs = 100;

int64_t Jittered(int64_t chunk_ms) {
  thread_local std::minstd_rand rng(std::random_device{}());
  return chunk_ms - static_cast<int64_t>(rng() % static_cast<uint64_t>(chunk_ms / 10 + 1));
}

constexpr int kPromoteBatch = 100;
constexpr int kHeadScanCap = 1000;
constexpr size_t kPastMax = 100'000;
constexpr int64_t kServerMarginMs = 20;

int64_t HeaderInt(natsMsg* msg, const char* key, int64_t fallback) {
  const char* v = nullptr;
  if (natsMsgHeader_Get(msg, key, &v) != NATS_OK || v == nullptr) return fallback;
  try {
    return std::stoll(v);
  } catch (const std::exception&) {
    return fallback;
  }
}

int64_t HeaderInt(const WireMsg& msg, const char* key, int64_t fallback) {
  const std::string* v = msg.Header(key);
  if (v == nullptr) return fallback;
  try {
    return std::stoll(*v);
  } catch (const std::exception&) {
    return fallback;
  }
}

std::string HeaderText(const WireMsg& msg, const char* key) {
  const std::string* v = msg.Header(key);
  return v == nullptr ? "" : *v;
}

struct AckTail {
  uint64_t delivery = 0;
  uint64_t seq = 0;
};

// "<delivered>.<stream seq>.<consumer seq>.<timestamp>.<pending>": the ack
// subject's tail, which is also the receipt handle.
std::optional<AckTail> ParseAckTail(std::string_view tail) {
  std::vector<uint64_t> parts;
  size_t start = 0;
  while (start <= tail.size()) {
    size_t dot = tail.find('.', start);
    if (dot == std::string_view::npos) dot = tail.size();
    std::string_view tok = tail.substr(start, dot - start);
    if (tok.empty() || tok.size() > 20 ||
        !std::all_of(tok.begin(), tok.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      return std::nullopt;
    }
    parts.push_back(std::stoull(std::string(tok)));
    start = dot + 1;
  }
  if (parts.size() != 5 || parts[0] == 0 || parts[1] == 0) return std::nullopt;
  return AckTail{parts[0], parts[1]};
}

Status MalformedReceipt(std::string_view receipt) {
  return InvalidArgumentError("malformed receipt handle '" + std::string(receipt) + "'");
}

std::string NakWithDelay(int64_t ms) {
  if (ms <= 0) return "-NAK";
  return "-NAK {\"delay\": " + std::to_string(ms * kNsPerMs) + "}";
}

// A delivery taken from a pull.
struct Delivery {
  WireMsg msg;
  AckTail at;
  std::string tail;  // receipt
  std::string ack;   // full ack subject
  int64_t sent = 0;
};

// A delivery whose ack subject is not "<ack_prefix><5 numbers>" (a server
// speaking another ack format) is an error rather than skipped, which would
// leave it to be redelivered for ever.
StatusOr<Delivery> ParseDelivery(WireMsg m, const std::string& ack_prefix) {
  const std::string& r = m.reply;
  std::optional<AckTail> at;
  if (r.compare(0, ack_prefix.size(), ack_prefix) == 0) {
    at = ParseAckTail(std::string_view(r).substr(ack_prefix.size()));
  }
  if (!at) {
    return UnimplementedError("nats: unexpected JetStream ack subject '" + r + "' (expected " +
                              ack_prefix +
                              "<delivered>.<stream seq>.<consumer seq>.<ts>.<pending>)");
  }
  Delivery d;
  d.tail = r.substr(ack_prefix.size());
  d.at = *at;
  d.ack = r;
  d.sent = HeaderInt(m, "Tandem-Sent-Ms", 0);
  d.msg = std::move(m);
  return d;
}

void Forget(LeaseTable& t, uint64_t seq, bool remember) {
  auto it = t.by_seq.find(seq);
  if (it == t.by_seq.end()) return;
  t.by_deadline.erase({it->second.deadline_ms, seq});
  if (remember) {
    t.past[seq] = {it->second.delivery, it->second.first_received_ms};
    while (t.past.size() > kPastMax) t.past.erase(t.past.begin());
  }
  t.by_seq.erase(it);
}

void Hold(LeaseTable& t, uint64_t seq, Lease lease) {
  Forget(t, seq, false);
  t.by_deadline.insert({lease.deadline_ms, seq});
  t.by_seq[seq] = std::move(lease);
}

// Forgets the leases of a stage whose time ended on the injected clock and
// releases (-NAK) those the server would still hold back.
Status ReleaseExpired(NatsEventBus::Impl& d, const std::string& queue, bool delayed,
                      const std::string& ack_prefix) {
  std::vector<std::pair<std::string, std::string>> naks;
  {
    absl::MutexLock lock(&d.lease_mu);
    auto it = d.leases.find(LeaseKey(queue, delayed));
    if (it == d.leases.end()) return OkStatus();
    LeaseTable& t = it->second;
    const int64_t now = d.clock->NowMillis();
    const auto steady = SteadyClock::now() + std::chrono::milliseconds(kServerMarginMs);
    while (!t.by_deadline.empty() && t.by_deadline.begin()->first <= now) {
      const uint64_t seq = t.by_deadline.begin()->second;
      const Lease& l = t.by_seq[seq];
      if (steady < l.server_deadline) naks.emplace_back(ack_prefix + l.ack_tail, "-NAK");
      Forget(t, seq, true);
    }
  }
  return d.AckAll(naks);
}

// Moves due messages of a delayed queue from its delay stage into the queue.
Status Promote(NatsEventBus::Impl& d, const QueueInfo& q) {
  const std::string ack_prefix = d.AckPrefix(d.delayed_stream, q.name);
  RETURN_IF_ERROR(ReleaseExpired(d, q.name, true, ack_prefix));
  ASSIGN_OR_RETURN(std::vector<WireMsg> msgs, d.Pull(d.delayed_stream, q.name, kPromoteBatch, 0));
  if (msgs.empty()) return OkStatus();
  const int64_t now = d.clock->NowMillis();
  std::vector<OutMsg> due;
  std::vector<std::pair<std::string, std::string>> acks;
  std::vector<std::pair<uint64_t, Lease>> held;
  for (WireMsg& raw : msgs) {
    ASSIGN_OR_RETURN(auto dv, ParseDelivery(std::move(raw), ack_prefix));
    if (dv.sent + q.options.retention_ms <= now) {
      acks.emplace_back(dv.ack, "+ACK");
      continue;
    }
    const int64_t due_ms = dv.sent + q.options.delay_ms;
    if (due_ms <= now) {
      const std::string id = HeaderText(dv.msg, "Tandem-Message-Id");
      due.push_back(OutMsg{d.QueueSubject(q.name),
                           dv.msg.data,
                           {{"Nats-Msg-Id", id + "/due"},
                            {"Tandem-Message-Id", id},
                            {"Tandem-Sent-Ms", std::to_string(dv.sent)}}});
      acks.emplace_back(dv.ack, "+ACK");
      continue;
    }
    acks.emplace_back(dv.ack, NakWithDelay(due_ms - now));
    held.emplace_back(dv.at.seq,
                      Lease{dv.at.delivery, dv.tail, due_ms,
                            SteadyClock::now() + std::chrono::milliseconds(due_ms - now), 0});
  }
  // Copies first: a crash before the acks leaves the originals to be
  // promoted again, and Nats-Msg-Id drops the second copy.
  if (!due.empty()) RETURN_IF_ERROR(d.PublishAll(due).status());
  RETURN_IF_ERROR(d.AckAll(acks));
  absl::MutexLock lock(&d.lease_mu);
  LeaseTable& t = d.leases[LeaseKey(q.name, true)];
  for (auto& [seq, lease] : held) Hold(t, seq, std::move(lease));
  return OkStatus();
}

}  // namespace

StatusOr<std::vector<Message>> NatsEventBus::DoReceive(std::string_view queue,
                                                       const ReceiveOptions& options) {
  Impl& d = *impl_;
  ASSIGN_OR_RETURN(QueueInfo q, d.FindQueue(queue));
  const QueueOptions& qo = q.options;
  const int64_t vis = options.visibility_timeout_ms.value_or(qo.visibility_timeout_ms);
  const int64_t ack_wait = AckWaitMsFor(qo.visibility_timeout_ms);
  const std::string ack_prefix = d.AckPrefix(d.queues_stream, q.name);
  const std::string key = LeaseKey(q.name, false);
  const int64_t deadline = d.clock->MonotonicMillis() + options.wait_ms;
  const bool real_clock = d.clock == &Clock::Real();
  while (true) {
    RETURN_IF_ERROR(ReleaseExpired(d, q.name, false, ack_prefix));
    if (qo.delay_ms > 0) RETURN_IF_ERROR(Promote(d, q));
    const int64_t left = deadline - d.clock->MonotonicMillis();
    // On the real clock the server's own timers end visibilities, so an
    // undelayed queue waits in one pull (fewer expiries to race with
    // redeliveries); an injected clock is re-checked every chunk.
    int64_t chunk = 0;
    if (left > 0) {
      chunk = qo.delay_ms > 0 ? std::min(left, Jittered(kDelayedPollChunkMs))
              : real_clock    ? left
                              : std::min(left, Jittered(kPollChunkMs));
    }
    const auto pulled_at = SteadyClock::now();
    ASSIGN_OR_RETURN(std::vector<WireMsg> msgs,
                     d.Pull(d.queues_stream, q.name, options.max_messages, chunk));
    const int64_t now = d.clock->NowMillis();
    std::vector<Message> out;
    std::vector<std::pair<std::string, std::string>> acks;
    std::vector<std::pair<uint64_t, Lease>> held;
    bool dropped = false;
    for (WireMsg& raw : msgs) {
      ASSIGN_OR_RETURN(auto dv, ParseDelivery(std::move(raw), ack_prefix));
      const WireMsg& m = dv.msg;
      if (dv.sent + qo.retention_ms <= now) {  // expired: gone
        acks.emplace_back(dv.ack, "+ACK");
        dropped = true;
        continue;
      }
      const int64_t base = HeaderInt(m, "Tandem-Receive-Count", 0);
      const int64_t count = base + static_cast<int64_t>(dv.at.delivery);
      int64_t first = 0;
      {
        absl::MutexLock lock(&d.lease_mu);
        LeaseTable& t = d.leases[key];
        // An earlier delivery this process made: its lease if the server
        // redelivered before the injected clock ended it (the server counts
        // AckWait from the delivery, the lease from the pull's return),
        // else what it remembered when the lease ended.
        if (auto l = t.by_seq.find(dv.at.seq);
            l != t.by_seq.end() && l->second.delivery < dv.at.delivery) {
          first = l->second.first_received_ms;
        } else if (auto p = t.past.find(dv.at.seq); p != t.past.end()) {
          first = p->second.second;
        }
      }
      if (first == 0) first = HeaderInt(m, "Tandem-First-Received-Ms", 0);
      const std::string id = HeaderText(m, "Tandem-Message-Id");
      if (qo.max_receive_count > 0 && count > qo.max_receive_count) {
        // This receive would exceed maxReceiveCount: to the dead-letter
        // queue (visible at once, keeping count and first receive).
        const std::string& body = m.data;
        RETURN_IF_ERROR(
            d.PublishAll({OutMsg{d.QueueSubject(qo.dead_letter_queue),
                                 body,
                                 {{"Nats-Msg-Id", id + "/dlq/" + qo.dead_letter_queue},
                                  {"Tandem-Message-Id", id},
                                  {"Tandem-Sent-Ms", std::to_string(dv.sent)},
                                  {"Tandem-Receive-Count", std::to_string(count - 1)},
                                  {"Tandem-First-Received-Ms", std::to_string(first)}}}})
                .status());
        acks.emplace_back(dv.ack, "+ACK");
        dropped = true;
        continue;
      }
      if (first == 0) first = now;
      auto j = ParseJson(m.data);
      if (!j.ok()) return DataLossError("message " + dv.tail + " is not valid JSON");
      Message msg;
      msg.message_id = id;
      msg.receipt_handle = dv.tail;
      msg.receive_count = static_cast<int>(count);
      msg.first_received_ms = first;
      msg.sent_ms = dv.sent;
      ASSIGN_OR_RETURN(msg.event, Event::FromJson(*j));
      out.push_back(std::move(msg));
      // The server redelivers after AckWait unless told otherwise.
      if (vis != ack_wait) acks.emplace_back(dv.ack, NakWithDelay(vis));
      held.emplace_back(dv.at.seq, Lease{dv.at.delivery, dv.tail, now + vis,
                                         pulled_at + std::chrono::milliseconds(vis), first});
    }
    {
      absl::MutexLock lock(&d.lease_mu);
      LeaseTable& t = d.leases[key];
      for (auto& [seq, lease] : held) Hold(t, seq, std::move(lease));
    }
    RETURN_IF_ERROR(d.AckAll(acks));
    if (!out.empty()) return out;
    if (dropped) continue;
    if (d.clock->MonotonicMillis() >= deadline) return std::vector<Message>{};
    // A pull refused at once (other waiting pulls claim the pending
    // messages) is retried after a breath.
    if (SteadyClock::now() - pulled_at < std::chrono::milliseconds(1)) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
}

Status NatsEventBus::DoDeleteMessage(std::string_view queue, std::string_view receipt_handle) {
  Impl& d = *impl_;
  ASSIGN_OR_RETURN(QueueInfo q, d.FindQueue(queue));
  auto at = ParseAckTail(receipt_handle);
  if (!at) return MalformedReceipt(receipt_handle);
  const std::string key = LeaseKey(q.name, false);
  {
    absl::MutexLock lock(&d.lease_mu);
    LeaseTable& t = d.leases[key];
    auto it = t.by_seq.find(at->seq);
    // Received again since (by this process): the receipt is stale and
    // deletes nothing (SQS semantics).
    if (it != t.by_seq.end() && it->second.delivery != at->delivery) return OkStatus();
  }
  // Not waited for: a lost ack only means a redelivery (at-least-once);
  // GetQueue, ChangeVisibility, Maintain and closing the bus wait for the
  // acks sent before them.
  const std::string prefix = d.AckPrefix(d.queues_stream, q.name);
  RETURN_IF_ERROR(d.AckLater(prefix, prefix + std::string(receipt_handle)));
  absl::MutexLock lock(&d.lease_mu);
  LeaseTable& t = d.leases[key];
  auto it = t.by_seq.find(at->seq);
  if (it != t.by_seq.end() && it->second.delivery == at->delivery) Forget(t, at->seq, true);
  return OkStatus();
}

Status NatsEventBus::DoChangeVisibility(std::string_view queue, std::string_view receipt_handle,
                                        int64_t timeout_ms) {
  Impl& d = *impl_;
  ASSIGN_OR_RETURN(QueueInfo q, d.FindQueue(queue));
  auto at = ParseAckTail(receipt_handle);
  if (!at) return MalformedReceipt(receipt_handle);
  RETURN_IF_ERROR(d.Confirm());
  const std::string key = LeaseKey(q.name, false);
  const int64_t now = d.clock->NowMillis();
  auto not_in_flight = [&] {
    return FailedPreconditionError("message of receipt '" + std::string(receipt_handle) +
                                   "' is not in flight in queue '" + q.name +
                                   "' (stale receipt, deleted, or visibility expired)");
  };
  {
    absl::MutexLock lock(&d.lease_mu);
    LeaseTable& t = d.leases[key];
    auto it = t.by_seq.find(at->seq);
    if (it != t.by_seq.end()) {
      if (it->second.delivery != at->delivery || it->second.deadline_ms <= now) {
        return not_in_flight();
      }
    } else if (auto p = t.past.find(at->seq);
               p != t.past.end() && p->second.first >= at->delivery) {
      return not_in_flight();  // deleted, released or expired here
    }
    // Otherwise another process received it: the server decides.
  }
  const int64_t ack_wait = AckWaitMsFor(q.options.visibility_timeout_ms);
  const std::string body = timeout_ms == ack_wait ? "+WPI" : NakWithDelay(timeout_ms);
  RETURN_IF_ERROR(
      d.AckAll({{d.AckPrefix(d.queues_stream, q.name) + std::string(receipt_handle), body}}));
  absl::MutexLock lock(&d.lease_mu);
  LeaseTable& t = d.leases[key];
  auto it = t.by_seq.find(at->seq);
  if (it != t.by_seq.end() && it->second.delivery == at->delivery) {
    Lease l = it->second;
    l.deadline_ms = now + timeout_ms;
    l.server_deadline = SteadyClock::now() + std::chrono::milliseconds(timeout_ms);
    if (timeout_ms == 0) {
      Forget(t, at->seq, true);
    } else {
      Hold(t, at->seq, std::move(l));
    }
  }
  return OkStatus();
}

namespace {

struct Head {
  int64_t expired = 0;          // expired messages at the head
  int64_t first_live_sent = 0;  // sent time of the first unexpired one (0: none)
  std::vector<uint64_t> expired_seqs;
};

// Walks the queue's messages on `subject` from stream sequence `from` while
// they are expired (by their sent time and the queue's retention).
StatusOr<Head> ScanHead(NatsEventBus::Impl& d, const std::string& stream,
                        const std::string& subject, uint64_t from, int64_t retention_ms) {
  Head h;
  const int64_t now = d.clock->NowMillis();
  for (int i = 0; i < kHeadScanCap; ++i) {
    jsDirectGetMsgOptions o;
    jsDirectGetMsgOptions_Init(&o);
    o.Sequence = from;
    o.NextBySubject = subject.c_str();
    natsMsg* raw = nullptr;
    natsStatus s = js_DirectGetMsg(&raw, d.js, stream.c_str(), nullptr, &o);
    if (s == NATS_NOT_FOUND) return h;
    if (s != NATS_OK) return NatsError(s, "read the head of " + subject);
    MsgPtr m(raw);
    const int64_t sent = HeaderInt(raw, "Tandem-Sent-Ms", 0);
    const uint64_t seq = natsMsg_GetSequence(raw);
    if (sent + retention_ms > now) {
      h.first_live_sent = sent;
      return h;
    }
    ++h.expired;
    h.expired_seqs.push_back(seq);
    from = seq + 1;
  }
  return h;
}

}  // namespace

StatusOr<QueueInfo> NatsEventBus::DoGetQueue(std::string_view name) {
  Impl& d = *impl_;
  ASSIGN_OR_RETURN(QueueInfo info, d.FindQueue(name));
  RETURN_IF_ERROR(d.Confirm());
  const QueueOptions& qo = info.options;
  jsConsumerInfo* ci = nullptr;
  jsErrCode jerr = static_cast<jsErrCode>(0);
  natsStatus s =
      js_GetConsumerInfo(&ci, d.js, d.queues_stream.c_str(), info.name.c_str(), nullptr, &jerr);
  if (s != NATS_OK) return NatsError(s, "consumer info of queue '" + info.name + "'", jerr);
  const int64_t pending = static_cast<int64_t>(ci->NumPending);
  info.in_flight = ci->NumAckPending;
  const uint64_t delivered = ci->Delivered.Stream;
  jsConsumerInfo_Destroy(ci);
  // Never delivered: receivable unless expired (expired ones sit at the head).
  ASSIGN_OR_RETURN(Head h, ScanHead(d, d.queues_stream, d.QueueSubject(info.name), delivered + 1,
                                    qo.retention_ms));
  info.visible = std::max<int64_t>(0, pending - h.expired);
  if (info.visible > 0 && h.first_live_sent > 0) {
    info.oldest_visible_ms = h.first_live_sent + qo.delay_ms;
  }
  if (qo.delay_ms > 0) {
    s = js_GetConsumerInfo(&ci, d.js, d.delayed_stream.c_str(), info.name.c_str(), nullptr, &jerr);
    if (s != NATS_OK) return NatsError(s, "consumer info of queue '" + info.name + "'", jerr);
    info.delayed = static_cast<int64_t>(ci->NumPending) + ci->NumAckPending;
    jsConsumerInfo_Destroy(ci);
  }
  return info;
}

Status NatsEventBus::DoMaintain() {
  Impl& d = *impl_;
  RETURN_IF_ERROR(d.Confirm());
  auto cat = d.Catalog();
  for (const auto& [name, q] : cat->queues) {
    for (const auto& [stream, subject] :
         {std::make_pair(d.queues_stream, d.QueueSubject(name)),
          std::make_pair(d.delayed_stream, d.DelayedSubject(name))}) {
      ASSIGN_OR_RETURN(Head h, ScanHead(d, stream, subject, 1, q.options.retention_ms));
      // Deleted one by one (a consumer skips deleted messages).
      for (uint64_t seq : h.expired_seqs) {
        jsErrCode jerr = static_cast<jsErrCode>(0);
        natsStatus s = js_DeleteMsg(d.js, stream.c_str(), seq, nullptr, &jerr);
        if (s != NATS_OK && s != NATS_NOT_FOUND) {
          return NatsError(s, "delete an expired message of '" + name + "'", jerr);
        }
      }
    }
  }
  return OkStatus();
}

}  // namespace tandem::bus
