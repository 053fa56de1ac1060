// NATS event bus: the hot paths on a pooled direct connection
// (nats_direct.h). Each operation writes all its requests in one send() and
// reads the replies on the calling thread; replies are matched by the
// "<inbox>.<n>" they come back on, so a late reply to an earlier operation
// on the same connection is skipped. A connection is given back to the pool
// only when its operation completed; after an error or a pull the server
// never ended it is closed (the server then forgets requests that were
// meant for it, and what it delivered there is redelivered after AckWait).
#include <string>
#include <vector>

#include "glue/bus/nats_bus_internal.h"

namespace tandem::bus {
namespace {

// The <n> of "<inbox>.<n>", or -1.
int64_t ReplyIndex(const std::string& subject, const std::string& prefix) {
  if (subject.size() <= prefix.size() || subject.compare(0, prefix.size(), prefix) != 0) {
    return -1;
  }
  int64_t v = 0;
  for (size_t i = prefix.size(); i < subject.size(); ++i) {
    const char c = subject[i];
    if (c < '0' || c > '9' || v > (int64_t{1} << 56)) return -1;
    v = v * 10 + (c - '0');
  }
  return v;
}

}  // namespace

StatusOr<std::vector<PubAck>> NatsEventBus::Impl::DirectPublishAll(
    const std::vector<OutMsg>& msgs) {
  ASSIGN_OR_RETURN(std::unique_ptr<DirectConn> c, TakeConn());
  const std::string first = c->NextReply();
  const int64_t base = ReplyIndex(first, c->inbox_prefix());
  c->Pub(msgs[0].subject, first, msgs[0].headers, msgs[0].payload);
  for (size_t i = 1; i < msgs.size(); ++i) {
    c->Pub(msgs[i].subject, c->NextReply(), msgs[i].headers, msgs[i].payload);
  }
  RETURN_IF_ERROR(c->Flush());
  std::vector<PubAck> out(msgs.size());
  std::vector<bool> got(msgs.size(), false);
  size_t have = 0;
  while (have < msgs.size()) {
    ASSIGN_OR_RETURN(WireMsg m, c->Next(kReplyTimeoutMs));
    const int64_t idx = ReplyIndex(m.subject, c->inbox_prefix());
    if (idx < base || idx >= base + static_cast<int64_t>(msgs.size())) continue;  // stale
    const size_t i = static_cast<size_t>(idx - base);
    if (got[i]) continue;
    got[i] = true;
    ++have;
    RETURN_IF_ERROR(ReadPubAck(m.status, m.data, msgs[i].subject, &out[i]));
  }
  GiveBack(std::move(c));
  return out;
}

Status NatsEventBus::Impl::DirectAckAll(
    const std::vector<std::pair<std::string, std::string>>& acks) {
  ASSIGN_OR_RETURN(std::unique_ptr<DirectConn> c, TakeConn());
  const std::string first = c->NextReply();
  const int64_t base = ReplyIndex(first, c->inbox_prefix());
  static const std::vector<std::pair<std::string, std::string>> kNoHeaders;
  c->Pub(acks[0].first, first, kNoHeaders, acks[0].second);
  for (size_t i = 1; i < acks.size(); ++i) {
    c->Pub(acks[i].first, c->NextReply(), kNoHeaders, acks[i].second);
  }
  RETURN_IF_ERROR(c->Flush());
  std::vector<bool> got(acks.size(), false);
  size_t have = 0;
  Status gone = OkStatus();
  while (have < acks.size()) {
    ASSIGN_OR_RETURN(WireMsg m, c->Next(kReplyTimeoutMs));
    const int64_t idx = ReplyIndex(m.subject, c->inbox_prefix());
    if (idx < base || idx >= base + static_cast<int64_t>(acks.size())) continue;
    const size_t i = static_cast<size_t>(idx - base);
    if (got[i]) continue;
    got[i] = true;
    ++have;
    if (m.status == "503" && gone.ok()) {
      gone = NotFoundError("nats: nobody takes acknowledgements on " + acks[i].first +
                           " (consumer deleted?)");
    }
  }
  GiveBack(std::move(c));
  return gone;
}

StatusOr<std::vector<WireMsg>> NatsEventBus::Impl::DirectPull(const std::string& stream,
                                                              const std::string& consumer,
                                                              int batch, int64_t expires_ms) {
  ASSIGN_OR_RETURN(std::unique_ptr<DirectConn> c, TakeConn());
  const std::string reply = c->NextReply();
  // no_wait: answered at once when nothing is pending; with expires the
  // request is a one-shot that ends as soon as it delivered anything.
  std::string body = "{\"batch\":" + std::to_string(batch) + ",\"no_wait\":true";
  if (expires_ms > 0) body += ",\"expires\":" + std::to_string(expires_ms * kNsPerMs);
  body += "}";
  static const std::vector<std::pair<std::string, std::string>> kNoHeaders;
  c->Pub("$JS.API.CONSUMER.MSG.NEXT." + stream + "." + consumer, reply, kNoHeaders, body);
  RETURN_IF_ERROR(c->Flush());
  std::vector<WireMsg> out;
  const int64_t wait = PullGiveUpMs(expires_ms);
  while (static_cast<int>(out.size()) < batch) {
    StatusOr<WireMsg> m = c->Next(wait);
    if (!m.ok()) {
      // The request's end never came (or the connection failed after some
      // deliveries): close this connection and return what we have.
      if (!out.empty() || m.status().code() == StatusCode::kDeadlineExceeded) return out;
      return m.status();
    }
    // JetStream delivers under the message's own subject; a connection is
    // reused only after its pull ended, so every message is this pull's.
    if (m->status.empty()) {
      out.push_back(std::move(*m));
      continue;
    }
    if (m->subject != reply) continue;  // an earlier request's end
    ASSIGN_OR_RETURN(bool ended, PullEnded(m->status, m->description, consumer));
    if (ended) break;
  }
  GiveBack(std::move(c));
  return out;
}

}  // namespace tandem::bus
