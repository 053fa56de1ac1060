// Internal to the NATS event bus: a minimal NATS protocol connection driven
// by the calling thread itself, for the bus's hot paths (JetStream
// publishes, acks with a reply, pull requests).
//
// Why: with libnats every reply goes socket -> the library's reader thread ->
// the subscription's queue -> a condition variable -> the waiting caller, two
// thread hand-offs (and lock contention with the reader) per round trip;
// profiles of bench/nats showed ~17 context switches per event, most of them
// those hand-offs. A DirectConn is used by one operation at a time (taken
// from a pool): the operation writes all its requests in one send() and then
// reads the replies itself with recv(), so a round trip costs the caller one
// sleep and one wake-up.
//
// It speaks the client protocol subset the bus needs: CONNECT (headers,
// no_responders), SUB on a private inbox "<inbox>.*", PUB/HPUB, and reading
// MSG/HMSG (status lines such as "NATS/1.0 404 No Messages" included),
// answering the server's PINGs. No TLS and no credentials: a server that
// requires either makes Dial fail with Unimplemented and the bus uses
// libnats for these paths too. A connection that fails is dropped, never
// reused.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"

namespace tandem::bus {

// A message read from the server (or converted from a libnats message).
struct WireMsg {
  std::string subject;
  std::string reply;
  std::string status;       // "404", "408", "100", "503"...; "" for a user message
  std::string description;  // of a status message
  std::vector<std::pair<std::string, std::string>> headers;
  std::string data;

  // The first value of header `key` (case-sensitive, as NATS), or nullptr.
  const std::string* Header(std::string_view key) const;
};

class DirectConn {
 public:
  // Connects to host:port and completes the handshake (INFO, CONNECT, PING
  // -> PONG) and subscribes to a fresh inbox. `timeout_ms` bounds the
  // connect, the handshake and each later write. Unimplemented when the
  // server wants TLS or credentials.
  static StatusOr<std::unique_ptr<DirectConn>> Dial(const std::string& host, int port,
                                                    int64_t timeout_ms);
  ~DirectConn();
  DirectConn(const DirectConn&) = delete;
  DirectConn& operator=(const DirectConn&) = delete;

  // "<inbox>." — replies are requested on "<inbox>.<n>".
  const std::string& inbox_prefix() const { return inbox_prefix_; }
  // A fresh reply subject on the inbox.
  std::string NextReply() { return inbox_prefix_ + std::to_string(next_++); }

  // Appends a PUB (no headers) or HPUB to the outgoing buffer.
  void Pub(std::string_view subject, std::string_view reply,
           const std::vector<std::pair<std::string, std::string>>& headers,
           std::string_view payload);
  // Writes the outgoing buffer.
  Status Flush();
  // The next MSG/HMSG on the inbox, waiting up to `timeout_ms`
  // (DeadlineExceeded when none came; the connection stays usable).
  StatusOr<WireMsg> Next(int64_t timeout_ms);

  // False once an I/O or protocol error happened (the pool drops it).
  bool healthy() const { return healthy_; }
  std::chrono::steady_clock::time_point last_used() const { return last_used_; }

 private:
  DirectConn() = default;
  Status Fail(Status s);
  // Reads more bytes into in_ (waiting up to until); false on timeout.
  StatusOr<bool> Fill(std::chrono::steady_clock::time_point until);
  // Reads one "\r\n"-terminated line (without it).
  StatusOr<bool> ReadLine(std::string* line, std::chrono::steady_clock::time_point until);
  StatusOr<bool> ReadBytes(size_t n, std::string* out, std::chrono::steady_clock::time_point until);

  int fd_ = -1;
  bool healthy_ = true;
  std::string inbox_prefix_;
  uint64_t next_ = 0;
  std::string out_;
  std::string in_;
  size_t in_pos_ = 0;
  std::chrono::steady_clock::time_point last_used_{};
};

}  // namespace tandem::bus
