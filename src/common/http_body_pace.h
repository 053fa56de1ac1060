// The pace a request body must keep (http::ClientLimits), as plain
// arithmetic on times and byte counts so it is tested without a clock or a
// socket. The HTTP server checks it only while a body is being read, once
// per window (common/http_session.h): a body that arrives with its header
// never meets it.
//
// The rule (Apache mod_reqtimeout's `body=20,MinRate=500`, nginx's
// client_body_timeout, measured in windows so that a fast start earns no
// credit for a later stall): from the end of the header the body is cut into
// consecutive windows of `window_ms`; each must bring at least
// `min_bytes_per_s` × window bytes (or the rest of the body, which ends the
// watch). The whole request must also be in by its deadline (read_timeout_ms).
//
// Thread-safety: none (one connection's).
#pragma once

#include <cstdint>

#include "common/status.h"

namespace tandem::http {

class BodyPace {
 public:
  // min_bytes_per_s <= 0 or window_ms <= 0: no minimum rate, only the deadline.
  BodyPace(int64_t min_bytes_per_s, int64_t window_ms);

  // The body begins at `now_us` (monotonic) with `received` bytes already
  // here; the request must be complete by `deadline_us`.
  void Start(int64_t now_us, int64_t received, int64_t deadline_us);
  // When Check() is due: the end of the current window, or the deadline if
  // sooner.
  int64_t next_check_us() const;
  // At or after next_check_us(), with `received` body bytes in all: OK (a
  // new window begins at `now_us` if the current one ended), or
  // DeadlineExceeded saying what was too slow.
  Status Check(int64_t now_us, int64_t received);

  // The bytes each full window must bring (0: no minimum rate).
  int64_t quota() const { return quota_; }

 private:
  int64_t min_bytes_per_s_;
  int64_t window_us_;
  int64_t quota_;
  int64_t window_start_us_ = 0;
  int64_t window_start_bytes_ = 0;
  int64_t deadline_us_ = 0;
  int64_t body_start_us_ = 0;
};

}  // namespace tandem::http
