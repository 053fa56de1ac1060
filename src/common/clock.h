// Injectable time. Everything that reads the time, sleeps, or schedules takes
// a Clock& so tests can drive time with FakeClock instead of sleeping.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "absl/synchronization/mutex.h"

namespace tandem {

class Clock {
 public:
  virtual ~Clock() = default;
  // Microseconds since the Unix epoch (wall time), for timestamps. It may
  // jump (NTP, the administrator): never measure durations with it. Thread-safe.
  virtual int64_t NowMicros() const = 0;
  // Microseconds on a monotonic clock (arbitrary origin, never goes back,
  // unaffected by wall-time changes): for every deadline, timeout and elapsed
  // time. Thread-safe.
  virtual int64_t MonotonicMicros() const = 0;
  // Blocks the caller for `micros` of this clock's time. Thread-safe.
  virtual void SleepMicros(int64_t micros) = 0;

  int64_t NowMillis() const { return NowMicros() / 1000; }
  int64_t MonotonicMillis() const { return MonotonicMicros() / 1000; }

  // The process-wide real clock (stateless; never deleted).
  static Clock& Real();
};

// Time from the system: CLOCK_REALTIME and CLOCK_MONOTONIC.
class RealClock final : public Clock {
 public:
  int64_t NowMicros() const override;
  int64_t MonotonicMicros() const override;
  void SleepMicros(int64_t micros) override;
};

// Time that only moves when a test advances it (wall and monotonic time move
// together). SleepMicros blocks until another thread advances the clock past
// the deadline. Thread-safe.
class FakeClock final : public Clock {
 public:
  explicit FakeClock(int64_t start_micros = 1'700'000'000'000'000) : now_(start_micros) {}
  int64_t NowMicros() const override;
  // Starts at kMonotonicStart, whatever the wall time.
  int64_t MonotonicMicros() const override;
  static constexpr int64_t kMonotonicStart = 1'000'000'000;
  void SleepMicros(int64_t micros) override;
  void Advance(int64_t micros);
  void AdvanceSeconds(double s) { Advance(static_cast<int64_t>(s * 1e6)); }
  // Number of threads currently blocked in SleepMicros.
  int sleepers() const;

 private:
  mutable absl::Mutex mu_;
  absl::CondVar cv_;
  int64_t now_ ABSL_GUARDED_BY(mu_);
  int64_t monotonic_ ABSL_GUARDED_BY(mu_) = kMonotonicStart;
  int sleepers_ ABSL_GUARDED_BY(mu_) = 0;
};

// A moment on a clock's monotonic time, for code that waits until then in
// bounded slices (poll(), condition variables) and re-checks in between, so a
// FakeClock drives the deadline just as the real clock does. Copyable; the
// clock must outlive it.
class Deadline {
 public:
  // `timeout_micros` from now.
  static Deadline In(Clock& clock, int64_t timeout_micros) {
    return Deadline(clock, clock.MonotonicMicros() + timeout_micros);
  }
  static Deadline InMillis(Clock& clock, int64_t timeout_ms) {
    return In(clock, timeout_ms * 1000);
  }

  // <= 0 once the deadline has passed.
  int64_t RemainingMicros() const { return at_ - clock_->MonotonicMicros(); }
  bool Expired() const { return RemainingMicros() <= 0; }
  // What is left in ms (rounded up, >= 0) but at most `cap_ms`: how long one
  // wait may block before the caller checks Expired() again.
  int SliceMillis(int64_t cap_ms) const;

 private:
  Deadline(Clock& clock, int64_t at) : clock_(&clock), at_(at) {}
  Clock* clock_;
  int64_t at_;
};

// RFC 3339 UTC with seconds precision, as EventBridge writes `time`:
// "2026-11-30T05:49:03Z".
std::string FormatRfc3339(int64_t micros);
// RFC 3339 with milliseconds: "2026-11-30T05:49:03.123Z".
std::string FormatRfc3339Millis(int64_t micros);

}  // namespace tandem
