// Internals of http::Server (http_session.h only): the timer that holds a
// request body to its pace (BodyPace, ClientLimits) while the body is read.
// It is armed once per window (20 s by default), not per read, and only for
// a body that did not arrive with its header, so keep-alive requests with
// small bodies never touch it. Boost.Asio is included here, so no public
// header may include this.
//
// Thread-safety: one connection's, on its strand.
#pragma once

#include <algorithm>
#include <boost/asio.hpp>
#include <chrono>
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <utility>

#include "common/clock.h"
#include "common/http_body_pace.h"
#include "common/http_server.h"
#include "common/http_stream.h"
#include "common/status.h"

namespace tandem::http::detail {

class BodyWatch {
 public:
  // Watches the body of the request being read by `owner` (a Session:
  // executor(), int64_t BodyBytes() — the body bytes received so far — and
  // BodyLate(Status), called on the strand once the body falls behind or
  // `deadline_us` passes, after which the watch is over).
  template <typename Owner>
  void Start(const std::shared_ptr<Owner>& owner, const ClientLimits& limits, int64_t deadline_us) {
    if (!timer_) timer_.emplace(owner->executor());
    pace_ = BodyPace(limits.min_body_bytes_per_s, limits.body_window_ms);
    pace_.Start(Clock::Real().MonotonicMicros(), owner->BodyBytes(), deadline_us);
    active_ = true;
    ++seq_;
    Arm(owner);
  }

  // The body is complete (or failed): no more checks. Idempotent.
  void Stop() {
    if (!active_) return;
    active_ = false;
    timer_->cancel();
  }

 private:
  using Timer = asio::basic_waitable_timer<std::chrono::steady_clock,
                                           asio::wait_traits<std::chrono::steady_clock>, Executor>;

  template <typename Owner>
  void Arm(const std::shared_ptr<Owner>& owner) {
    const int64_t next = pace_.next_check_us();
    if (next == std::numeric_limits<int64_t>::max()) return;  // nothing can come due
    const int64_t wait = std::max<int64_t>(next - Clock::Real().MonotonicMicros(), 0);
    timer_->expires_after(std::chrono::microseconds(wait));
    // `this` lives in the owner, which the handler keeps alive.
    timer_->async_wait([this, owner, seq = seq_](const boost::system::error_code& ec) {
      // A stale wait (cancelled, or of an earlier body) does nothing.
      if (ec || !active_ || seq != seq_) return;
      Status s = pace_.Check(Clock::Real().MonotonicMicros(), owner->BodyBytes());
      if (s.ok()) return Arm(owner);
      active_ = false;
      owner->BodyLate(std::move(s));
    });
  }

  std::optional<Timer> timer_;  // made at the first body that needs it
  BodyPace pace_{0, 0};
  bool active_ = false;
  uint64_t seq_ = 0;  // which body the pending wait is for
};

}  // namespace tandem::http::detail
